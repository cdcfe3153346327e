"""The workflow module: steps and the tree, step configs, field mappings, actions, stage status."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa

import wfsdk
from wfsdk import errors
from wfsdk.demo import data
from wfsdk.modules.workflow import (
    ConfigProblem,
    FieldRef,
    MissingStageStatusError,
    StepField,
    WorkflowApi,
    parse_step_config,
)
from wfsdk.values import Declaration, Vote

from kernel_support import SHIPPED_CONTRACT, Recorder, Voter, checksum, raw

ALL_DEMO_TABLES = sorted(data.schema.metadata.tables)
WORKFLOW_TABLES = [
    "workflow_stage_entity",
    "workflow_sub_stage_entity",
    "workflow_step_entity",
    "workflow_field_mapping",
    "post_workflow_step_action",
    "post_workflow_stage",
    "llm_action",
    "post",
]


@pytest.fixture
def demo_url(db_url: str) -> str:
    data.build(db_url).dispose()
    return db_url


def open_kernel(url: str, *plugins: object, **kw: Any) -> wfsdk.Kernel:
    return wfsdk.connect(
        url,
        plugins=[],
        contract=SHIPPED_CONTRACT,
        extra_plugins=list(plugins),
        disable_plugins=["llm"],
        **kw,
    )


def insert_unchecked(url: str, sql: str, params: dict[str, Any] | None = None) -> None:
    """Fixture work: write rows a foreign key would refuse, as long-lived databases hold them."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.execute(sa.text(sql), params or {})
    finally:
        engine.dispose()


