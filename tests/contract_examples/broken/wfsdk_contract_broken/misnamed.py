"""Breaks ``matches-spec``: asks for an argument no hook has."""

from __future__ import annotations

import wfsdk
from wfsdk.values import Vote, WriteIntent


@wfsdk.hookimpl
def before_write(intent: WriteIntent, session: object) -> Vote | None:
    return None
