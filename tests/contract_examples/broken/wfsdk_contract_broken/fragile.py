"""Breaks ``observers-accept-every-event``: assumes ASCII statements and text-only rows."""

from __future__ import annotations

import wfsdk
from wfsdk.values import ChangeRecord, ReadEvent

SIZES: list[int] = []


@wfsdk.hookimpl
def on_read(event: ReadEvent) -> None:
    SIZES.append(len(event.statement.encode("ascii")))


@wfsdk.hookimpl
def after_write(change: ChangeRecord) -> None:
    SIZES.append(sum(len(value) for row in change.rows for value in (row.after or {}).values()))
