"""wfsdk's schema check beside Alembic's autogenerate comparison, on the same tables.

    python benchmarks/bench_check.py postgresql+psycopg://.../blog [docs/database/schema.md]

What is timed, and why it is a fair race:

* wfsdk: ``wfsdk.schema.compare(connection, contract)`` with the contract already parsed
  (the kernel parses the document once per check too, and parsing is not reflection).
* Alembic: ``alembic.autogenerate.compare_metadata(context, metadata)`` with the
  MetaData built once, before timing, by reflecting the contract's tables (plus the
  tables their foreign keys point to, which SQLAlchemy needs to build the keys).
* Both look at exactly the contract's tables: Alembic's ``include_name`` and
  ``include_object`` hooks keep it from reflecting the rest of the database.
* Both reflect afresh on every run: ``compare`` makes a new Inspector each call and
  ``compare_metadata`` a new autogenerate context (and so a new Inspector) each call.
* Same connection, same process, runs interleaved (wfsdk, Alembic, wfsdk, ...) after one
  warm-up of each, so that caches and server state favour neither. Medians are reported.

Alembic compares a little more than wfsdk (indexes) and a little less (enum labels,
nullability of undocumented columns is skipped by wfsdk); both answer the same
question for a person: does the live schema still match what we rely on?

:func:`scale` makes the bigger schemas of the growth table: copies of the demo's tables
under new names (``post_c1``, ...) with their keys and constraints pointing at each other,
and a contract documenting every copy (the shipped one, renamed the same way).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.schema import CreateTable

from wfsdk.demo import schema as demo_schema
from wfsdk.schema import compare, load_contract

DEFAULT_CONTRACT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "docs", "database", "schema.md"
)


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run(url: str, contract_path: str, repeat: int = 20) -> dict[str, Any]:
    """Time both comparisons ``repeat`` times; the ratio is wfsdk's median over Alembic's."""
    contract = load_contract(contract_path)
    tables = set(contract.tables)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            metadata = sa.MetaData()
            metadata.reflect(conn, only=sorted(tables))
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _parent: kind != "table" or name in tables,
                    "include_object": lambda _obj, name, kind, _reflected, _other: (
                        kind != "table" or name in tables
                    ),
                },
            )
            report = compare(conn, contract)
            alembic_diffs = compare_metadata(context, metadata)
            wfsdk_times: list[float] = []
            alembic_times: list[float] = []
            for _ in range(repeat):
                wfsdk_times.append(_timed(lambda: compare(conn, contract)))
                alembic_times.append(_timed(lambda: compare_metadata(context, metadata)))
            dialect = conn.dialect.name
    finally:
        engine.dispose()
    wfsdk_median = statistics.median(wfsdk_times)
    alembic_median = statistics.median(alembic_times)
    return {
        "dialect": dialect,
        "tables": len(tables),
        "repeat": repeat,
        "wfsdk_median_s": wfsdk_median,
        "alembic_median_s": alembic_median,
        "wfsdk_min_s": min(wfsdk_times),
        "alembic_min_s": min(alembic_times),
        "ratio": wfsdk_median / alembic_median,
        "wfsdk_ok": report.ok,
        "alembic_differences": len(alembic_diffs),
    }


def scale(url: str, copies: int, contract_path: str | os.PathLike[str], out: Path) -> Path:
    """Add ``copies - 1`` renamed copies of the demo tables to the demo database at ``url``.

    Returns a contract (written to ``out``) documenting the original tables and every copy.
    Fixture work, outside wfsdk: the DDL goes straight to the database.
    """
    names = sorted(demo_schema.metadata.tables, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w])(" + "|".join(map(re.escape, names)) + r")(?![\w])")
    text = Path(contract_path).read_text(encoding="utf-8")
    first = text.index("## Table:")
    head, body = text[:first], text[first:]

    def renamed(source: str, copy: int) -> str:
        return source if copy == 0 else pattern.sub(lambda m: f"{m.group(1)}_c{copy}", source)

    engine = sa.create_engine(url)
    try:
        ddl = [
            str(CreateTable(table).compile(dialect=engine.dialect))
            for table in demo_schema.metadata.sorted_tables
        ]
        with engine.begin() as conn:
            for copy in range(1, copies):
                for statement in ddl:
                    conn.exec_driver_sql(renamed(statement, copy))
    finally:
        engine.dispose()
    out.write_text(head + "".join(renamed(body, copy) for copy in range(copies)), encoding="utf-8")
    return out


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else os.environ.get("WFSDK_DSN", "")
    if not url:
        print("usage: bench_check.py DATABASE_URL [CONTRACT]", file=sys.stderr)
        return 2
    contract = argv[2] if len(argv) > 2 else os.environ.get("WFSDK_CONTRACT", DEFAULT_CONTRACT)
    result = run(url, contract)
    print(json.dumps(result, indent=2))
    print(
        f"wfsdk compare: {result['wfsdk_median_s'] * 1000:.1f} ms, Alembic compare_metadata: "
        f"{result['alembic_median_s'] * 1000:.1f} ms, ratio {result['ratio']:.2f} "
        "(target: at most 0.50)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
