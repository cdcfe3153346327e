"""Breaks ``before-write-votes``: answers with a word instead of a Vote."""

from __future__ import annotations

import wfsdk
from wfsdk.values import WriteIntent


@wfsdk.hookimpl
def before_write(intent: WriteIntent) -> str:
    return "allow"
