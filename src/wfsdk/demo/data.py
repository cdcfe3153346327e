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


def populate(engine: sa.Engine) -> None:
    """Fill freshly created demo tables (fixture code: runs outside the kernel)."""
    now = dt.datetime(2026, 3, 1, 9, 30)
    with engine.begin() as conn:
        conn.execute(
            schema.workflow_stage_entity.insert(),
            [dict(id=i, name=n, description=d, stage_order=o) for i, n, d, o in STAGES],
        )
        conn.execute(
            schema.workflow_sub_stage_entity.insert(),
            [
                dict(id=i, stage_id=s, name=n, description=d, sub_stage_order=o)
                for i, s, n, d, o in SUB_STAGES
            ],
        )
        conn.execute(
            schema.workflow_step_entity.insert(),
            [
                dict(
                    id=i,
                    sub_stage_id=s,
                    name=n,
                    description=d,
                    step_order=o,
                    config=c,
                    field_name=f,
                    order_index=o,
                )
                for i, s, n, d, o, c, f in STEPS
            ],
        )
        conn.execute(
            schema.workflow_field_mapping.insert(),
            [
                dict(
                    id=i,
                    field_name=f,
                    stage_id=st,
                    substage_id=ss,
                    order_index=o,
                    workflow_step_id=step,
                    field_type=ft,
                    table_name=t,
                    column_name=c,
                    display_name=dn,
                    is_required=r,
                )
                for i, f, st, ss, o, step, ft, t, c, dn, r in FIELD_MAPPINGS
            ],
        )
        conn.execute(
            schema.llm_provider.insert(),
            [
                dict(id=i, name=n, type=t, api_url=u, auth_token=a, description=d)
                for i, n, t, u, a, d in PROVIDERS
            ],
        )
        conn.execute(
            schema.llm_prompt.insert(),
            [
                dict(id=i, name=n, description=d, prompt_text=p, system_prompt=s)
                for i, n, d, p, s in PROMPTS
            ],
        )
        conn.execute(
            schema.llm_action.insert(),
            [
                dict(
                    id=i,
                    field_name=n,
                    prompt_template=t,
                    prompt_template_id=p,
                    llm_model=m,
                    input_field=inp,
                    output_field=out,
                    provider_id=prov,
                )
                for i, n, t, p, m, inp, out, prov in ACTIONS
            ],
        )
        conn.execute(
            schema.post.insert(),
            [dict(id=i, title=t, slug=s, status=st) for i, t, s, st in POSTS],
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
        conn.execute(
            schema.post_workflow_stage.insert(),
            [
                dict(id=1, post_id=1, stage_id=1, started_at=now, completed_at=now, status="done"),
                dict(
                    id=2,
                    post_id=1,
                    stage_id=2,
                    started_at=now,
                    completed_at=None,
                    status="in_progress",
                ),
                dict(
                    id=3,
                    post_id=2,
                    stage_id=1,
                    started_at=now,
                    completed_at=None,
                    status="in_progress",
                ),
            ],
        )
        conn.execute(
            schema.post_workflow_step_action.insert(),
            [
                dict(
                    id=1,
                    post_id=1,
                    step_id=1,
                    action_id=1,
                    input_field="idea_seed",
                    output_field="basic_idea",
                    button_label="Expand",
                    button_order=1,
                ),
                dict(
                    id=2,
                    post_id=1,
                    step_id=2,
                    action_id=2,
                    input_field="basic_idea",
                    output_field="provisional_title",
                    button_label="Titles",
                    button_order=1,
                ),
            ],
        )


def build(url: str) -> sa.Engine:
    """Create and fill a demo database at ``url`` (which must be new and empty)."""
    engine = sa.create_engine(url)
    schema.create_all(engine)
    populate(engine)
    return engine
