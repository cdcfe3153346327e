"""Built-in module ``workflow``: steps, field mappings, step actions and a post's stage status.

Owns ``workflow_step_entity``, ``workflow_field_mapping`` and
``post_workflow_step_action`` (read-only), and ``post_workflow_stage``, whose
``status``, ``started_at`` and ``completed_at`` are the only columns anyone may
write (the integration guide's ``update_workflow_status``).
"""

from __future__ import annotations

from wfsdk import hookimpl
from wfsdk.values import Declaration, OwnedTable

NAME = "workflow"
READ_ONLY = ("workflow_step_entity", "workflow_field_mapping", "post_workflow_step_action")
STAGE_STATUS = "post_workflow_stage"
STATUS_COLUMNS = frozenset({"status", "started_at", "completed_at"})


@hookimpl
def declare_access() -> Declaration:
    return Declaration(
        module=NAME,
        owns=(
            *(OwnedTable(table, read_only=True) for table in READ_ONLY),
            OwnedTable(STAGE_STATUS, read_only=False, writable_columns=STATUS_COLUMNS),
        ),
        reads=frozenset(
            {
                *READ_ONLY,
                STAGE_STATUS,
                "workflow_stage_entity",
                "workflow_sub_stage_entity",
                "llm_action",
                "post",
            }
        ),
        writes={STAGE_STATUS: STATUS_COLUMNS},
    )
