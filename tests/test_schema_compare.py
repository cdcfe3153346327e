"""The documented schema against live databases: PostgreSQL, SQLite and the real blog dump."""

from __future__ import annotations

import importlib.util
import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from wfsdk.errors import ConfigurationError
from wfsdk.schema import (
    Contract,
    compare,
    contract_of,
    load_contract,
    parse_contract,
    reflect,
    snapshot,
    suggest_column,
)
from wfsdk.values import MismatchReport

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "docs" / "database" / "schema.md"
READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|PRAGMA|BEGIN|ROLLBACK|COMMIT)\b", re.I)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def run_ddl(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def doc(text: str) -> Contract:
    contract = parse_contract(textwrap.dedent(text).lstrip("\n"), "doc.md")
    assert contract.problems == ()
    return contract


def statements_during(engine: sa.Engine, action: Any) -> list[str]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return seen


# --- the real database --------------------------------------------------------------------


def test_shipped_contract_matches_the_blog_database(blog_url: str) -> None:
    engine = sa.create_engine(blog_url)
    try:
        with engine.connect() as conn:
            report = compare(conn, load_contract(SHIPPED))
    finally:
        engine.dispose()
    assert report.ok, report.to_text()
    assert report.dialect == "postgresql"
    assert len(report.tables) == 11 and report.enums == ("post_status",)
    assert any("not in the document" in item and "image" in item for item in report.information)
    assert report.to_text().startswith(f"Schema check of {SHIPPED} against postgresql: OK")
    assert json.loads(report.to_json())["ok"] is True


def test_compare_sends_nothing_but_catalog_reads(blog_url: str, pg_log: Any) -> None:
    engine = sa.create_engine(blog_url)
    contract = load_contract(SHIPPED)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            pg_log.mark()
            compare(conn, contract)
            sent = pg_log.statements()
    finally:
        engine.dispose()
    assert sent, "the server log shows no statement at all"
    assert all(READ_ONLY.match(s) for s in sent), [s for s in sent if not READ_ONLY.match(s)]


def test_guide_example_column_is_unknown_and_a_suggestion_is_given(blog_url: str) -> None:
    # The integration guide's own example: SELECT * FROM workflow_stage_entity ORDER BY
    # order_index. Neither the document nor the database has that column.
    contract = load_contract(SHIPPED)
    engine = sa.create_engine(blog_url)
    try:
        with engine.connect() as conn:
            live = reflect(conn, ["workflow_stage_entity"])
    finally:
        engine.dispose()
    assert "order_index" not in live.tables["workflow_stage_entity"].columns
    assert "order_index" not in (contract.columns_of("workflow_stage_entity") or ())
    assert suggest_column(contract, "workflow_stage_entity", "order_index") == "stage_order"


def test_snapshot_of_the_blog_database_parses_back_and_passes(blog_url: str) -> None:
    engine = sa.create_engine(blog_url)
    try:
        with engine.connect() as conn:
            text = snapshot(conn)
            contract = parse_contract(text, "snapshot.md")
            assert contract.problems == ()
            assert contract == contract_of(reflect(conn))
            assert compare(conn, contract).ok
            assert len(contract.tables) == 42 and "workflowstage" in contract.enums
            some = parse_contract(snapshot(conn, ["post", "workflow_stage_entity"]))
            assert list(some.tables) == ["post", "workflow_stage_entity"]
            assert list(some.enums) == ["post_status"]  # only the enums those tables use
            with pytest.raises(ConfigurationError, match="nope"):
                snapshot(conn, ["post", "nope"])
    finally:
        engine.dispose()
    assert "INSERT" not in text and "COPY" not in text  # structure only


# --- every kind of difference, on both engines ----------------------------------------


SCHEMA = (
    "CREATE TABLE stage (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE,"
    " stage_order INTEGER NOT NULL, extra TEXT)",
    "CREATE TABLE step (id INTEGER NOT NULL PRIMARY KEY, stage_id INTEGER REFERENCES stage(id),"
    " name VARCHAR(50), weight REAL, config TEXT, UNIQUE (stage_id, name))",
    "CREATE TABLE keyless (a INTEGER NOT NULL, b TEXT)",
)

