"""Breaks ``no-secret-leaks``: records which credentials the database was reached with."""

from __future__ import annotations

import os
import urllib.parse

import wfsdk
from wfsdk.journal import Journal
from wfsdk.values import ChangeRecord


def _password() -> str | None:
    dsn = urllib.parse.urlsplit(os.environ.get("WFSDK_DSN", ""))
    return dsn.password or os.environ.get("PGPASSWORD")


@wfsdk.hookimpl
def after_write(change: ChangeRecord, journal: Journal) -> None:
    journal.append("leaky-audit", {"change": change.change_id, "password": _password()})
