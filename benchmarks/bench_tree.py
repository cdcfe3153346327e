"""The whole workflow tree through ``WorkflowApi.tree()`` beside the same three queries by hand.

    python benchmarks/bench_tree.py postgresql+psycopg://.../db   (a demo database)

What each side does per call:

* wfsdk: ``kernel.api(WorkflowApi).tree()``: three guarded reads (stages, sub-stages,
  steps: one query per level), each in its own read-only transaction, then the tree of
  attrs objects with every step config parsed.
* raw psycopg (PostgreSQL) / raw sqlite3 (SQLite): the very same three statements, each in
  its own read-only transaction on one connection opened before timing (no pool), rows as
  dicts, then the same tree built with the same public value classes and
  ``parse_step_config``; the result is checked equal to wfsdk's before timing.
* SQLAlchemy Core: the same three statements, each in ``engine.begin()`` on a read-only
  engine, the same tree.

Two more rows are for information: the three queries in *one* transaction (a choice
``tree()`` does not make: each of its reads is a transaction of its own), and the rows
alone without building the tree (what the objects cost).

:func:`multiply` makes the bigger workflows of the growth table: copies of the demo's
stages, sub-stages and steps under new ids, written directly (fixture work, outside wfsdk).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from common import psycopg_conninfo, race
from psycopg.rows import dict_row

import wfsdk
from wfsdk.modules.core import Stage, SubStage
from wfsdk.modules.workflow import (
    StageNode,
    Step,
    SubStageNode,
    WorkflowApi,
    WorkflowTree,
    parse_step_config,
)

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "docs" / "database" / "schema.md"

# The statements tree() sends, word for word.
STAGES = (
    "SELECT id, name, description, stage_order FROM workflow_stage_entity ORDER BY stage_order, id"
)
SUB_STAGES = (
    "SELECT id, stage_id, name, description, sub_stage_order "
    "FROM workflow_sub_stage_entity ORDER BY sub_stage_order, id"
)
STEPS = (
    "SELECT st.id, st.sub_stage_id, st.name, st.description, st.step_order, st.config, "
    "st.field_name, st.order_index FROM workflow_step_entity AS st ORDER BY st.step_order, st.id"
)
QUERIES = (STAGES, SUB_STAGES, STEPS)

Rows = Sequence[Mapping[str, Any]]


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def build_tree(stages: Rows, subs: Rows, steps: Rows) -> WorkflowTree:
    """The tree from the three levels' rows, as a caller without wfsdk would build it."""
    steps_of: dict[int | None, list[Step]] = {}
    for row in steps:
        step = Step(
            id=int(row["id"]),
            sub_stage_id=_int_or_none(row["sub_stage_id"]),
            name=row["name"],
            description=row["description"],
            order=int(row["step_order"]),
            field_name=row["field_name"],
            order_index=_int_or_none(row["order_index"]),
            config=parse_step_config(int(row["id"]), row["config"]),
        )
        steps_of.setdefault(step.sub_stage_id, []).append(step)
    subs_of: dict[int | None, list[SubStageNode]] = {}
    for row in subs:
        sub = SubStage(
            int(row["id"]),
            _int_or_none(row["stage_id"]),
            row["name"],
            row["description"],
            int(row["sub_stage_order"]),
        )
        subs_of.setdefault(sub.stage_id, []).append(
            SubStageNode(sub, tuple(steps_of.get(sub.id, ())))
        )
    return WorkflowTree(
        tuple(
            StageNode(
                Stage(int(r["id"]), r["name"], r["description"], int(r["stage_order"])),
                tuple(subs_of.get(int(r["id"]), ())),
            )
            for r in stages
        )
    )


