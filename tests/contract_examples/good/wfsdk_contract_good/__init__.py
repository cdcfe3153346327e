"""An audit log and a row limit: a small policy plugin that keeps every rule of the contract.

Settings: ``WFSDK_GOOD_MAX_ROWS`` (default 100) — writes that change more rows are denied.
"""

from __future__ import annotations

import os

import wfsdk
from wfsdk.journal import Journal
from wfsdk.values import ChangeRecord, ErrorEvent, ReadEvent, Vote, WriteIntent

STREAM = "good-audit"


def _max_rows() -> int:
    # Read when voting, not at import: importing must not depend on the environment.
    return int(os.environ.get("WFSDK_GOOD_MAX_ROWS", "100"))


@wfsdk.hookimpl
def on_read(event: ReadEvent, journal: Journal) -> None:
    journal.append(
        STREAM,
        {
            "kind": "read",
            "caller": event.caller,
            "tables": sorted(event.tables),
            "rows": event.row_count,
        },
    )


@wfsdk.hookimpl
def before_write(intent: WriteIntent) -> Vote | None:
    limit = _max_rows()
    if len(intent.rows) > limit:
        return Vote.deny(f"changes {len(intent.rows)} rows, more than {limit}", voter="row-limit")
    return None


@wfsdk.hookimpl
def after_write(change: ChangeRecord, journal: Journal) -> None:
    # Counts and names only: row images can be large, and they are the backup's business.
    journal.append(
        STREAM,
        {
            "kind": "change",
            "change": change.change_id,
            "table": change.table,
            "operation": str(change.operation),
            "rows": len(change.rows),
            "actor": change.actor,
        },
    )


@wfsdk.hookimpl
def on_error(error: ErrorEvent, journal: Journal) -> None:
    journal.append(STREAM, {"kind": "error", "type": error.error_type, "phase": error.phase})
