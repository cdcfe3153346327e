"""The whole workflow tree through ``WorkflowApi.tree()`` beside the same three queries by hand.

    python benchmarks/bench_tree.py postgresql+psycopg://.../db   (a demo database)

What each side does per call:

* wfsdk: ``kernel.api(WorkflowApi).tree()``: three guarded reads (stages, sub-stages,
  steps: one query per level) in one read-only transaction (``Gateway.reading()``; on
  PostgreSQL ``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY``, so all three see one
  snapshot), ``COMMIT``, then the tree of attrs objects with every step config parsed.
* raw psycopg (PostgreSQL) / raw sqlite3 (SQLite), the baseline of the ratio: the very
  same statements on one connection opened before timing (no pool): the same ``BEGIN``
  (psycopg with ``read_only`` and ``REPEATABLE READ`` set once), the three SELECTs, the same
  ``COMMIT``; rows as dicts, then the same tree built by the same public ``build_tree`` that
  ``tree()`` uses; the result is checked equal to wfsdk's before timing.
* SQLAlchemy Core: the same three statements in one ``engine.begin()`` on a read-only
  ``REPEATABLE READ`` engine (SQLite: one ``connect()``), the same tree.

Three more rows are for information: the three queries each in a transaction of its own
(what ``tree()`` did before it read in one transaction); raw psycopg through a SQLAlchemy
pool, the connection checked out and in every call with ``read_only`` and ``REPEATABLE
READ`` set and reset, as wfsdk must do on the host's pool; and the rows of the one
transaction alone, without building the tree (what the objects cost).

:func:`multiply` makes the bigger workflows of the growth table: copies of the demo's
stages, sub-stages and steps under new ids, written directly (fixture work, outside wfsdk).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from common import psycopg_conninfo, race
from psycopg.rows import dict_row

import wfsdk
from wfsdk.modules.workflow import TREE_STATEMENTS, WorkflowApi, build_tree

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "docs" / "database" / "schema.md"

# The statements tree() sends, word for word, and the tree built from their rows by the
# same public function tree() uses: both sides pay for exactly the same Python.
QUERIES = TREE_STATEMENTS


def _postgres(url: str, stack: list[Any]) -> dict[str, Callable[[], object]]:
    raw = psycopg.connect(psycopg_conninfo(url), row_factory=dict_row)
    raw.read_only = True
    raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    stack.append(raw)
    # The three-transaction variant as it always ran: the server's default level.
    separate = psycopg.connect(psycopg_conninfo(url), row_factory=dict_row)
    separate.read_only = True
    stack.append(separate)

    def fetch_one_transaction() -> list[list[dict[str, Any]]]:
        levels = []
        with raw.cursor() as cursor:
            for sql in QUERIES:
                cursor.execute(sql)
                levels.append(cursor.fetchall())
        raw.commit()
        return levels

    def fetch(sql: str) -> list[dict[str, Any]]:
        with separate.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
        separate.commit()
        return rows

    pool_engine = sa.create_engine(url)
    stack.append(pool_engine)

    def fetch_pooled() -> list[list[dict[str, Any]]]:
        pooled = pool_engine.raw_connection()
        try:
            connection = pooled.driver_connection
            assert connection is not None
            level = connection.isolation_level
            connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            connection.read_only = True
            with connection.cursor(row_factory=dict_row) as cursor:
                levels = []
                for sql in QUERIES:
                    cursor.execute(sql)
                    levels.append(cursor.fetchall())
            connection.commit()
            connection.read_only = False
            connection.isolation_level = level
        finally:
            pooled.close()
        return levels

    engine = sa.create_engine(url).execution_options(
        postgresql_readonly=True, isolation_level="REPEATABLE READ"
    )
    stack.append(engine)
    statements = [sa.text(sql) for sql in QUERIES]

    def core_fetch() -> list[list[dict[str, Any]]]:
        with engine.begin() as conn:
            return [[dict(r) for r in conn.execute(s).mappings()] for s in statements]

    return {
        "raw psycopg": lambda: build_tree(*fetch_one_transaction()),
        "sqlalchemy core": lambda: build_tree(*core_fetch()),
        "raw psycopg, three transactions": lambda: build_tree(*(fetch(sql) for sql in QUERIES)),
        "raw psycopg via the pool": lambda: build_tree(*fetch_pooled()),
        "raw psycopg, rows only": fetch_one_transaction,
    }


def _sqlite(url: str, stack: list[Any]) -> dict[str, Callable[[], object]]:
    path = url.removeprefix("sqlite:///")
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    stack.append(raw)

    def rows_of(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def fetch_one_transaction() -> list[list[dict[str, Any]]]:
        raw.execute("BEGIN")
        levels = [rows_of(raw.execute(sql)) for sql in QUERIES]
        raw.execute("COMMIT")
        return levels

    def fetch(sql: str) -> list[dict[str, Any]]:
        raw.execute("BEGIN")
        rows = rows_of(raw.execute(sql))
        raw.execute("COMMIT")
        return rows

    engine = sa.create_engine(url)
    stack.append(engine)
    statements = [sa.text(sql) for sql in QUERIES]

    def core_fetch() -> list[list[dict[str, Any]]]:
        with engine.connect() as conn:
            return [[dict(r) for r in conn.execute(s).mappings()] for s in statements]

    return {
        "raw sqlite3": lambda: build_tree(*fetch_one_transaction()),
        "sqlalchemy core": lambda: build_tree(*core_fetch()),
        "raw sqlite3, three transactions": lambda: build_tree(*(fetch(sql) for sql in QUERIES)),
        "raw sqlite3, rows only": fetch_one_transaction,
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
