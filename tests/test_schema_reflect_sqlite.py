"""SQLite reflection from bulk catalog reads answers exactly as the dialect's per-table reads.

``reflect`` reads SQLite's catalog in a few statements and hands the rows to SQLAlchemy's
own per-table code; ``_reflect(..., bulk_sqlite=False)`` is that code asking the database
table by table, as it did before. On random schemas (odd names, composite and
self-referencing keys, inline and table-level constraints, unique indexes, WITHOUT ROWID,
generated columns, temporary tables shadowing main ones, views, names that differ only in
case) both give the same LiveSchema, raise the same error, and give the same warnings.
The number of statements no longer grows with the number of tables.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from wfsdk.demo import data as demo_data
from wfsdk.schema import compare, load_contract
from wfsdk.schema.reflect import LiveSchema, _reflect, reflect

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "docs" / "database" / "schema.md"

# Quoted everywhere, so keywords, spaces, quotes and brackets are all fair names.
NAMES = [
    "t",
    "Parent",
    "child",
    "order",
    "select",
    "my table",
    'we"ird',
    "tàble",
    "a-b",
    "x_y",
    "[br]",
    "back`tick",
    "UNIQUE",
    "references",
    "p(q)",
    "id",
    "Name",
    "c1",
]
TYPES = [
    "INTEGER",
    "INTEGER(11)",
    "INT",
    "BIGINT",
    "SMALLINT",
    "UNSIGNED BIG INT",
    "VARCHAR(40)",
    "CHARACTER VARYING(12)",
    "NVARCHAR(5)",
    "CHAR(3)",
    "TEXT",
    "CLOB",
    "NUMERIC",
    "NUMERIC(10, 2)",
    "DECIMAL(5,1)",
    "REAL",
    "DOUBLE PRECISION",
    "FLOAT",
    "BOOLEAN",
    "DATE",
    "DATETIME",
    "TIMESTAMP",
    "TIME",
    "BLOB",
    "JSON",
    "weird_type",
    "",
]
DEFAULTS = ["0", "'x'", "CURRENT_TIMESTAMP", "(1 + 1)", "NULL", "-3.5"]


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fold(name: str) -> str:
    return name.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def names(count: st.SearchStrategy[int]) -> st.SearchStrategy[list[str]]:
    """Distinct names as SQLite sees them (ASCII case does not count)."""
    return count.flatmap(
        lambda n: st.lists(st.sampled_from(NAMES), min_size=n, max_size=n, unique_by=_fold)
    )


def picks(options: Sequence[str], size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(options), min_size=size, max_size=size, unique=True)


@st.composite
def schemas(draw: st.DrawFn) -> tuple[list[str], list[str], list[str]]:
    """(main-schema DDL, temporary-table DDL for the reflecting connection, extra names)."""
    tables = draw(names(st.integers(1, 5)))
    columns = {t: draw(names(st.integers(1, 5))) for t in tables}
    keys: dict[str, list[str]] = {}
    statements: list[str] = []
    for table in tables:
        cols = columns[table]
        generated = {c for c in cols[1:] if draw(st.integers(0, 7)) == 0}
        plain = [c for c in cols if c not in generated]
        pk_kind = draw(st.sampled_from(["none", "inline", "table"]))
        pk: list[str] = []
        if pk_kind == "inline":
            pk = [draw(st.sampled_from(plain))]
        elif pk_kind == "table":
            pk = draw(st.lists(st.sampled_from(plain), min_size=1, max_size=3, unique=True))
        keys[table] = pk
        without_rowid = bool(pk) and draw(st.booleans())
        lines = []
        for column in cols:
            sql_type = draw(st.sampled_from(TYPES))
            parts = [q(column), sql_type]
            if column in generated:
                expression = draw(st.sampled_from(["1", "2 * 21", "'g'"]))
                kind = draw(st.sampled_from(["", " VIRTUAL", " STORED"]))
                parts.append(f"GENERATED ALWAYS AS ({expression}){kind}")
            else:
                if draw(st.booleans()):
                    parts.append("NOT NULL")
                if draw(st.integers(0, 3)) == 0:
                    parts.append("DEFAULT " + draw(st.sampled_from(DEFAULTS)))
                if pk_kind == "inline" and column == pk[0]:
                    parts.append("PRIMARY KEY")
                    if sql_type == "INTEGER" and not without_rowid and draw(st.booleans()):
                        parts.append("AUTOINCREMENT")
                elif draw(st.integers(0, 4)) == 0:
                    parts.append("UNIQUE")
                if draw(st.integers(0, 5)) == 0:
                    target = draw(st.sampled_from([*tables, "ghost"]))
                    target_columns = columns.get(target, ["gid"])
                    ref = f"({q(draw(st.sampled_from(target_columns)))})"
                    parts.append(f"REFERENCES {q(target)}" + (ref if draw(st.booleans()) else ""))
            lines.append(" ".join(parts))
        if pk_kind == "table":
            lines.append(f"PRIMARY KEY ({', '.join(map(q, pk))})")
        for number in range(draw(st.integers(0, 2))):
            unique = draw(st.lists(st.sampled_from(plain), min_size=1, max_size=3, unique=True))
            name = f"CONSTRAINT {q(f'uq {table} {number}')} " if draw(st.booleans()) else ""
            lines.append(f"{name}UNIQUE ({', '.join(map(q, unique))})")
        for number in range(draw(st.integers(0, 2))):
            target = draw(st.sampled_from([*tables, table, "ghost"]))
            target_columns = columns.get(target, ["g1", "g2"])
            width = draw(st.integers(1, min(3, len(cols), len(target_columns))))
            local = draw(picks(cols, width))
            remote = draw(picks(target_columns, width))
            refs = f"({', '.join(map(q, remote))})" if draw(st.integers(0, 3)) else ""
            name = f"CONSTRAINT {q(f'fk{number}')} " if draw(st.booleans()) else ""
            action = draw(st.sampled_from(["", " ON DELETE CASCADE", " ON UPDATE SET NULL"]))
            key = f"FOREIGN KEY ({', '.join(map(q, local))}) REFERENCES {q(target)}"
            lines.append(f"{name}{key}{refs}{action}")
        layout = draw(st.sampled_from(["\n  ", " "]))
        body = ("," + layout).join(lines)
        suffix = " WITHOUT ROWID" if without_rowid else ""
        statements.append(f"CREATE TABLE {q(table)} ({layout}{body}){suffix}")
    for number in range(draw(st.integers(0, 3))):
        table = draw(st.sampled_from(tables))
        indexed = draw(
            st.lists(st.sampled_from(columns[table]), min_size=1, max_size=3, unique=True)
        )
        kind = "UNIQUE INDEX" if draw(st.booleans()) else "INDEX"
        what = ", ".join(map(q, indexed))
        shape = draw(st.sampled_from(["plain", "partial", "expression"]))
        if shape == "expression":
            what = f"lower({q(indexed[0])})"
        where = f" WHERE {q(indexed[0])} IS NOT NULL" if shape == "partial" else ""
        statements.append(f"CREATE {kind} {q(f'ix {number}')} ON {q(table)} ({what}){where}")
    extras: list[str] = []
    if draw(st.booleans()):
        statements.append(f"CREATE VIEW {q('a view')} AS SELECT * FROM {q(tables[0])}")
        extras.append("a view")
    temporary: list[str] = []
    if draw(st.booleans()):
        # Shadowing a main table (same name in another case) or standing beside them.
        shadowed = draw(st.sampled_from(tables))
        name = draw(st.sampled_from([shadowed.upper(), shadowed.lower(), shadowed, "scratch"]))
        temporary.append(f"CREATE TEMP TABLE {q(name)} (k INTEGER PRIMARY KEY, v TEXT UNIQUE)")
        extras.append(name)
    extras += draw(st.lists(st.sampled_from([*(t.upper() for t in tables), "missing"]), max_size=2))
    return statements, temporary, extras


Outcome = tuple[str, Any, list[str]]


def outcome(action: Callable[[], LiveSchema]) -> Outcome:
    """What ``action`` returned or raised, with the warnings it gave on the way."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: Any = action()
            kind = "ok"
        except Exception as exc:  # the very same failure is as good as the same answer
            result = (type(exc).__name__, str(exc))
            kind = "error"
    # The same warnings, in whatever order: SQLAlchemy's inspector reflects kind by kind
    # (all columns, then all keys, ...), the bulk path table by table.
    return kind, result, sorted({str(w.message) for w in caught})


