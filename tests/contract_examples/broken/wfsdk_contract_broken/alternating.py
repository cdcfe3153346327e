"""Breaks ``before-write-deterministic``: a reviewer that approves every other write."""

from __future__ import annotations

import itertools

import wfsdk
from wfsdk.values import Vote, WriteIntent

_turns = itertools.cycle((True, False))


@wfsdk.hookimpl
def before_write(intent: WriteIntent) -> Vote:
    if next(_turns):
        return Vote.allow("my turn to approve")
    return Vote.deny("waiting for the other reviewer")
