"""Tables modelled on the blog CMS, to build demo and test databases with.

This is fixture-building code: it creates tables directly with SQLAlchemy on a
database of its own, never through the kernel, and never on a database it did
not create. The structure follows the documented schema
(``docs/database/schema.md``) so that the contract check passes on it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# The llm module's list, in the order the CMS created the columns.
from wfsdk.modules.llm import CONTENT_FIELDS

metadata = sa.MetaData()

JSONB = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
POST_STATUS = sa.Enum("draft", "in_process", "published", "archived", "deleted", name="post_status")
NOW = sa.text("CURRENT_TIMESTAMP")


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime, server_default=NOW),
        sa.Column("updated_at", sa.DateTime, server_default=NOW),
    ]


# Targets of foreign keys the documented tables carry; only their keys matter here.
image = sa.Table("image", metadata, sa.Column("id", sa.Integer, primary_key=True))
workflow_format_template = sa.Table(
    "workflow_format_template", metadata, sa.Column("id", sa.Integer, primary_key=True)
)

workflow_stage_entity = sa.Table(
    "workflow_stage_entity",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("description", sa.Text),
    sa.Column("stage_order", sa.Integer, nullable=False),
)

workflow_sub_stage_entity = sa.Table(
    "workflow_sub_stage_entity",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "stage_id", sa.Integer, sa.ForeignKey("workflow_stage_entity.id", ondelete="CASCADE")
    ),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("sub_stage_order", sa.Integer, nullable=False),
    sa.UniqueConstraint("stage_id", "name"),
)

workflow_step_entity = sa.Table(
    "workflow_step_entity",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "sub_stage_id",
        sa.Integer,
        sa.ForeignKey("workflow_sub_stage_entity.id", ondelete="CASCADE"),
    ),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("step_order", sa.Integer, nullable=False),
    sa.Column("config", JSONB, server_default=sa.text("'{}'")),
    sa.Column("field_name", sa.Text),
    sa.Column("order_index", sa.Integer),
    sa.Column("default_input_format_id", sa.Integer, sa.ForeignKey("workflow_format_template.id")),
    sa.Column("default_output_format_id", sa.Integer, sa.ForeignKey("workflow_format_template.id")),
    sa.UniqueConstraint("sub_stage_id", "name"),
)

workflow_field_mapping = sa.Table(
    "workflow_field_mapping",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("field_name", sa.Text, nullable=False),
    sa.Column("stage_id", sa.Integer, sa.ForeignKey("workflow_stage_entity.id")),
    sa.Column("substage_id", sa.Integer, sa.ForeignKey("workflow_sub_stage_entity.id")),
    sa.Column("order_index", sa.Integer, server_default=sa.text("0")),
    *_timestamps(),
    sa.Column(
        "workflow_step_id",
        sa.Integer,
        sa.ForeignKey("workflow_step_entity.id", ondelete="CASCADE"),
    ),
    sa.Column("field_type", sa.String(32)),
    sa.Column("table_name", sa.String(64)),
    sa.Column("column_name", sa.String(64)),
    sa.Column("display_name", sa.String(128)),
    sa.Column("is_required", sa.Boolean, server_default=sa.false()),
    sa.Column("default_value", sa.Text),
    sa.Column("validation_rules", JSONB),
)

llm_provider = sa.Table(
    "llm_provider",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("type", sa.String(64), nullable=False, server_default=sa.text("'local'")),
    sa.Column("api_url", sa.Text),
    sa.Column("auth_token", sa.Text),
    sa.Column("description", sa.Text),
    *_timestamps(),
)

llm_prompt = sa.Table(
    "llm_prompt",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("prompt_text", sa.Text),
    sa.Column("system_prompt", sa.Text),
    sa.Column("parameters", JSONB),
    sa.Column("order", sa.Integer, nullable=False, server_default=sa.text("0")),
    *_timestamps(),
    sa.Column("part_ids", JSONB, server_default=sa.text("'[]'")),
    sa.Column("prompt_json", JSONB),
)

llm_action = sa.Table(
    "llm_action",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("field_name", sa.String(128), nullable=False),
    sa.Column("prompt_template", sa.Text, nullable=False),
    # The CMS relies on this reference without declaring it as a foreign key.
    sa.Column("prompt_template_id", sa.Integer, nullable=False),
    sa.Column("llm_model", sa.String(128), nullable=False),
    sa.Column("temperature", sa.Float, server_default=sa.text("0.7")),
    sa.Column("max_tokens", sa.Integer, server_default=sa.text("1000")),
    sa.Column("order", sa.Integer, nullable=False, server_default=sa.text("0")),
    *_timestamps(),
    sa.Column("input_field", sa.String(128)),
    sa.Column("output_field", sa.String(128)),
    sa.Column(
        "provider_id",
        sa.Integer,
        sa.ForeignKey("llm_provider.id", name="fk_llm_action_provider"),
        nullable=False,
    ),
    sa.Column("timeout", sa.Integer, server_default=sa.text("60")),
)

post = sa.Table(
    "post",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("slug", sa.String(200), nullable=False, unique=True),
    sa.Column("summary", sa.Text),
    *_timestamps(),
    sa.Column("header_image_id", sa.Integer, sa.ForeignKey("image.id")),
    sa.Column("status", POST_STATUS, nullable=False, server_default=sa.text("'draft'")),
    sa.Column("substage_id", sa.Integer),
)


post_development = sa.Table(
    "post_development",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False, unique=True),
    *(sa.Column(name, sa.Text) for name in CONTENT_FIELDS),
    sa.Column("updated_at", sa.DateTime, server_default=NOW),
)

post_workflow_stage = sa.Table(
    "post_workflow_stage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("post_id", sa.Integer),
    sa.Column(
        "stage_id", sa.Integer, sa.ForeignKey("workflow_stage_entity.id", ondelete="CASCADE")
    ),
    sa.Column("started_at", sa.DateTime),
    sa.Column("completed_at", sa.DateTime),
    sa.Column("status", sa.String(32)),
    sa.Column("input_field", sa.String(128)),
    sa.Column("output_field", sa.String(1024)),
    sa.UniqueConstraint("post_id", "stage_id"),
)

post_workflow_step_action = sa.Table(
    "post_workflow_step_action",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id")),
    sa.Column("step_id", sa.Integer, sa.ForeignKey("workflow_step_entity.id")),
    sa.Column("action_id", sa.Integer, sa.ForeignKey("llm_action.id")),
    sa.Column("input_field", sa.String(128)),
    sa.Column("output_field", sa.String(128)),
    sa.Column("button_label", sa.Text),
    sa.Column("button_order", sa.Integer, server_default=sa.text("0")),
)


def create_all(engine: sa.Engine) -> None:
    """Create the demo tables on a database made for the purpose (fixture code only)."""
    metadata.create_all(engine)
