"""Properties of the schema contract, on random documents and random live schemas.

* Any contract written out as a document parses back to the same contract.
* A random schema created in SQLite or PostgreSQL, snapshotted, parsed and compared with
  the database it came from passes; after one random change to that database, exactly
  that change is reported and nothing else (an added column is information only).

The change is made by dropping the schema and creating the changed one, which works
alike on both engines (SQLite cannot alter most of these things in place).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from wfsdk.schema import (
    ColumnSpec,
    Contract,
    EnumSpec,
    ForeignKeySpec,
    PrimaryKeySpec,
    SqlType,
    TableSpec,
    UniqueSpec,
    compare,
    parse_contract,
    render,
    snapshot,
)

# --- documents: render, then parse ---------------------------------------------------------

CANONICAL_TYPES = [
    SqlType("integer"),
    SqlType("bigint"),
    SqlType("smallint"),
    SqlType("integer", serial=True),
    SqlType("bigint", serial=True),
    SqlType("real"),
    SqlType("double precision"),
    SqlType("numeric"),
    SqlType("numeric", (10, 2)),
    SqlType("varchar"),
    SqlType("varchar", (40,)),
    SqlType("char", (3,)),
    SqlType("text"),
    SqlType("boolean"),
    SqlType("date"),
    SqlType("time"),
    SqlType("timetz"),
    SqlType("timestamp"),
    SqlType("timestamp", (3,)),
    SqlType("timestamptz"),
    SqlType("interval"),
    SqlType("json"),
    SqlType("jsonb"),
    SqlType("uuid"),
    SqlType("bytea"),
    SqlType("inet"),
    SqlType("integer", array=1),
    SqlType("text", array=2),
]

NAMES = st.sampled_from(["id", "name", "post_id", "order", "Key", "value_2", "status"])
TEXTS = st.sampled_from(
    ["", "a plain note", "unique, references post(id), NOT NULL: prose only", "a | b", "`code`"]
)
DEFAULTS = st.sampled_from([None, "0", "'x'::text", "CURRENT_TIMESTAMP", "'a|b'", "now()"])
LABELS = st.lists(
    st.text("abcxyz_- 19", min_size=1, max_size=6).map(str.strip).filter(bool),
    min_size=1,
    max_size=4,
    unique=True,
)


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    enums = {
        name: EnumSpec(name, tuple(draw(LABELS)))
        for name in draw(st.lists(st.sampled_from(["mood", "post_status"]), unique=True))
    }
    types = CANONICAL_TYPES + [SqlType(name, user=True) for name in enums]
    tables: dict[str, TableSpec] = {}
    table_names = draw(
        st.lists(st.sampled_from(["post", "stage", "Odd", "llm_action"]), min_size=1, unique=True)
    )
    for table_name in table_names:
        names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
        pk = tuple(draw(st.lists(st.sampled_from(names), max_size=2, unique=True)))
        columns = {}
        for name in names:
            nullable = False if name in pk else draw(st.sampled_from([None, True, False]))
            columns[name] = ColumnSpec(
                name,
                draw(st.sampled_from(types)),
                nullable,
                draw(DEFAULTS),
                draw(TEXTS),
            )
        fks: dict[Any, ForeignKeySpec] = {}
        for _ in range(draw(st.integers(0, 3))):
            cols = tuple(
                draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
            )
            target = draw(st.sampled_from([*table_names, "image", "public_x"]))
            refs = draw(st.sampled_from([(), tuple(f"r{i}" for i in range(len(cols)))]))
            fk = ForeignKeySpec(cols, target, refs)
            fks[(fk.columns, fk.ref_table, fk.ref_columns)] = fk
        uniques: dict[frozenset[str], UniqueSpec] = {}
        for _ in range(draw(st.integers(0, 2))):
            cols = tuple(
                draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
            )
            uniques.setdefault(frozenset(cols), UniqueSpec(cols))
        tables[table_name] = TableSpec(
            table_name,
            columns,
            PrimaryKeySpec(pk) if pk else None,
            tuple(fks.values()),
            tuple(uniques.values()),
            draw(st.booleans()),
        )
    return Contract(tables, enums)


@given(contracts())
@settings(max_examples=150, deadline=None)
def test_a_written_contract_parses_back_to_itself(contract: Contract) -> None:
    text = render(contract)
    note(text)
    parsed = parse_contract(text, "written.md")
    assert parsed.problems == ()
    assert parsed == contract


@pytest.mark.parametrize("sql_type", CANONICAL_TYPES, ids=lambda t: t.render())
def test_each_type_renders_to_text_that_reads_back(sql_type: SqlType) -> None:
    text = f"## Table: t\n| Column | Type | Description |\n|-|-|-|\n| c | {sql_type.render()} | |\n"
    assert parse_contract(text).tables["t"].columns["c"].type == sql_type


# --- live schemas: snapshot, check, change one thing, check again -------------------------

UNIQUE_SAFE = {"INTEGER", "BIGINT", "TEXT", "VARCHAR(20)", "BOOLEAN", "DATE", "NUMERIC(10, 2)"}
COMMON_TYPES = [
    "INTEGER",
    "BIGINT",
    "SMALLINT",
    "TEXT",
    "VARCHAR(20)",
    "BOOLEAN",
    "NUMERIC(10, 2)",
    "DATE",
    "TIMESTAMP",
    "REAL",
    "DOUBLE PRECISION",
    "CHAR(3)",
]
DIALECT_TYPES = {
    "postgresql": ["JSONB", "JSON", "UUID", "TIMESTAMPTZ", "INTEGER[]", "INTERVAL", "BYTEA"],
    "sqlite": ["JSON", "JSONB", "DATETIME", "BLOB", "TIME"],
}
TEXTUAL = ("TEXT", "VARCHAR", "CHAR", "JSON")


@attrs.define
class Col:
    name: str
    type: str
    nullable: bool
    unique: bool = False
    references: str | None = None


@attrs.define
class Tab:
    name: str
    columns: list[Col]
    primary_key: bool = True
    serial: bool = False
    uniques: list[tuple[str, str]] = attrs.field(factory=list)


@attrs.define
class Schema:
    tables: list[Tab]
    enum: tuple[str, ...] | None = None

    def referenced(self) -> set[str]:
        return {c.references for t in self.tables for c in t.columns if c.references}


KINDS = [
    "add_column",
    "drop_column",
    "change_type",
    "flip_nullability",
    "drop_primary_key",
    "drop_foreign_key",
    "drop_unique",
    "change_enum",
]


@st.composite
def schemas(draw: st.DrawFn, dialect: str, kind: str) -> Schema:
    """A random schema that has what ``kind`` of change needs (an FK to drop, ...)."""
    types = COMMON_TYPES + DIALECT_TYPES[dialect]
    enum = None
    if dialect == "postgresql" and (kind == "change_enum" or draw(st.booleans())):
        labels = st.sampled_from(["low", "mid", "high", "odd one"])
        enum = tuple(draw(st.lists(labels, min_size=1, max_size=3, unique=True)))
        types = [*types, "mood"]
    tables: list[Tab] = []
    count = draw(st.integers(1, 3))
    for index in range(count):
        columns = [Col("id", "INTEGER", False)]
        extra = draw(st.lists(st.sampled_from(types), min_size=1, max_size=4))
        for number, col_type in enumerate(extra):
            # c0 is never part of a key, so that every schema has a plain column.
            unique = number > 0 and col_type in UNIQUE_SAFE and draw(st.booleans())
            name = ["c0", "order", "c2", "c3"][number]
            columns.append(Col(name, col_type, draw(st.booleans()), unique=unique))
        for target in range(index + 1):
            if kind == "drop_primary_key" and index == count - 1 and target == index:
                continue  # keep one table that no key refers to
            forced = kind == "drop_foreign_key" and index == count - 1 and target == 0
            if forced or draw(st.booleans()):
                columns.append(Col(f"ref_t{target}", "INTEGER", True, references=f"t{target}"))
        if kind == "drop_unique" and index == 0:
            columns.append(Col("u", "INTEGER", True, unique=True))
        table = Tab(f"t{index}", columns, serial=dialect == "postgresql" and draw(st.booleans()))
        pairable = [c.name for c in columns[2:] if c.type in UNIQUE_SAFE and not c.unique]
        if len(pairable) >= 2 and draw(st.booleans()):
            table.uniques.append((pairable[0], pairable[1]))
        tables.append(table)
    return Schema(tables, enum)


def q(name: str) -> str:
    return f'"{name}"'


def create(conn: sa.Connection, schema: Schema) -> None:
    if schema.enum is not None:
        labels = ", ".join("'" + label + "'" for label in schema.enum)
        conn.exec_driver_sql(f"CREATE TYPE mood AS ENUM ({labels})")
    for table in schema.tables:
        parts = []
        for column in table.columns:
            col_type = "SERIAL" if column.name == "id" and table.serial else column.type
            part = f"{q(column.name)} {col_type}" + ("" if column.nullable else " NOT NULL")
            if column.unique:
                part += " UNIQUE"
            if column.references:
                part += f" REFERENCES {q(column.references)} (id)"
            parts.append(part)
        if table.primary_key:
            parts.append("PRIMARY KEY (id)")
        parts += [f"UNIQUE ({q(a)}, {q(b)})" for a, b in table.uniques]
        conn.exec_driver_sql(f"CREATE TABLE {q(table.name)} ({', '.join(parts)})")


def drop_everything(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        names = sa.inspect(conn).get_table_names()
        cascade = " CASCADE" if engine.dialect.name == "postgresql" else ""
        for name in names:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(name)}{cascade}")
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP TYPE IF EXISTS mood CASCADE")


Expected = tuple[str, str, str | None] | None


def change(draw: st.DrawFn, schema: Schema, kind: str) -> tuple[Schema, Expected]:
    """Apply one ``kind`` of change to a copy of ``schema``; the difference it must cause."""
    changed = copy.deepcopy(schema)
    referenced = changed.referenced()
    if kind == "add_column":
        table = draw(st.sampled_from(changed.tables))
        table.columns.append(Col("added", "TEXT", True))
        return changed, None
    if kind in ("drop_column", "change_type", "flip_nullability"):
        plain = [
            (t.name, c.name)
            for t in changed.tables
            for c in t.columns[1:]
            if not c.unique and not c.references and all(c.name not in u for u in t.uniques)
        ]
        table_name, column_name = draw(st.sampled_from(plain))
        table = next(t for t in changed.tables if t.name == table_name)
        column = next(c for c in table.columns if c.name == column_name)
        if kind == "drop_column":
            table.columns.remove(column)
            return changed, (table.name, "missing_column", column.name)
        if kind == "change_type":
            if column.type.startswith("VARCHAR"):
                column.type = "VARCHAR(27)"
            elif column.type.startswith(TEXTUAL):
                column.type = "INTEGER"
            else:
                column.type = "TEXT"
            return changed, (table.name, "type", column.name)
        column.nullable = not column.nullable
        return changed, (table.name, "nullability", column.name)
    if kind == "drop_primary_key":
        table = draw(st.sampled_from([t for t in changed.tables if t.name not in referenced]))
        table.primary_key = False
        return changed, (table.name, "primary_key", None)
    if kind == "drop_foreign_key":
        table, column = draw(
            st.sampled_from([(t, c) for t in changed.tables for c in t.columns if c.references])
        )
        column.references = None
        return changed, (table.name, "foreign_key", column.name)
    if kind == "drop_unique":
        candidates: list[tuple[Tab, str | None]] = [
            (t, c.name) for t in changed.tables for c in t.columns if c.unique
        ] + [(t, None) for t in changed.tables if t.uniques]
        table, name = draw(st.sampled_from(candidates))
        if name is None:
            table.uniques.clear()
        else:
            next(c for c in table.columns if c.name == name).unique = False
        return changed, (table.name, "unique", name)
    assert kind == "change_enum" and changed.enum is not None
    labels = list(changed.enum)
    if len(labels) > 1 and draw(st.booleans()):
        labels[0], labels[-1] = labels[-1], labels[0]
    else:
        labels[-1] = labels[-1] + "_renamed"
    changed.enum = tuple(labels)
    return changed, ("mood", "enum_labels", None)


def check_one_change(engine: sa.Engine, data: st.DataObject, dialect: str) -> None:
    kinds = KINDS if dialect == "postgresql" else KINDS[:-1]
    kind = data.draw(st.sampled_from(kinds), label="kind")
    event(kind)
    schema = data.draw(schemas(dialect, kind), label="schema")
    drop_everything(engine)
    try:
        with engine.begin() as conn:
            create(conn, schema)
        with engine.connect() as conn:
            text = snapshot(conn)
            contract = parse_contract(text, "snapshot.md")
            assert contract.problems == (), text
            before = compare(conn, contract)
        assert before.ok, before.to_text()

        changed, expected = change(data.draw, schema, kind)
        note(f"changed: {changed!r}, expecting {expected}")
        drop_everything(engine)
        with engine.begin() as conn:
            create(conn, changed)
        with engine.connect() as conn:
            after = compare(conn, contract)
        found = [(d.table, d.kind, d.column) for d in after.differences]
        assert found == ([expected] if expected else []), after.to_text()
        if kind == "add_column":
            assert any("added" in item for item in after.information), after.information
    finally:
        drop_everything(engine)


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sqlite_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_url)
    try:
        yield engine
    finally:
        engine.dispose()


DB_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@given(data=st.data())
@DB_SETTINGS
def test_sqlite_snapshot_passes_and_one_change_is_one_difference(
    sqlite_engine: sa.Engine, data: st.DataObject
) -> None:
    check_one_change(sqlite_engine, data, "sqlite")


@given(data=st.data())
@DB_SETTINGS
def test_postgresql_snapshot_passes_and_one_change_is_one_difference(
    pg_engine: sa.Engine, data: st.DataObject
) -> None:
    check_one_change(pg_engine, data, "postgresql")
