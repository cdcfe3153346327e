"""Fixed arguments for timing hooks: the smallest, a typical and a large one per hook.

The time budget is checked on these rather than on drawn examples, so that a
slow hook costs the budget a few times, not once per shrinking step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from wfsdk.testing.strategies import HUGE_ROW_COUNT
from wfsdk.values import (
    ChangeRecord,
    Difference,
    ErrorEvent,
    MismatchReport,
    Operation,
    ReadEvent,
    Receipt,
    RowChange,
    Vote,
    WriteIntent,
)

_STATUS = "UPDATE post_workflow_stage SET status = :status WHERE id = :id"
_NOW = dt.datetime(2026, 3, 1, 9, 30)


def _row(index: int) -> RowChange:
    before = {
        "id": index,
        "post_id": 1,
        "stage_id": 2,
        "status": "in_progress",
        "started_at": _NOW,
        "completed_at": None,
    }
    return RowChange(key={"id": index}, before=before, after={**before, "status": "réview ✓"})


def _intent(rows: tuple[RowChange, ...], change_id: str = "contract-typical") -> WriteIntent:
    return WriteIntent(
        change_id=change_id,
        caller="host",
        actor="editor@example.org",
        reason="draft ready",
        table="post_workflow_stage",
        operation=Operation.UPDATE,
        statement=_STATUS,
        parameters={"status": "review", "id": 2, "password": "***"},
        rows=rows,
    )


def _change(rows: tuple[RowChange, ...]) -> ChangeRecord:
    return ChangeRecord(
        change_id="contract-typical",
        caller="host",
        actor="editor@example.org",
        reason="draft ready",
        table="post_workflow_stage",
        operation=Operation.UPDATE,
        statement=_STATUS,
        rows=rows,
        votes=(Vote.allow("approved", voter="approval"),),
        receipts=(Receipt("backup", "backup", "contract-typical"),),
        committed_at=_NOW.isoformat(),
    )


_EMPTY_INTENT = WriteIntent(
    change_id="",
    caller="",
    actor="",
    reason="",
    table="",
    operation=Operation.DELETE,
    statement="",
)
_ONE = (_row(2),)
_MANY = tuple(_row(i) for i in range(HUGE_ROW_COUNT))
_ERROR = ErrorEvent(
    error_type="DatabaseError",
    message="the database refused or failed during write: deadlock detected",
    phase="write",
    caller="host",
    statement=_STATUS,
    parameters={"status": "review", "id": 2},
    transaction_state="rolled back",
    traceback="Traceback (most recent call last):\n  ...\n" * 50,
    change_id="contract-typical",
)
_REPORT = MismatchReport(
    contract="docs/database/schema.md",
    differences=tuple(
        Difference(f"table_{i}", "type", "status", "VARCHAR(50)", "TEXT") for i in range(200)
    ),
    text="post_workflow_stage.status: want VARCHAR(50), have TEXT\n" * 200,
)

#: hook → (label, keyword arguments without the journal), smallest first.
SAMPLES: Mapping[str, tuple[tuple[str, Mapping[str, Any]], ...]] = {
    "on_read": (
        ("an empty read", {"event": ReadEvent("", "", frozenset(), 0, 0.0)}),
        (
            "a typical read",
            {
                "event": ReadEvent(
                    "host",
                    "SELECT id, status FROM post_workflow_stage WHERE post_id = :p",
                    frozenset({"post_workflow_stage"}),
                    3,
                    0.002,
                    "postgresql",
                )
            },
        ),
    ),
    "before_write": (
        ("a write of no rows", {"intent": _EMPTY_INTENT}),
        ("a typical one-row update", {"intent": _intent(_ONE)}),
        (f"an update of {HUGE_ROW_COUNT} rows", {"intent": _intent(_MANY, "contract-large")}),
    ),
    "before_commit": (
        ("a typical one-row update", {"intent": _intent(_ONE)}),
        (f"an update of {HUGE_ROW_COUNT} rows", {"intent": _intent(_MANY, "contract-large")}),
    ),
    "after_write": (
        ("a typical one-row update", {"change": _change(_ONE)}),
        (f"an update of {HUGE_ROW_COUNT} rows", {"change": _change(_MANY)}),
    ),
    "after_rollback": (
        (
            "a typical rolled-back update",
            {"intent": _intent(_ONE), "reason": "verification failed"},
        ),
    ),
    "on_schema_mismatch": (("a report of 200 differences", {"report": _REPORT}),),
    "on_error": (("a database error", {"error": _ERROR}),),
}
