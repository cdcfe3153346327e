"""Built-in module ``core``: workflow stages and their sub-stages.

Owns ``workflow_stage_entity`` and ``workflow_sub_stage_entity``, both
read-only for the modular system (integration guide, core tables 1 and 2).
"""

from __future__ import annotations

from wfsdk import hookimpl
from wfsdk.values import Declaration, OwnedTable

NAME = "core"
TABLES = ("workflow_stage_entity", "workflow_sub_stage_entity")


@hookimpl
def declare_access() -> Declaration:
    return Declaration(
        module=NAME,
        owns=tuple(OwnedTable(table, read_only=True) for table in TABLES),
        reads=frozenset(TABLES),
    )