CONTRACT = """
## Table: stage
| Column | Type | Nullable | Description |
|---|---|---|---|
| id | INTEGER | NO | Primary key |
| name | VARCHAR(100) | NO | Unique |
| stage_order | INTEGER | NO | |
| missing_col | TEXT | YES | |

## Table: step
| Column | Type | Nullable | Description |
|---|---|---|---|
| id | INTEGER | NO | Primary key |
| stage_id | INTEGER | YES | References stage(id) |
| name | VARCHAR(64) | YES | |
| weight | REAL | NO | |
| config | TEXT | YES | References stage(id) |

UNIQUE(stage_id, weight)

## Table: ghost
| Column | Type | Description |
|---|---|---|
| id | INTEGER | |

## Table: keyless
| Column | Type | Description |
|---|---|---|
| a | INTEGER | Primary key |
| b | TEXT | |
"""


def test_each_kind_of_difference_is_reported_with_have_want_and_source(
    engine: sa.Engine,
) -> None:
    run_ddl(engine, *SCHEMA)
    contract = doc(CONTRACT)
    with engine.connect() as conn:
        report = compare(conn, contract)
    found = {(d.table, d.kind, d.column) for d in report.differences}
    assert found == {
        ("stage", "missing_column", "missing_col"),
        ("step", "type", "name"),
        ("step", "nullability", "weight"),
        ("step", "foreign_key", "config"),
        ("step", "unique", None),
        ("ghost", "missing_table", None),
        ("keyless", "primary_key", None),
    }
    by_kind = {d.kind: d for d in report.differences}
    lines = textwrap.dedent(CONTRACT).lstrip("\n").splitlines()

    def source_of(needle: str) -> str:
        return f"doc.md:{next(i for i, t in enumerate(lines, 1) if needle in t)}"

    assert by_kind["type"].want == "VARCHAR(64)"
    assert by_kind["type"].have == "VARCHAR(50)"
    assert by_kind["type"].source == source_of("| name | VARCHAR(64)")
    assert (by_kind["nullability"].want, by_kind["nullability"].have) == (
        "NOT NULL",
        "NULL allowed",
    )
    assert by_kind["foreign_key"].have == "no foreign key on (config)"
    assert by_kind["unique"].want == "UNIQUE (stage_id, weight)"
    assert by_kind["unique"].source == source_of("UNIQUE(stage_id, weight)")
    assert by_kind["primary_key"].have == "no primary key"
    assert by_kind["missing_table"].source == source_of("## Table: ghost")
    assert any(
        "stage: columns in the database but not in the document: extra" in i
        for i in report.information
    )
    assert any("UNIQUE (stage_id, name) is not in the document" in i for i in report.information)

    text = report.to_text()
    assert "MISMATCH, 7 difference(s)" in text
    assert "Table step" in text and "want: VARCHAR(64)" in text and "have: VARCHAR(50)" in text
    data = json.loads(report.to_json())
    assert data["format"] == "wfsdk-schema-report/1" and data["ok"] is False
    assert {d["kind"] for d in data["differences"]} == {k for _, k, _ in found}
    assert set(data["differences"][0]) == {"table", "kind", "column", "want", "have", "source"}
    mismatch = report.to_mismatch_report()
    assert isinstance(mismatch, MismatchReport)
    assert mismatch.differences == report.differences and mismatch.text == text


def test_compare_only_reads(engine: sa.Engine) -> None:
    run_ddl(engine, *SCHEMA)
    contract = doc(CONTRACT)
    with engine.connect() as conn:
        sent = statements_during(engine, lambda: compare(conn, contract))
    assert sent
    assert all(READ_ONLY.match(s) for s in sent), sent


def test_extra_tables_and_columns_are_information_only(engine: sa.Engine) -> None:
    run_ddl(engine, *SCHEMA)
    contract = doc(
        """
        ## Table: stage
        | Column | Type | Description |
        |---|---|---|
        | id | INTEGER | |
        """
    )
    with engine.connect() as conn:
        report = compare(conn, contract)
    assert report.ok, report.to_text()
    info = "\n".join(report.information)
    assert "name, stage_order, extra" in info
    assert "keyless, step" in info


# --- what each dialect calls the same type --------------------------------------------