def both(conn: sa.Connection, tables: Sequence[str] | None) -> tuple[Outcome, Outcome]:
    wanted = None if tables is None else list(tables)
    return (
        outcome(lambda: _reflect(conn, wanted, bulk_sqlite=False)),
        outcome(lambda: _reflect(conn, wanted, bulk_sqlite=True)),
    )


@contextlib.contextmanager
def database(statements: Sequence[str] = ()) -> Iterator[sa.Engine]:
    """A new SQLite file holding ``statements``' schema (one file per Hypothesis example)."""
    with tempfile.TemporaryDirectory() as directory:
        engine = sa.create_engine(f"sqlite:///{Path(directory) / 'db.sqlite'}")
        try:
            with engine.begin() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
            yield engine
        finally:
            engine.dispose()


def assert_same(conn: sa.Connection, tables: Sequence[str] | None) -> LiveSchema | None:
    plain, bulk = both(conn, tables)
    assert bulk == plain
    return plain[1] if plain[0] == "ok" else None


@given(schemas())
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_bulk_reflection_equals_the_dialects_own(
    schema: tuple[list[str], list[str], list[str]],
) -> None:
    statements, temporary, extras = schema
    note("\n".join([*statements, *temporary]))
    with database(statements) as engine, engine.connect() as conn:
        for statement in temporary:
            conn.exec_driver_sql(statement)
        live = assert_same(conn, None)
        event("reflected" if live is not None else "both failed alike")
        if live is not None:
            keys = sum(len(t.foreign_keys) for t in live.tables.values())
            uniques = sum(len(t.uniques) for t in live.tables.values())
            event(f"foreign keys: {min(keys, 3)}{'+' if keys >= 3 else ''}")
            event(f"uniques: {min(uniques, 3)}{'+' if uniques >= 3 else ''}")
        assert_same(conn, [*reversed(live.table_names if live else ()), *extras])


