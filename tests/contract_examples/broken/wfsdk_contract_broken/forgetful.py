"""Breaks ``matches-spec``: one hook lacks its decorator, so the kernel never calls it."""

from __future__ import annotations

import wfsdk
from wfsdk.values import ChangeRecord, ReadEvent


@wfsdk.hookimpl
def on_read(event: ReadEvent) -> None:
    return None


def after_write(change: ChangeRecord) -> None:
    return None
