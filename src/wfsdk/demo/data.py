"""Demo rows written by this project: a small gardening blog mid-way through its workflow.

Step configs come in the shapes a long-lived CMS accumulates (full inputs and
outputs, LLM settings only, empty ``db_field``, extra keys), so the modules
are exercised on realistic variety without borrowing anyone's data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from wfsdk.demo import schema

STAGES = [
    (1, "Planning", "Find and shape the idea", 1),
    (2, "Writing", "Draft the post", 2),
    (3, "Publishing", "Review and release", 3),
]
SUB_STAGES = [
    (1, 1, "Idea", "Seed and scope", 1),
    (2, 1, "Research", "Collect facts", 2),
    (3, 2, "Structure", "Outline the sections", 1),
    (4, 2, "Content", "Write the sections", 2),
    (5, 3, "Review", "Check before release", 1),
    (6, 3, "Release", "Publish and announce", 2),
]


def _llm(model: str, output: str, **extra: Any) -> dict[str, Any]:
    return {
        "llm": {
            "model": model,
            "provider": "ollama",
            "parameters": {"temperature": 0.7, "max_tokens": 400},
            "user_output_mapping": {"field": output, "table": "post_development"},
            **extra,
        }
    }


STEPS: list[tuple[int, int, str, str, int, dict[str, Any], str | None]] = [
    (
        1,
        1,
        "Basic Idea",
        "Write down the seed of the idea",
        1,
        {
            "title": "Basic Idea",
            "inputs": {
                "idea_seed": {
                    "type": "textarea",
                    "label": "Idea seed",
                    "db_field": "idea_seed",
                    "db_table": "post_development",
                    "required": True,
                }
            },
            "outputs": {
                "basic_idea": {
                    "type": "textarea",
                    "label": "Basic idea",
                    "db_field": "basic_idea",
                    "db_table": "post_development",
                }
            },
            "settings": _llm("llama3.1:8b", "basic_idea"),
        },
        "basic_idea",
    ),
    (
        2,
        1,
        "Provisional Title",
        "Suggest titles",
        2,
        {"settings": _llm("llama3.1:8b", "provisional_title")},
        "provisional_title",
    ),
    (
        3,
        2,
        "Interesting Facts",
        "Gather facts",
        1,
        {
            "title": "Interesting Facts",
            "outputs": {
                "interesting_facts": {
                    "type": "textarea",
                    "label": "Facts",
                    "db_field": "interesting_facts",
                    "db_table": "post_development",
                }
            },
            "settings": _llm(
                "llama3.2:latest",
                "interesting_facts",
                task_prompt="List facts about: [data:basic_idea]",
                input_mapping={"basic_idea": {"field": "basic_idea", "table": "post_development"}},
                output_mapping={"field": "interesting_facts", "table": "post_development"},
                timeout=120,
            ),
            "notes": "kept from an older editor",
        },
        "interesting_facts",
    ),
    (
        4,
        3,
        "Section Headings",
        "Plan the sections",
        1,
        {
            "inputs": {"section_planning": {"type": "textarea", "label": "Plan", "db_field": ""}},
            "settings": _llm("llama3.1:8b", "section_headings"),
        },
        "section_headings",
    ),
    (5, 4, "Main Title", "Choose the final title", 1, {}, "main_title"),
    (
        6,
        4,
        "Intro",
        "Write the introduction",
        2,
        {"settings": _llm("llama3.1:8b", "intro_blurb")},
        "intro_blurb",
    ),
    (7, 5, "Self Review", "Read it through", 1, {"settings": {}}, "self_review"),
    (8, 6, "Scheduling", "Pick a date", 1, {"title": "Scheduling"}, "scheduling"),
]

FIELD_MAPPINGS = [
    (1, "idea_seed", 1, 1, 1, 1, "input", "post_development", "idea_seed", "Idea seed", True),
    (2, "basic_idea", 1, 1, 2, 1, "output", "post_development", "basic_idea", "Basic idea", False),
    (
        3,
        "provisional_title",
        1,
        1,
        1,
        2,
        "output",
        "post_development",
        "provisional_title",
        "Title ideas",
        False,
    ),
    (
        4,
        "interesting_facts",
        1,
        2,
        1,
        3,
        "output",
        "post_development",
        "interesting_facts",
        "Facts",
        False,
    ),
    (
        5,
        "section_headings",
        2,
        3,
        1,
        4,
        "output",
        "post_development",
        "section_headings",
        "Sections",
        False,
    ),
    (6, "intro_blurb", 2, 4, 1, 6, "output", "post_development", "intro_blurb", "Intro", False),
]

PROVIDERS = [
    (1, "Local Ollama", "ollama", "http://localhost:11434", None, "Models on this machine"),
    (
        2,
        "Hosted",
        "openai",
        "https://llm.example.invalid/v1",
        "demo-token-not-real",
        "A hosted provider (demo credentials)",
    ),
]

PROMPTS = [
    (
        1,
        "Expand idea",
        "Turns a seed into a paragraph",
        "Expand: {{idea_seed}}",
        "You are a friendly gardening writer.",
    ),
    (2, "Titles", "Title suggestions", "Suggest titles for {{basic_idea}}", None),
]

ACTIONS = [
    (
        1,
        "Expand idea",
        "[system] You are a friendly gardening writer.\n"
        "[user] Expand this idea into one paragraph: [data:idea_seed]",
        1,
        "llama3.1:8b",
        "idea_seed",
        "basic_idea",
        1,
    ),
    (
        2,
        "Title ideas",
        "Suggest three titles for: {{basic_idea}}\n"
        "Work in these tags:{{#each tags}} {{this}}{{/each}}",
        2,
        "llama3.1:8b",
        "basic_idea",
        "provisional_title",
        1,
    ),
    (
        3,
        "Facts",
        "[system] Be accurate.\n[user] List five facts about [data:basic_idea].",
        1,
        "gpt-4o-mini",
        "basic_idea",
        "interesting_facts",
        2,
    ),
]

POSTS = [
    (1, "Tomatoes on a Balcony", "tomatoes-on-a-balcony", "published"),
    (2, "Composting in Small Spaces", "composting-in-small-spaces", "in_process"),
]


# Column names for the tuples above, in the same order.
_COLUMNS: dict[sa.Table, tuple[str, ...]] = {
    schema.workflow_stage_entity: ("id", "name", "description", "stage_order"),
    schema.workflow_sub_stage_entity: ("id", "stage_id", "name", "description", "sub_stage_order"),
    schema.workflow_step_entity: (
        "id",
        "sub_stage_id",
        "name",
        "description",
        "step_order",
        "config",
        "field_name",
    ),
    schema.workflow_field_mapping: (
        "id",
        "field_name",
        "stage_id",
        "substage_id",
        "order_index",
        "workflow_step_id",
        "field_type",
        "table_name",
        "column_name",
        "display_name",
        "is_required",
    ),
    schema.llm_provider: ("id", "name", "type", "api_url", "auth_token", "description"),
    schema.llm_prompt: ("id", "name", "description", "prompt_text", "system_prompt"),
    schema.llm_action: (
        "id",
        "field_name",
        "prompt_template",
        "prompt_template_id",
        "llm_model",
        "input_field",
        "output_field",
        "provider_id",
    ),
    schema.post: ("id", "title", "slug", "status"),
}
_ROWS: dict[sa.Table, list[Any]] = {
    schema.workflow_stage_entity: STAGES,
    schema.workflow_sub_stage_entity: SUB_STAGES,
    schema.workflow_step_entity: STEPS,
    schema.workflow_field_mapping: FIELD_MAPPINGS,
    schema.llm_provider: PROVIDERS,
    schema.llm_prompt: PROMPTS,
    schema.llm_action: ACTIONS,
    schema.post: POSTS,
}


def populate(engine: sa.Engine) -> None:
    """Fill freshly created demo tables (fixture code: runs outside the kernel)."""
    now = dt.datetime(2026, 3, 1, 9, 30)
    with engine.begin() as conn:
        for table, rows in _ROWS.items():
            columns = _COLUMNS[table]
            conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
        # Steps keep their order in order_index too, as the CMS's own rows do.
        conn.execute(
            schema.workflow_step_entity.update().values(
                order_index=schema.workflow_step_entity.c.step_order
            )
        )
        for development in (
            dict(
                id=1,
                post_id=1,
                idea_seed="Cherry tomatoes in pots",
                basic_idea="Growing cherry tomatoes in containers on a sunny balcony.",
                tags='["tomato", "balcony", "containers"]',
            ),
            dict(id=2, post_id=2, idea_seed="A worm bin under the sink"),
        ):
            conn.execute(schema.post_development.insert(), development)
        stage_columns = ("id", "post_id", "stage_id", "started_at", "completed_at", "status")
        conn.execute(
            schema.post_workflow_stage.insert(),
            [
                dict(zip(stage_columns, row, strict=True))
                for row in (
                    (1, 1, 1, now, now, "done"),
                    (2, 1, 2, now, None, "in_progress"),
                    (3, 2, 1, now, None, "in_progress"),
                )
            ],
        )
        action_columns = (
            "id",
            "post_id",
            "step_id",
            "action_id",
            "input_field",
            "output_field",
            "button_label",
            "button_order",
        )
        conn.execute(
            schema.post_workflow_step_action.insert(),
            [
                dict(zip(action_columns, row, strict=True))
                for row in (
                    (1, 1, 1, 1, "idea_seed", "basic_idea", "Expand", 1),
                    (2, 1, 2, 2, "basic_idea", "provisional_title", "Titles", 1),
                )
            ],
        )


def build(url: str) -> sa.Engine:
    """Create and fill a demo database at ``url`` (which must be new and empty)."""
    engine = sa.create_engine(url)
    schema.create_all(engine)
    populate(engine)
    return engine