def test_demo_database_reflects_alike_and_passes_the_shipped_contract(tmp_path: Path) -> None:
    engine = demo_data.build(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    try:
        with engine.connect() as conn:
            live = assert_same(conn, None)
            assert live is not None and len(live.tables) >= 10
            with recorded(conn) as sent:
                assert reflect(conn) == live
            # Everything came from the bulk reads: no statement of the dialect's own.
            assert len(sent) < 10 and not [s for s in sent if s.startswith("PRAGMA")], sent
            contract = load_contract(SHIPPED)
            assert_same(conn, list(contract.tables))
            assert compare(conn, contract).ok
    finally:
        engine.dispose()


def _chain(count: int) -> list[str]:
    """``count`` tables, each with a primary key, a unique column, a composite unique index
    and foreign keys to the one before (the first refers to itself), one of them naming no
    columns (the dialect then reads the referred table's primary key)."""
    statements = []
    for i in range(count):
        parent = f"t{max(i - 1, 0)}"
        statements += [
            f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, code VARCHAR(20) NOT NULL UNIQUE, "
            f"n NUMERIC(10, 2), parent_id INTEGER REFERENCES {parent}(id), "
            f"other_id INTEGER REFERENCES {parent}, "
            f"CONSTRAINT fk_t{i} FOREIGN KEY (parent_id, code) REFERENCES {parent}(id, code))",
            f"CREATE UNIQUE INDEX ix_t{i} ON t{i} (n, parent_id)",
        ]
    return statements


@contextlib.contextmanager
def recorded(conn: sa.Connection) -> Iterator[list[str]]:
    """The statements ``conn`` sends while the block runs."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    sa.event.listen(conn, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(conn, "before_cursor_execute", record)


def _statements(engine: sa.Engine, action: Callable[[sa.Connection], object]) -> int:
    with engine.connect() as conn, recorded(conn) as sent:
        action(conn)
    return len(sent)


def test_statements_do_not_grow_with_the_number_of_tables() -> None:
    bulk: dict[int, int] = {}
    plain: dict[int, int] = {}
    # 600 tables: more names than one statement binds (500), so the reads come in parts.
    for count in (10, 100, 600):
        with database(_chain(count)) as engine:
            tables = [f"t{i}" for i in range(count)]
            bulk[count] = _statements(engine, functools.partial(reflect, tables=tables))
            plain[count] = _statements(
                engine, functools.partial(_reflect, tables=tables, bulk_sqlite=False)
            )
            with engine.connect() as conn:
                live = assert_same(conn, tables)
            assert live is not None
            last = live.tables[f"t{count - 1}"]
            assert last.primary_key == ("id",)
            assert ("code",) in last.uniques
            assert {k.describe() for k in last.foreign_keys} == {
                f"(parent_id) REFERENCES t{max(count - 2, 0)}(id)",
                f"(other_id) REFERENCES t{max(count - 2, 0)}(id)",
                f"(parent_id, code) REFERENCES t{max(count - 2, 0)}(id, code)",
            }
    assert bulk[10] == bulk[100] <= 10
    assert bulk[600] <= bulk[10] + 10
    assert plain[100] >= plain[10] + 90 * 3  # several statements per table, as before


def test_virtual_tables_views_and_case_variants_are_left_to_the_dialect() -> None:
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE probe USING fts5(a)")
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no FTS5 module to make a virtual table with")
    statements = [
        "CREATE TABLE Post (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE)",
        "CREATE TABLE note (id INTEGER PRIMARY KEY, post_id INTEGER REFERENCES post)",
        "CREATE VIRTUAL TABLE search USING fts5(title, body)",
        "CREATE VIEW titles AS SELECT title FROM Post",
    ]
    with database(statements) as engine, engine.connect() as conn:
        names = ["Post", "post", "POST", "note", "search", "search_data", "titles", "nothing"]
        live = assert_same(conn, names)
        assert live is not None and {"Post", "note", "search"} <= set(live.tables)
        # A temporary table of the same name, another case: the dialect's PRAGMA for main
        # finds no foreign keys on "Post" and asks temp, which answers for "POST".
        conn.exec_driver_sql("CREATE TEMP TABLE POST (k INTEGER REFERENCES note(id))")
        assert_same(conn, names)
        assert_same(conn, None)


def _refuse(conn: sa.Connection, refused: Callable[[int, str | None], bool]) -> None:
    def authorizer(action: int, arg1: str | None, *_rest: Any) -> int:
        return sqlite3.SQLITE_DENY if refused(action, arg1) else sqlite3.SQLITE_OK

    conn.connection.driver_connection.set_authorizer(authorizer)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "refused",
    [
        pytest.param(
            lambda action, arg: (
                action == sqlite3.SQLITE_READ and re.match("pragma_", arg or "") is not None
            ),
            id="no-pragma-functions",
        ),
        pytest.param(
            lambda action, arg: action == sqlite3.SQLITE_READ and arg == "sqlite_temp_master",
            id="no-temp-catalog",
        ),
    ],
)
def test_where_bulk_reads_fail_the_dialect_asks_table_by_table(
    tmp_path: Path, refused: Callable[[int, str | None], bool]
) -> None:
    engine = demo_data.build(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    try:
        with engine.connect() as conn:
            expected = _reflect(conn, None, bulk_sqlite=False)
            _refuse(conn, refused)
            with recorded(conn) as sent:
                assert reflect(conn) == expected
            assert len([s for s in sent if s.startswith("PRAGMA main.table_xinfo")]) >= 10
            assert compare(conn, load_contract(SHIPPED)).ok
    finally:
        engine.dispose()