def test_postgresql_aliases(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    run_ddl(
        engine,
        "CREATE TYPE mood AS ENUM ('happy', 'sad', 'ok')",
        "CREATE TABLE t (id SERIAL PRIMARY KEY, ident INTEGER GENERATED ALWAYS AS IDENTITY,"
        " plain INTEGER NOT NULL, f DOUBLE PRECISION, v CHARACTER VARYING(12),"
        " ts TIMESTAMP WITHOUT TIME ZONE, tz TIMESTAMPTZ, j JSONB, b BOOL, m mood, a INT4[])",
    )
    contract = doc(
        """
        ## Enum: mood
        - happy
        - ok
        - sad

        ## Enum: absent
        - x

        ## Table: t
        | Column | Type | Description |
        |---|---|---|
        | id | SERIAL (PK) | |
        | ident | SERIAL | |
        | plain | SERIAL | |
        | f | FLOAT | |
        | v | VARCHAR(12) | |
        | ts | TIMESTAMP | |
        | tz | TIMESTAMP | |
        | j | JSONB | |
        | b | BOOLEAN | |
        | m | mood | |
        | a | INTEGER[] | |
        """
    )
    try:
        with engine.connect() as conn:
            report = compare(conn, contract)
    finally:
        engine.dispose()
    found = {(d.table, d.kind, d.column): d for d in report.differences}
    assert set(found) == {
        ("t", "type", "plain"),
        ("t", "type", "tz"),
        ("mood", "enum_labels", None),
        ("absent", "enum_labels", None),
    }, report.to_text()
    assert found["t", "type", "plain"].want == "SERIAL (integer with a sequence)"
    assert found["t", "type", "tz"].have == "TIMESTAMPTZ"
    assert found["mood", "enum_labels", None].want == "'happy', 'ok', 'sad'"
    assert found["mood", "enum_labels", None].have == "'happy', 'sad', 'ok'"
    assert found["absent", "enum_labels", None].have == "no such enum type"


def test_sqlite_aliases(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    run_ddl(
        engine,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, j1 JSONB, j2 JSON, j3 TEXT, s VARCHAR(11),"
        " d DATETIME, f FLOAT, dp DOUBLE PRECISION, big BIGINT, tz TIMESTAMPTZ, n INTEGER)",
    )
    contract = doc(
        """
        ## Enum: post_status
        - draft

        ## Table: t
        | Column | Type | Nullable | Description |
        |---|---|---|---|
        | id | SERIAL (PK) | NO | |
        | j1 | JSONB | YES | |
        | j2 | JSONB | YES | |
        | j3 | JSONB | YES | |
        | s | post_status | YES | |
        | d | TIMESTAMP | YES | |
        | f | FLOAT | YES | |
        | dp | DOUBLE PRECISION | YES | |
        | big | INTEGER | YES | |
        | tz | TIMESTAMPTZ | YES | |
        | n | TEXT | YES | |
        """
    )
    try:
        with engine.connect() as conn:
            report = compare(conn, contract)
    finally:
        engine.dispose()
    assert [(d.kind, d.column) for d in report.differences] == [("type", "n")], report.to_text()
    assert any("no enum types" in item for item in report.information)


def test_snapshot_round_trip_on_both_engines(engine: sa.Engine) -> None:
    run_ddl(
        engine,
        *SCHEMA,
        'CREATE TABLE "Odd" ("Key" INTEGER NOT NULL, "order" TEXT, PRIMARY KEY ("Key"))',
        "CREATE TABLE pair (a INTEGER NOT NULL, b INTEGER NOT NULL, c INTEGER, d INTEGER,"
        " PRIMARY KEY (a, b), FOREIGN KEY (c, d) REFERENCES pair (a, b), UNIQUE (c, d))",
    )
    with engine.connect() as conn:
        text = snapshot(conn)
        contract = parse_contract(text, "snapshot.md")
        assert contract.problems == (), text
        assert contract == contract_of(reflect(conn))
        assert compare(conn, contract).ok
    assert contract.tables["pair"].primary_key is not None
    assert contract.tables["Odd"].columns["Key"].nullable is False


def test_benchmark_runs_on_the_blog_database(blog_url: str) -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_check", REPO / "benchmarks" / "bench_check.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.run(blog_url, str(SHIPPED), repeat=2)
    assert result["wfsdk_ok"] is True and result["alembic_differences"] == 0
    assert result["tables"] == 11 and result["ratio"] > 0
