"""Breaks ``time-budget``: asks a remote service on every write, with no timeout."""

from __future__ import annotations

import time

import wfsdk
from wfsdk.values import WriteIntent


@wfsdk.hookimpl
def before_write(intent: WriteIntent) -> None:
    time.sleep(3.0)  # stands in for a slow HTTP call