def _postgres(url: str, stack: list[Any]) -> dict[str, Callable[[], object]]:
    raw = psycopg.connect(psycopg_conninfo(url), row_factory=dict_row)
    raw.read_only = True
    stack.append(raw)

    def fetch(sql: str) -> list[dict[str, Any]]:
        with raw.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
        raw.commit()
        return rows

    def fetch_one_transaction() -> list[list[dict[str, Any]]]:
        levels = []
        with raw.cursor() as cursor:
            for sql in QUERIES:
                cursor.execute(sql)
                levels.append(cursor.fetchall())
        raw.commit()
        return levels

    engine = sa.create_engine(url).execution_options(postgresql_readonly=True)
    stack.append(engine)
    statements = [sa.text(sql) for sql in QUERIES]

    def core_fetch(statement: sa.TextClause) -> list[dict[str, Any]]:
        with engine.begin() as conn:
            return [dict(r) for r in conn.execute(statement).mappings()]

    return {
        "raw psycopg": lambda: build_tree(*(fetch(sql) for sql in QUERIES)),
        "sqlalchemy core": lambda: build_tree(*(core_fetch(s) for s in statements)),
        "raw psycopg, one transaction": lambda: build_tree(*fetch_one_transaction()),
        "raw psycopg, rows only": lambda: [fetch(sql) for sql in QUERIES],
    }


def _sqlite(url: str, stack: list[Any]) -> dict[str, Callable[[], object]]:
    path = url.removeprefix("sqlite:///")
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    stack.append(raw)

    def rows_of(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def fetch(sql: str) -> list[dict[str, Any]]:
        raw.execute("BEGIN")
        rows = rows_of(raw.execute(sql))
        raw.execute("COMMIT")
        return rows

    def fetch_one_transaction() -> list[list[dict[str, Any]]]:
        raw.execute("BEGIN")
        levels = [rows_of(raw.execute(sql)) for sql in QUERIES]
        raw.execute("COMMIT")
        return levels

    engine = sa.create_engine(url)
    stack.append(engine)
    statements = [sa.text(sql) for sql in QUERIES]

    def core_fetch(statement: sa.TextClause) -> list[dict[str, Any]]:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(statement).mappings()]

    return {
        "raw sqlite3": lambda: build_tree(*(fetch(sql) for sql in QUERIES)),
        "sqlalchemy core": lambda: build_tree(*(core_fetch(s) for s in statements)),
        "raw sqlite3, one transaction": lambda: build_tree(*fetch_one_transaction()),
        "raw sqlite3, rows only": lambda: [fetch(sql) for sql in QUERIES],
    }


def run(url: str, *, rounds: int = 20, batch: int = 50) -> dict[str, Any]:
    kernel = wfsdk.connect(url, plugins=[], contract=CONTRACT)
    stack: list[Any] = [kernel]
    try:
        api = kernel.api(WorkflowApi)
        contenders: dict[str, Callable[[], object]] = {"wfsdk": api.tree}
        postgres = url.startswith("postgresql")
        contenders.update(_postgres(url, stack) if postgres else _sqlite(url, stack))
        reference = api.tree()
        for name, action in contenders.items():
            if "rows only" not in name:
                assert action() == reference, f"{name} built a different tree"
        timings = race(contenders, rounds=rounds, batch=batch)
        steps = len(reference.steps())
    finally:
        for item in reversed(stack):
            (item.dispose if isinstance(item, sa.Engine) else item.close)()
    return {
        "dialect": "postgresql" if postgres else "sqlite",
        "stages": len(reference.stages),
        "steps": steps,
        "timings": timings,
    }


def multiply(url: str, factor: int) -> None:
    """Make the demo's workflow ``factor`` times as big: copies of every stage, sub-stage, step."""
    if factor <= 1:
        return
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    tables = {
        name: sa.Table(name, meta, autoload_with=engine)
        for name in ("workflow_stage_entity", "workflow_sub_stage_entity", "workflow_step_entity")
    }
    try:
        with engine.begin() as conn:
            originals = {
                name: [dict(r) for r in conn.execute(sa.select(t)).mappings()]
                for name, t in tables.items()
            }
            offset = 10 ** len(str(max(r["id"] for rows in originals.values() for r in rows)))
            for copy in range(1, factor):
                shift = copy * offset
                for name, rows in originals.items():
                    new_rows = []
                    for row in rows:
                        new = dict(row, id=row["id"] + shift, name=f"{row['name']} #{copy}")
                        for parent in ("stage_id", "sub_stage_id"):
                            if new.get(parent) is not None:
                                new[parent] += shift
                        new_rows.append(new)
                    conn.execute(tables[name].insert(), new_rows)
    finally:
        engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: bench_tree.py DATABASE_URL (a wfsdk demo database)", file=sys.stderr)
        return 2
    print(json.dumps(run(argv[1]), indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
