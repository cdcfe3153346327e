"""A one-row SELECT through ``kernel.execute_query`` beside the same read done by hand.

    python benchmarks/bench_read.py postgresql+psycopg://.../db   (a demo database)

What each side does per call (PostgreSQL):

* wfsdk: ``kernel.execute_query(SQL, (1,))`` as the host: parameters bound, the guard's
  cached classification, access and contract checks (cached per statement), a pooled
  connection, ``BEGIN READ ONLY`` / the SELECT / ``COMMIT``, rows as dicts, ``on_read``
  (no plugin listening).
* raw psycopg: one connection opened before timing and never given back (no pool), set
  ``read_only`` once; per call a cursor, the same SELECT, ``fetchall`` as dicts, ``COMMIT``.
  The server sees the same three statements as from wfsdk.
* raw psycopg via the pool: the same, but the connection comes from and goes back to a
  SQLAlchemy pool each call, as wfsdk's does (``read_only`` set and reset each call).
* SQLAlchemy Core: ``with engine.begin() as conn: conn.execute(text(...), params)``
  ``.mappings().all()`` on an engine with ``postgresql_readonly``; same three statements.

psycopg prepares a statement on the server after its fifth execution on a connection;
that applies to every side alike (wfsdk and SQLAlchemy leave psycopg's default).

SQLite: wfsdk runs ``BEGIN`` / ``PRAGMA query_only = ON`` / the SELECT / ``COMMIT`` /
``PRAGMA query_only = OFF``; raw sqlite3 opens the file read-only (``mode=ro``) once and
runs ``BEGIN`` / the SELECT / ``COMMIT``; SQLAlchemy Core runs the SELECT in
``engine.connect()`` (pysqlite begins no transaction for a SELECT).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from common import micro, psycopg_conninfo, race
from psycopg.rows import dict_row

import wfsdk

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "docs" / "database" / "schema.md"

SQL = "SELECT id, name, stage_order FROM workflow_stage_entity WHERE id = %s"
SQL_NAMED = "SELECT id, name, stage_order FROM workflow_stage_entity WHERE id = :id"
SQL_SQLITE = "SELECT id, name, stage_order FROM workflow_stage_entity WHERE id = ?"
EXPECTED = [{"id": 1, "name": "Planning", "stage_order": 1}]


def _postgres_contenders(url: str, kernel: wfsdk.Kernel, stack: list[Any]) -> dict[str, Any]:
    raw = psycopg.connect(psycopg_conninfo(url), row_factory=dict_row)
    raw.read_only = True
    stack.append(raw)

    def raw_psycopg() -> list[dict[str, Any]]:
        with raw.cursor() as cursor:
            cursor.execute(SQL, (1,))
            rows = cursor.fetchall()
        raw.commit()
        return rows

    pool_engine = sa.create_engine(url)
    stack.append(pool_engine)

    def raw_psycopg_pooled() -> list[dict[str, Any]]:
        pooled = pool_engine.raw_connection()
        try:
            connection = pooled.driver_connection
            assert connection is not None
            connection.read_only = True
            with connection.cursor(row_factory=dict_row) as cursor:
                cursor.execute(SQL, (1,))
                rows: list[dict[str, Any]] = cursor.fetchall()
            connection.commit()
            connection.read_only = False
        finally:
            pooled.close()
        return rows

    core_engine = sa.create_engine(url).execution_options(postgresql_readonly=True)
    stack.append(core_engine)
    statement = sa.text(SQL_NAMED)

    def sqlalchemy_core() -> list[dict[str, Any]]:
        with core_engine.begin() as conn:
            return [dict(r) for r in conn.execute(statement, {"id": 1}).mappings().all()]

    return {
        "raw psycopg": raw_psycopg,
        "raw psycopg via pool": raw_psycopg_pooled,
        "sqlalchemy core": sqlalchemy_core,
    }


def _sqlite_contenders(url: str, stack: list[Any]) -> dict[str, Any]:
    path = url.removeprefix("sqlite:///")
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    stack.append(raw)

    def raw_sqlite() -> list[dict[str, Any]]:
        raw.execute("BEGIN")
        cursor = raw.execute(SQL_SQLITE, (1,))
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        raw.execute("COMMIT")
        return rows

    core_engine = sa.create_engine(url)
    stack.append(core_engine)
    statement = sa.text(SQL_NAMED)

    def sqlalchemy_core() -> list[dict[str, Any]]:
        with core_engine.connect() as conn:
            return [dict(r) for r in conn.execute(statement, {"id": 1}).mappings().all()]

    return {"raw sqlite3": raw_sqlite, "sqlalchemy core": sqlalchemy_core}


def run(url: str, *, rounds: int = 30, batch: int = 200) -> dict[str, Any]:
    kernel = wfsdk.connect(url, plugins=[], contract=CONTRACT)
    stack: list[Any] = [kernel]
    try:
        postgres = url.startswith("postgresql")

        def wfsdk_read() -> Any:
            return kernel.execute_query(SQL, (1,)).rows

        contenders: dict[str, Any] = {"wfsdk": wfsdk_read}
        if postgres:
            contenders.update(_postgres_contenders(url, kernel, stack))
        else:
            contenders.update(_sqlite_contenders(url, stack))
        for name, action in contenders.items():
            rows = [dict(r) for r in action()]
            assert rows == EXPECTED, (name, rows)
        timings = race(contenders, rounds=rounds, batch=batch)
        named, _bound, _ = kernel.prepare(SQL, (1,), "host")
        guard = {
            "classify_cached_s": micro(lambda: kernel.guard.classify(named)),
            "bind_and_classify_s": micro(lambda: kernel.prepare(SQL, (1,), "host")),
            "cache": str(kernel.guard.cache_stats()),
        }
    finally:
        for item in reversed(stack):
            (item.dispose if isinstance(item, sa.Engine) else item.close)()
    return {"dialect": "postgresql" if postgres else "sqlite", "timings": timings, "guard": guard}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: bench_read.py DATABASE_URL (a wfsdk demo database)", file=sys.stderr)
        return 2
    print(json.dumps(run(argv[1]), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
