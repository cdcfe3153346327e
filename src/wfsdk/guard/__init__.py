"""The guard: every statement is classified before it may reach the database.

Fail-closed: exactly one statement, parsed completely by sqlglot for the
engine's dialect, of an allowed kind, with nothing forbidden anywhere inside.
See ``docs/guard.md`` for the rules and the reasons behind them.
"""

from wfsdk.guard._classify import SIDE_EFFECT_FUNCTIONS, SIDE_EFFECT_PREFIXES, Guard
from wfsdk.guard._model import (
    NEW_VALUE_PREFIX,
    CacheStats,
    Classification,
    StatementKind,
    WriteShape,
)
from wfsdk.guard._params import bind_parameters, text_sql

__all__ = [
    "NEW_VALUE_PREFIX",
    "SIDE_EFFECT_FUNCTIONS",
    "SIDE_EFFECT_PREFIXES",
    "CacheStats",
    "Classification",
    "Guard",
    "StatementKind",
    "WriteShape",
    "bind_parameters",
    "text_sql",
]
