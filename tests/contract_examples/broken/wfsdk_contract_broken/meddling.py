"""Breaks ``hooks-leave-the-database-alone``: marks the post as "being edited" on its own."""

from __future__ import annotations

import os
import sqlite3

import wfsdk
from wfsdk.values import WriteIntent


@wfsdk.hookimpl
def before_write(intent: WriteIntent) -> None:
    dsn = os.environ.get("WFSDK_DSN", "")
    if not dsn.startswith("sqlite:///"):
        return
    with sqlite3.connect(dsn.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE post SET updated_at = CURRENT_TIMESTAMP WHERE id = 1")
    conn.close()
