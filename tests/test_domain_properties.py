"""Properties of core and workflow on random but valid workflow trees.

Each test builds one database and reuses it, clearing the workflow tables between
examples; the trees are inserted with SQLAlchemy directly (fixture work, beside wfsdk).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsdk
from wfsdk import integrity
from wfsdk.demo import schema
from wfsdk.modules.core import CoreApi
from wfsdk.modules.workflow import WorkflowApi, parse_step_config

from kernel_support import SHIPPED_CONTRACT, checksum

TABLES = ["workflow_stage_entity", "workflow_sub_stage_entity", "workflow_step_entity"]
ORDERS = st.integers(min_value=0, max_value=3)  # small, so that ties are common
FIELD = st.sampled_from(schema.CONTENT_FIELDS)
MODEL = st.sampled_from(["llama3.1:8b", "llama3.2:latest", "gpt-4o-mini"])


def _form(name: str) -> dict[str, Any]:
    return {"type": "textarea", "label": name, "db_field": name, "db_table": "post_development"}


def _llm(model: str, output: str) -> dict[str, Any]:
    return {
        "llm": {
            "model": model,
            "provider": "ollama",
            "parameters": {"temperature": 0.7, "max_tokens": 100},
            "user_output_mapping": {"field": output, "table": "post_development"},
        }
    }


FULL = st.builds(
    lambda i, o, m: {
        "title": "T",
        "inputs": {i: {**_form(i), "required": True}},
        "outputs": {o: _form(o)},
        "settings": _llm(m, o),
    },
    FIELD,
    FIELD,
    MODEL,
)
# (stored config, the problem kind it must be reported under, if any)
CONFIGS: st.SearchStrategy[tuple[Any, str | None]] = st.one_of(
    FULL.map(lambda c: (c, None)),
    st.builds(lambda m, o: ({"settings": _llm(m, o)}, None), MODEL, FIELD),
    FULL.map(lambda c: ({**c, "field_mapping": [], "llm_available_tables": ["x"]}, None)),
    FULL.map(lambda c: (json.dumps(c), None)),
    st.sampled_from([({}, None), ({"settings": {}}, None), (None, None)]),
    FIELD.map(
        lambda f: (
            {"inputs": {"input1": {"db_field": "", "db_table": "post_development"}}},
            "empty-field",
        )
    ),
    st.sampled_from(
        [
            ([1, 2], "bad-config"),
            ("not json", "bad-config"),
            ({"inputs": ["x"]}, "bad-config"),
            ({"settings": {"llm": "m"}}, "bad-config"),
        ]
    ),
)


@attrs.frozen
class Row:
    id: int
    parent: int | None
    order: int
    config: Any = None
    expected: str | None = None


@attrs.frozen
class Tree:
    stages: tuple[Row, ...]
    sub_stages: tuple[Row, ...]
    steps: tuple[Row, ...]


@st.composite
def trees(draw: Callable[..., Any]) -> Tree:
    """Stages, sub-stages and steps with random orders (ties included) and shuffled ids."""
    stage_orders = draw(st.lists(ORDERS, min_size=1, max_size=4))
    stage_ids = draw(st.permutations(range(1, len(stage_orders) + 1)))
    stages = tuple(Row(i, None, o) for i, o in zip(stage_ids, stage_orders, strict=True))
    sub_specs = [(s.id, o) for s in stages for o in draw(st.lists(ORDERS, max_size=3))]
    sub_ids = draw(st.permutations(range(10, 10 + len(sub_specs))))
    subs = tuple(Row(i, p, o) for i, (p, o) in zip(sub_ids, sub_specs, strict=True))
    step_specs = [
        (s.id, o, c)
        for s in subs
        for o, c in draw(st.lists(st.tuples(ORDERS, CONFIGS), max_size=3))
    ]
    step_ids = draw(st.permutations(range(100, 100 + len(step_specs))))
    steps = tuple(
        Row(i, p, o, config, kind)
        for i, (p, o, (config, kind)) in zip(step_ids, step_specs, strict=True)
    )
    return Tree(stages, subs, steps)


def store(engine: sa.Engine, tree: Tree) -> None:
    with engine.begin() as conn:
        for table in reversed(TABLES):
            conn.execute(schema.metadata.tables[table].delete())
        conn.execute(
            schema.workflow_stage_entity.insert(),
            [dict(id=r.id, name=f"stage {r.id}", stage_order=r.order) for r in tree.stages],
        )
        if tree.sub_stages:
            conn.execute(
                schema.workflow_sub_stage_entity.insert(),
                [
                    dict(id=r.id, stage_id=r.parent, name=f"sub {r.id}", sub_stage_order=r.order)
                    for r in tree.sub_stages
                ],
            )
        if tree.steps:
            conn.execute(
                schema.workflow_step_entity.insert(),
                [
                    dict(id=r.id, sub_stage_id=r.parent, name=f"step {r.id}", step_order=r.order)
                    for r in tree.steps
                ],
            )
            # One by one: an executemany would coerce every config to the first one's type.
            step = schema.workflow_step_entity
            for r in tree.steps:
                conn.execute(step.update().where(step.c.id == r.id).values(config=r.config))


def in_order(rows: tuple[Row, ...], parent: int | None) -> list[int]:
    return [r.id for r in sorted(rows, key=lambda r: (r.order, r.id)) if r.parent == parent]


def ties(rows: tuple[Row, ...], table: str) -> set[tuple[str, tuple[int, ...]]]:
    groups: dict[tuple[int | None, int], list[int]] = {}
    for r in rows:
        groups.setdefault((r.parent, r.order), []).append(r.id)
    return {(table, tuple(sorted(ids))) for ids in groups.values() if len(ids) > 1}


def check_tree_properties(url: str, max_examples: int) -> None:
    engine = sa.create_engine(url)
    schema.create_all(engine)
    kernel = wfsdk.connect(url, plugins=[], contract=SHIPPED_CONTRACT, disable_plugins=["llm"])

    @settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(tree=trees())
    def holds(tree: Tree) -> None:
        store(engine, tree)
        before = checksum(url, TABLES)
        core = kernel.api(CoreApi)
        workflow = kernel.api(WorkflowApi)

        stages = in_order(tree.stages, None)
        assert [s.id for s in core.stages()] == stages
        for stage_id in stages:
            assert [s.id for s in core.sub_stages(stage_id)] == in_order(tree.sub_stages, stage_id)
        shape = [
            (n.stage.id, [(s.sub_stage.id, [x.id for x in s.steps]) for s in n.sub_stages])
            for n in workflow.tree().stages
        ]
        assert shape == [
            (
                stage,
                [(sub, in_order(tree.steps, sub)) for sub in in_order(tree.sub_stages, stage)],
            )
            for stage in stages
        ]
        for sub in tree.sub_stages:
            assert [s.id for s in workflow.steps(sub.id)] == in_order(tree.steps, sub.id)

        problems = integrity.collect(kernel)
        assert {(p.table, p.row_id) for p in problems if p.kind == "duplicate-order"} == (
            ties(tree.stages, TABLES[0])
            | ties(tree.sub_stages, TABLES[1])
            | ties(tree.steps, TABLES[2])
        )
        flagged = {(p.kind, p.row_id) for p in problems if p.kind != "duplicate-order"}
        assert flagged == {(r.expected, r.id) for r in tree.steps if r.expected}
        assert checksum(url, TABLES) == before

    try:
        holds()
    finally:
        kernel.close()
        engine.dispose()


def test_random_trees_on_sqlite(sqlite_url: str) -> None:
    check_tree_properties(sqlite_url, max_examples=100)


def test_random_trees_on_postgresql(pg_url: str) -> None:
    check_tree_properties(pg_url, max_examples=15)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYED = st.fixed_dictionaries(
    {},
    optional={
        "title": JSON,
        "inputs": JSON | st.dictionaries(st.text(max_size=5), JSON, max_size=2),
        "outputs": JSON,
        "settings": JSON | st.fixed_dictionaries({"llm": JSON}),
    },
)


@settings(max_examples=200, deadline=None)
@given(config=JSON | KEYED)
def test_any_config_parses_without_raising(config: Any) -> None:
    parsed = parse_step_config(3, config)
    assert all(p.step_id == 3 for p in parsed.problems)
    if isinstance(config, dict):
        # Stored as JSON text (as SQLite returns it), the same config reads the same.
        assert parse_step_config(3, json.dumps(config)) == parsed


@pytest.mark.parametrize("encode", [lambda c: c, json.dumps, lambda c: json.dumps(json.dumps(c))])
def test_encodings_of_one_config_read_alike(encode: Callable[[Any], Any]) -> None:
    config = {"settings": _llm("m", "tags"), "inputs": {"a": _form("tags")}}
    assert parse_step_config(1, encode(config)) == parse_step_config(1, config)