def set_config(url: str, step_id: int, config: Any) -> None:
    """Store ``config`` as the column's own JSON (a JSON string when ``config`` is a str)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                data.schema.workflow_step_entity.update()
                .where(data.schema.workflow_step_entity.c.id == step_id)
                .values(config=config)
            )
    finally:
        engine.dispose()


def by_order(rows: list[Any], order: int) -> list[Any]:
    return sorted(rows, key=lambda r: (r[order], r[0]))


# -- step config -------------------------------------------------------------------

FULL = {
    "title": "Facts",
    "inputs": {
        "seed": {
            "type": "textarea",
            "label": "Seed",
            "db_field": "idea_seed",
            "db_table": "post_development",
            "required": True,
            "placeholder": "extra keys are kept in raw",
        }
    },
    "outputs": {"facts": {"db_field": "facts", "db_table": "post_development"}},
    "settings": {
        "llm": {
            "model": "llama3.1:8b",
            "provider": "ollama",
            "timeout": 300,
            "parameters": {"temperature": 0.2, "max_tokens": 800},
            "task_prompt": "Facts about [data:seed]",
            "system_prompt": "Be exact.",
            "input_mapping": {
                "seed": {"field": "idea_seed", "table": "post_development", "description": "d"}
            },
            "user_input_mappings": {"input1": {"field": "basic_idea", "table": "post_development"}},
            "user_context_mappings": {"ctx": {"field": "tags", "table": "post_development"}},
            "output_mapping": {"field": "facts", "table": "post_development"},
            "user_output_mapping": {"field": "allocated_facts", "table": "post_development"},
        }
    },
    "field_mapping": [{"field_name": "facts", "order_index": 1}],
}


def test_a_full_config_is_parsed_into_typed_parts() -> None:
    config = parse_step_config(7, FULL)
    assert config.problems == ()
    assert config.title == "Facts"
    assert config.inputs == (
        StepField("seed", "idea_seed", "post_development", "Seed", "textarea", True),
    )
    assert config.outputs == (StepField("facts", "facts", "post_development"),)
    llm = config.llm
    assert llm is not None
    assert (llm.model, llm.provider, llm.timeout) == ("llama3.1:8b", "ollama", 300)
    assert llm.parameters == {"temperature": 0.2, "max_tokens": 800}
    # What the CMS's editor saved wins over the older output_mapping.
    assert llm.output == FieldRef("", "allocated_facts", "post_development")
    assert llm.input_mapping == (FieldRef("seed", "idea_seed", "post_development", "d"),)
    assert llm.user_input_mapping == (FieldRef("input1", "basic_idea", "post_development"),)
    assert llm.context_mapping == (FieldRef("ctx", "tags", "post_development"),)
    assert (llm.task_prompt, llm.system_prompt) == ("Facts about [data:seed]", "Be exact.")
    assert config.raw["field_mapping"] == FULL["field_mapping"]
    assert ("LLM context 'ctx'", "post_development", "tags") in set(config.references())


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(json.dumps(FULL), id="json-text"),
        pytest.param(json.dumps(json.dumps(FULL)), id="json-string-holding-json"),
    ],
)
def test_configs_stored_as_text_parse_alike(stored: str) -> None:
    assert parse_step_config(7, stored) == parse_step_config(7, FULL)


@pytest.mark.parametrize(
    "stored",
    [{}, None, "null", {"settings": {}}, {"settings": None}, {"inputs": {}, "outputs": {}}],
)
def test_empty_shapes(stored: object) -> None:
    config = parse_step_config(1, stored)
    assert (config.inputs, config.outputs, config.llm, config.problems) == ((), (), None, ())


def test_settings_only_and_missing_keys() -> None:
    config = parse_step_config(
        3,
        {
            "settings": {"llm": {"model": "m", "provider": "p", "parameters": {}}},
            "inputs": {"input1": {"db_field": "", "db_table": "post_development"}},
            "llm_available_tables": ["post_development"],
        },
    )
    assert config.problems == ()
    assert config.title is None
    # An empty db_field means no field was chosen.
    assert config.inputs == (StepField("input1", None, "post_development"),)
    llm = config.llm
    assert llm is not None and llm.output is None and llm.timeout is None
    assert llm.input_mapping == () and llm.task_prompt is None


@pytest.mark.parametrize(
    ("stored", "path"),
    [
        ("{not json", "config"),
        ("", "config"),
        ([1, 2], "config"),
        (json.dumps("just text"), "config"),
        (42, "config"),
        ({"inputs": ["idea_seed"]}, "inputs"),
        ({"inputs": {"a": "idea_seed"}}, "inputs.a"),
        ({"inputs": {"a": {"db_field": 5}}}, "inputs.a.db_field"),
        ({"outputs": {"a": {"db_field": "x", "required": "yes"}}}, "outputs.a.required"),
        ({"settings": []}, "settings"),
        ({"settings": {"llm": "llama"}}, "settings.llm"),
        ({"settings": {"llm": {"model": 3}}}, "settings.llm.model"),
        ({"settings": {"llm": {"parameters": [0.7]}}}, "settings.llm.parameters"),
        ({"settings": {"llm": {"timeout": "soon"}}}, "settings.llm.timeout"),
        ({"settings": {"llm": {"user_output_mapping": "x"}}}, "settings.llm.user_output_mapping"),
        ({"settings": {"llm": {"input_mapping": {"a": 1}}}}, "settings.llm.input_mapping.a"),
        ({"title": ["t"]}, "config.title"),
    ],
)
def test_what_cannot_be_understood_is_reported_with_the_step(stored: object, path: str) -> None:
    config = parse_step_config(12, stored)
    assert [p.path for p in config.problems] == [path]
    assert all(isinstance(p, ConfigProblem) and p.step_id == 12 for p in config.problems)


def test_one_bad_part_leaves_the_rest_parsed() -> None:
    config = parse_step_config(
        5,
        {
            "title": "Kept",
            "inputs": {"bad": 1, "good": {"db_field": "tags"}},
            "settings": {"llm": {"model": "m", "timeout": 60.0, "parameters": "x"}},
        },
    )
    assert [p.path for p in config.problems] == ["inputs.bad", "settings.llm.parameters"]
    assert config.title == "Kept" and [f.key for f in config.inputs] == ["good"]
    assert config.llm is not None and config.llm.timeout == 60 and config.llm.parameters == {}


# -- steps and the tree -------------------------------------------------------------


def test_tree_matches_the_data_in_order(demo_url: str) -> None:
    with open_kernel(demo_url) as kernel:
        tree = kernel.api(WorkflowApi).tree()
    shape = [
        (s.stage.id, [(sub.sub_stage.id, [st.id for st in sub.steps]) for sub in s.sub_stages])
        for s in tree.stages
    ]
    expected = [
        (
            stage[0],
            [
                (sub[0], [st[0] for st in by_order(data.STEPS, 4) if st[1] == sub[0]])
                for sub in by_order(data.SUB_STAGES, 4)
                if sub[1] == stage[0]
            ],
        )
        for stage in by_order(data.STAGES, 3)
    ]
    assert shape == expected
    assert [s.id for s in tree.steps()] == [
        st for _, subs in expected for _, steps in subs for st in steps
    ]
    step = tree.stages[0].sub_stages[0].steps[0]
    assert step.name == "Basic Idea" and step.config.llm is not None
    assert step.config.inputs[0].field == "idea_seed"
    assert tree.config_problems() == ()


@pytest.mark.parametrize("extra", [0, 40])
def test_the_tree_takes_three_reads_whatever_its_size(demo_url: str, extra: int) -> None:
    for n in range(extra):
        raw(
            demo_url,
            "INSERT INTO workflow_sub_stage_entity (id, stage_id, name, sub_stage_order) "
            "VALUES (:id, :stage, :name, :o)",
            {"id": 100 + n, "stage": 1 + n % 3, "name": f"extra {n}", "o": n},
        )
        for k in range(3):
            raw(
                demo_url,
                "INSERT INTO workflow_step_entity (id, sub_stage_id, name, step_order, config) "
                "VALUES (:id, :sub, :name, :o, '{}')",
                {"id": 1000 + 3 * n + k, "sub": 100 + n, "name": f"step {k}", "o": k},
            )
    recorder = Recorder()
    with open_kernel(demo_url, recorder) as kernel:
        tree = kernel.api(WorkflowApi).tree()
    assert len(tree.steps()) == len(data.STEPS) + 3 * extra
    assert len(recorder.reads) == 3
    assert [e.tables for e in recorder.reads] == [
        {"workflow_stage_entity"},
        {"workflow_sub_stage_entity"},
        {"workflow_step_entity"},
    ]


def test_steps_of_a_sub_stage_and_of_a_stage(demo_url: str) -> None:
    raw(
        demo_url,
        "INSERT INTO workflow_step_entity (id, sub_stage_id, name, step_order) VALUES "
        "(20, 1, 'Tied later', 1)",
    )
    with open_kernel(demo_url) as kernel:
        workflow = kernel.api(WorkflowApi)
        assert [s.id for s in workflow.steps(1)] == [1, 20, 2]
        assert [s.id for s in workflow.stage_steps(1)] == [1, 20, 2, 3]
        assert [s.id for s in workflow.stage_steps(2)] == [4, 5, 6]
        assert workflow.steps(999) == () and workflow.stage_steps(999) == ()
        step = workflow.step(3)
        assert step is not None and step.config.llm is not None
        assert step.config.llm.timeout == 120 and step.config.raw["notes"]
        assert workflow.step(999) is None
        (tie,) = [p for p in workflow.problems() if p.kind == "duplicate-order"]
    assert tie.row_id == (1, 20) and tie.table == "workflow_step_entity"


def test_bad_configs_are_reported_not_raised(demo_url: str) -> None:
    # A JSON array, a JSON string that is not JSON, and a string holding a valid config.
    set_config(demo_url, 5, [1, 2])
    set_config(demo_url, 7, "not { json")
    set_config(demo_url, 8, json.dumps({"settings": {"llm": {"model": "m"}}}))
    with open_kernel(demo_url) as kernel:
        workflow = kernel.api(WorkflowApi)
        tree = workflow.tree()
        problems = workflow.problems()
    assert {p.step_id for p in tree.config_problems()} == {5, 7}
    assert {s.id for s in tree.steps()} == {s[0] for s in data.STEPS}
    step8 = next(s for s in tree.steps() if s.id == 8)
    assert step8.config.llm is not None and step8.config.llm.model == "m"
    assert sorted(p.row_id for p in problems if p.kind == "bad-config") == [5, 7]


# -- field mappings and step actions ---------------------------------------------------


def test_field_mappings_by_stage_sub_stage_and_step(demo_url: str) -> None:
    raw(
        demo_url,
        "INSERT INTO workflow_field_mapping (id, field_name, stage_id, substage_id, order_index) "
        "VALUES (7, 'tags', 1, 1, NULL), (8, 'summary', 1, 1, 1)",
    )
    mappings = [m for m in data.FIELD_MAPPINGS]
    with open_kernel(demo_url) as kernel:
        workflow = kernel.api(WorkflowApi)
        everything = workflow.field_mappings()
        of_stage = workflow.field_mappings(stage_id=1)
        of_sub = workflow.field_mappings(stage_id=1, sub_stage_id=1)
        of_step = workflow.field_mappings(step_id=1)
        with pytest.raises(errors.ConfigurationError):
            workflow.field_mappings(step_id="1")  # type: ignore[arg-type]
    assert len(everything) == len(mappings) + 2
    # By order_index then id; a mapping without an order_index comes last.
    assert [m.id for m in of_sub] == [1, 3, 8, 2, 7]
    assert {m.id for m in of_stage} == {m[0] for m in mappings if m[2] == 1} | {7, 8}
    assert [m.id for m in of_step] == [1, 2]
    first = of_step[0]
    assert (first.field_name, first.sub_stage_id, first.step_id, first.required) == (
        "idea_seed",
        1,
        1,
        True,
    )
    assert first.table_name == "post_development" and first.field_type == "input"


def test_step_actions_of_a_post(demo_url: str) -> None:
    insert_unchecked(
        demo_url,
        "INSERT INTO post_workflow_step_action (id, post_id, step_id, action_id, button_label, "
        "button_order) VALUES (3, 1, 1, 99, 'Orphan', 0)",
    )
    with open_kernel(demo_url) as kernel:
        workflow = kernel.api(WorkflowApi)
        all_of_post = workflow.step_actions(1)
        first_step = workflow.step_actions(1, 1)
        none = workflow.step_actions(2)
        problems = workflow.problems()
    assert [a.id for a in all_of_post] == [3, 1, 2]
    assert [a.id for a in first_step] == [3, 1]
    orphan, expand = first_step
    assert orphan.action_id == 99 and orphan.action_field_name is None
    assert (expand.action_field_name, expand.button_label, expand.button_order) == (
        "Expand idea",
        "Expand",
        1,
    )
    assert (expand.input_field, expand.output_field) == ("idea_seed", "basic_idea")
    assert none == ()
    missing = [p for p in problems if p.kind == "missing-reference"]
    assert [(p.table, p.row_id) for p in missing] == [("post_workflow_step_action", 3)]
    assert "llm_action" in missing[0].message


# -- stage status ----------------------------------------------------------------------


def test_stage_status_reads(demo_url: str) -> None:
    with open_kernel(demo_url) as kernel:
        workflow = kernel.api(WorkflowApi)
        status = workflow.stage_status(1, 2)
        statuses = workflow.stage_statuses(1)
        assert workflow.stage_status(2, 3) is None
    assert status is not None and status.status == "in_progress"
    assert status.started_at == dt.datetime(2026, 3, 1, 9, 30) and status.completed_at is None
    assert [s.stage_id for s in statuses] == [1, 2]


def test_set_stage_status_dry_run_changes_nothing(demo_url: str) -> None:
    before = checksum(demo_url, ALL_DEMO_TABLES)
    with open_kernel(demo_url, Voter(Vote.allow("fine"))) as kernel:
        result = kernel.api(WorkflowApi).set_stage_status(
            1, 2, "review", actor="ann", reason="draft ready", dry_run=True
        )
    assert result.change is None and result.would_commit
    assert result.preview is not None and result.preview.table == "post_workflow_stage"
    (row,) = result.preview.rows
    assert row.changed_columns() == ("status",)
    assert row.after is not None and row.after["status"] == "review"
    assert checksum(demo_url, ALL_DEMO_TABLES) == before


def test_set_stage_status_commits_a_change_record(demo_url: str) -> None:
    recorder = Recorder()
    started = dt.datetime(2026, 3, 2, 8, 15, 30)
    done = dt.datetime(2026, 3, 3, 17, 0)
    untouched = checksum(demo_url, [t for t in ALL_DEMO_TABLES if t != "post_workflow_stage"])
    with open_kernel(demo_url, recorder, Voter(Vote.allow())) as kernel:
        workflow = kernel.api(WorkflowApi)
        result = workflow.set_stage_status(
            1, 2, "done", actor="ann", reason="published", started_at=started, completed_at=done
        )
        after = workflow.stage_status(1, 2)
    change = result.change
    assert change is not None and recorder.changes == [change]
    assert (change.caller, change.actor, change.reason) == ("workflow", "ann", "published")
    assert change.rows[0].key == {"id": 2}
    assert set(change.rows[0].changed_columns()) == {"status", "started_at", "completed_at"}
    assert after is not None
    assert (after.status, after.started_at, after.completed_at) == ("done", started, done)
    assert checksum(demo_url, [t for t in ALL_DEMO_TABLES if t != "post_workflow_stage"]) == (
        untouched
    )


def test_set_stage_status_is_default_deny(demo_url: str) -> None:
    before = checksum(demo_url, ["post_workflow_stage"])
    with open_kernel(demo_url) as kernel:
        with pytest.raises(errors.WriteDeniedError, match="default-deny"):
            kernel.api(WorkflowApi).set_stage_status(1, 2, "x", actor="ann", reason="r")
    assert checksum(demo_url, ["post_workflow_stage"]) == before


def test_no_status_row_is_refused_not_a_silent_no_op(demo_url: str) -> None:
    voter = Voter(Vote.allow())
    before = checksum(demo_url, ALL_DEMO_TABLES)
    with open_kernel(demo_url, voter) as kernel:
        workflow = kernel.api(WorkflowApi)
        for dry_run in (True, False):
            with pytest.raises(MissingStageStatusError, match="post 2 has no"):
                workflow.set_stage_status(2, 3, "x", actor="a", reason="r", dry_run=dry_run)
    assert voter.seen == []
    assert checksum(demo_url, ALL_DEMO_TABLES) == before


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("1", 2, "ok"), {}, "post_id must be an integer"),
        ((1, None, "ok"), {}, "stage_id must be an integer"),
        ((1, 2, ""), {}, "status must be a non-empty string"),
        ((1, 2, 7), {}, "status must be a non-empty string"),
        ((1, 2, "x" * 33), {}, "at most 32 characters"),
        ((1, 2, "ok"), {"actor": ""}, "actor"),
        ((1, 2, "ok"), {"reason": " "}, "reason"),
        ((1, 2, "ok"), {"started_at": "2026-01-01"}, "started_at must be a datetime"),
        (
            (1, 2, "ok"),
            {"completed_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
            "naive datetime",
        ),
    ],
)
def test_arguments_are_checked_before_any_sql(
    demo_url: str, args: tuple[Any, ...], kwargs: dict[str, Any], match: str
) -> None:
    recorder = Recorder()
    kwargs = {"actor": "ann", "reason": "r", **kwargs}
    with open_kernel(demo_url, recorder, Voter(Vote.allow())) as kernel:
        with pytest.raises(errors.ConfigurationError, match=match):
            kernel.api(WorkflowApi).set_stage_status(*args, **kwargs)
    assert recorder.reads == [] and recorder.changes == []


def test_other_columns_of_the_status_table_are_refused_whoever_asks(demo_url: str) -> None:
    host = Declaration(
        module="host",
        reads={"post_workflow_stage"},
        writes={"post_workflow_stage": {"status", "input_field"}},
    )
    before = checksum(demo_url, ["post_workflow_stage"])
    with open_kernel(demo_url, Voter(Vote.allow()), host_access=host) as kernel:
        with pytest.raises(errors.ReadOnlyViolationError, match="owner 'workflow'"):
            kernel.host.update(
                "post_workflow_stage",
                {"post_id": 1, "stage_id": 2},
                {"status": "x", "input_field": "tags"},
                actor="ann",
                reason="r",
            )
        with pytest.raises(errors.ReadOnlyViolationError):
            kernel.execute_query(
                "UPDATE post_workflow_stage SET output_field = 'x' WHERE id = 2",
                actor="ann",
                reason="r",
            )
    assert checksum(demo_url, ["post_workflow_stage"]) == before


# -- problems ----------------------------------------------------------------------


def test_problems_in_the_demo_data(demo_url: str) -> None:
    with open_kernel(demo_url) as kernel:
        problems = kernel.api(WorkflowApi).problems()
    # The demo keeps one step whose input names no field, as real configs do.
    assert [(p.kind, p.table, p.row_id) for p in problems] == [
        ("empty-field", "workflow_step_entity", 4)
    ]


def test_problems_found_in_broken_data(demo_url: str) -> None:
    insert_unchecked(
        demo_url,
        "INSERT INTO workflow_step_entity (id, sub_stage_id, name, step_order, field_name) "
        "VALUES (30, 99, 'Lost', 1, 'no_such_field'), (31, NULL, 'Loose', 1, NULL)",
    )
    insert_unchecked(
        demo_url,
        "INSERT INTO workflow_field_mapping (id, field_name, stage_id, substage_id, "
        "workflow_step_id, table_name) VALUES (20, 'tags', 98, 97, 96, NULL), "
        "(21, 'nope', 1, NULL, NULL, NULL), (22, 'body', 1, NULL, NULL, 'post_section')",
    )
    insert_unchecked(
        demo_url,
        "INSERT INTO post_workflow_stage (id, post_id, stage_id, status, output_field) "
        "VALUES (9, 77, 3, 'x', 'basic_idea')",
    )
    set_config(
        demo_url,
        8,
        {"outputs": {"o": {"db_field": "missing", "db_table": "post_development"}}},
    )
    with open_kernel(demo_url) as kernel:
        problems = kernel.api(WorkflowApi).problems()
        tree = kernel.api(WorkflowApi).tree()
    found = {(p.kind, p.table, p.row_id) for p in problems}
    assert found == {
        ("empty-field", "workflow_step_entity", 4),
        ("missing-reference", "workflow_step_entity", 30),
        ("missing-reference", "workflow_step_entity", 31),
        ("unknown-field", "workflow_step_entity", 30),
        ("missing-reference", "workflow_field_mapping", 20),
        ("unknown-field", "workflow_field_mapping", 21),
        ("undocumented-table", "workflow_field_mapping", 22),
        ("missing-reference", "post_workflow_stage", 9),
        ("unknown-field", "workflow_step_entity", 8),
    }
    # One per dangling reference: stage, sub-stage and step of mapping 20.
    assert len([p for p in problems if p.row_id == 20]) == 3
    assert "does not enforce" in next(p.message for p in problems if p.row_id == 9)
    assert 30 not in {s.id for s in tree.steps()} and 31 not in {s.id for s in tree.steps()}


def test_reads_change_nothing(demo_url: str) -> None:
    before = checksum(demo_url, ALL_DEMO_TABLES)
    with open_kernel(demo_url) as kernel:
        workflow = kernel.api(WorkflowApi)
        workflow.tree(), workflow.problems(), workflow.field_mappings()
        workflow.step_actions(1), workflow.stage_statuses(1), workflow.stage_steps(1)
    assert checksum(demo_url, ALL_DEMO_TABLES) == before


# -- the real blog database ------------------------------------------------------------


def test_tree_and_configs_of_the_blog_dump(blog_url: str) -> None:
    stages = raw(blog_url, "SELECT id, stage_order FROM workflow_stage_entity")
    subs = raw(blog_url, "SELECT id, stage_id, sub_stage_order FROM workflow_sub_stage_entity")
    steps = raw(blog_url, "SELECT id, sub_stage_id, step_order FROM workflow_step_entity")
    before = checksum(blog_url, WORKFLOW_TABLES)
    recorder = Recorder()
    with open_kernel(blog_url, recorder) as kernel:
        workflow = kernel.api(WorkflowApi)
        tree = workflow.tree()
        reads = len(recorder.reads)
        parsed = {s.id: workflow.step(s.id) for s in tree.steps()}
    assert reads == 3
    expected = [
        (
            stage[0],
            [
                (sub[0], [st[0] for st in by_order(steps, 2) if st[1] == sub[0]])
                for sub in by_order(subs, 2)
                if sub[1] == stage[0]
            ],
        )
        for stage in by_order(stages, 1)
    ]
    shape = [
        (s.stage.id, [(sub.sub_stage.id, [st.id for st in sub.steps]) for sub in s.sub_stages])
        for s in tree.stages
    ]
    assert shape == expected
    # Every step of the dump sits in the tree, and every config was parsed without raising.
    assert len(tree.steps()) == len(steps)
    for step in tree.steps():
        assert parsed[step.id] == step
        assert all(p.step_id == step.id for p in step.config.problems)
    with_llm = [s for s in tree.steps() if s.config.llm is not None]
    assert with_llm and all(s.config.llm.model for s in with_llm if s.config.llm)
    assert checksum(blog_url, WORKFLOW_TABLES) == before


def test_problems_of_the_blog_dump(blog_url: str) -> None:
    before = checksum(blog_url, WORKFLOW_TABLES)
    with open_kernel(blog_url) as kernel:
        problems = kernel.api(WorkflowApi).problems()
    kinds = {p.kind for p in problems}
    # Field mappings naming fields post_development does not have, configs pointing at a
    # table the schema document leaves out, an output with no field chosen.
    assert {"unknown-field", "undocumented-table", "empty-field"} <= kinds
    assert all(p.module == "workflow" and p.message for p in problems)
    assert checksum(blog_url, WORKFLOW_TABLES) == before
