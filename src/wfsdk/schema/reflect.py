"""The live side: what the database says about the contract's tables.

On PostgreSQL only SQLAlchemy's bulk inspector calls are made (one query per kind of fact
for all tables at once), so a check costs the same few catalog queries however many
tables the contract has. SQLite's dialect has no bulk queries: its ``get_multi_*``
methods run its per-table methods one table after another, and those read
``sqlite_master`` by name, a full scan of the catalog each time. On SQLite the same
per-table methods run here instead, on a copy of the dialect that reads the catalog in
bulk first (:mod:`wfsdk.schema._sqlite_catalog`): SQLAlchemy's parsing, a few statements
per check. Nothing here writes, and nothing is cached between calls: every call asks the
database again.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine.interfaces import ReflectedColumn

from wfsdk.schema._sqlite_catalog import bulk_dialect
from wfsdk.schema.model import FrozenMap
from wfsdk.schema.sqldefs import SqlSyntaxError, Stream, parse_type, tokenize
from wfsdk.schema.types import SqlType


@attrs.frozen
class LiveColumn:
    """A column as reflected; ``nullable`` is false for primary key columns whatever the
    catalog says (SQLite reports ``INTEGER PRIMARY KEY`` as nullable)."""

    name: str
    type: SqlType
    nullable: bool
    default: str | None = None
    comment: str = ""


@attrs.frozen
class LiveForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"({', '.join(self.columns)}) REFERENCES "
            f"{self.ref_table}({', '.join(self.ref_columns)})"
        )


@attrs.frozen
class LiveTable:
    name: str
    columns: FrozenMap[LiveColumn]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[LiveForeignKey, ...] = ()
    uniques: tuple[tuple[str, ...], ...] = ()


@attrs.frozen
class LiveSchema:
    """The reflected tables; ``enums`` is ``None`` where the dialect has no enum types.

    ``table_names`` lists every table of the schema, documented or not.
    """

    dialect: str
    tables: FrozenMap[LiveTable]
    enums: FrozenMap[tuple[str, ...]] | None
    table_names: tuple[str, ...]


def reflect(connection: sa.Connection, tables: Sequence[str] | None = None) -> LiveSchema:
    """Reflect ``tables`` (all tables of the default schema when ``None``)."""
    return _reflect(connection, tables, bulk_sqlite=True)


def _reflect(
    connection: sa.Connection, tables: Sequence[str] | None, *, bulk_sqlite: bool
) -> LiveSchema:
    """:func:`reflect`; ``bulk_sqlite=False`` reflects SQLite through the inspector as on
    PostgreSQL, which makes SQLAlchemy read the catalog table by table (N tables cost N
    scans of the catalog): what the bulk reads are checked against."""
    inspector = sa.inspect(connection)
    dialect = connection.dialect
    table_names = tuple(inspector.get_table_names())
    wanted = list(table_names) if tables is None else list(tables)
    reflected: dict[str, LiveTable] = {}
    if wanted and bulk_sqlite and dialect.name == "sqlite":
        reflected = _sqlite_tables(connection, table_names, wanted)
    elif wanted:
        columns = inspector.get_multi_columns(filter_names=wanted)
        keys = inspector.get_multi_pk_constraint(filter_names=wanted)
        foreign = inspector.get_multi_foreign_keys(filter_names=wanted)
        uniques = _unique_constraints(inspector, wanted, dialect.name)
        for (_schema, name), column_list in columns.items():
            key = (_schema, name)
            found_key = keys.get(key)
            primary_key = tuple(found_key["constrained_columns"] or ()) if found_key else ()
            reflected[name] = LiveTable(
                name,
                FrozenMap((c["name"], _column(c, primary_key, dialect)) for c in column_list),
                primary_key,
                _foreign_keys(foreign.get(key, [])),
                tuple(u for u in uniques.get(key, ()) if u != primary_key),
            )
    enums: FrozenMap[tuple[str, ...]] | None = None
    if dialect.name == "postgresql":
        found = inspector.get_enums()  # type: ignore[attr-defined]
        enums = FrozenMap(
            (_enum_name(e), tuple(e["labels"])) for e in found if e.get("visible", True)
        )
    ordered = {name: reflected[name] for name in wanted if name in reflected}
    return LiveSchema(dialect.name, FrozenMap(ordered), enums, table_names)


def _sqlite_tables(
    connection: sa.Connection, table_names: Sequence[str], wanted: Sequence[str]
) -> dict[str, LiveTable]:
    """What the inspector's ``get_multi_*`` calls give on SQLite, from bulk catalog reads.

    The same per-table dialect methods, for the same tables (the schema's, those asked
    for), taken one table at a time: what SQLAlchemy builds for a table is dropped once
    the table is converted, rather than held for all tables at once.
    """
    dialect = bulk_dialect(connection, wanted)
    chosen = set(wanted)
    reflected: dict[str, LiveTable] = {}
    for name in table_names:
        if name in chosen:
            table = _sqlite_table(connection, dialect, name)
            if table is not None:
                reflected[name] = table
    return reflected


def _sqlite_table(connection: sa.Connection, dialect: sa.Dialect, name: str) -> LiveTable | None:
    cache: dict[Any, Any] = {}

    def ask(method: Any, missing: Any, **kw: Any) -> Any:
        # As get_multi_*: a table the method cannot find is left out of that kind of fact.
        try:
            return method(connection, name, schema=None, info_cache=cache, **kw)
        except sa.exc.NoSuchTableError:
            return missing

    column_list = ask(dialect.get_columns, None)
    if column_list is None:
        return None
    for column in column_list:  # as the inspector does
        if not isinstance(column["type"], sa.types.TypeEngine):
            column["type"] = column["type"]()
    found_key = ask(dialect.get_pk_constraint, None)
    primary_key = tuple(found_key["constrained_columns"] or ()) if found_key else ()
    indexes = ask(dialect.get_indexes, [], include_auto_indexes=True)
    return LiveTable(
        name,
        FrozenMap((c["name"], _column(c, primary_key, dialect)) for c in column_list),
        primary_key,
        _foreign_keys(ask(dialect.get_foreign_keys, [])),
        tuple(u for u in _sqlite_uniques(indexes) if u != primary_key),
    )


def _sqlite_uniques(indexes: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, ...], ...]:
    # SQLAlchemy finds SQLite's UNIQUE constraints by matching the table's SQL, which
    # misses "name VARCHAR(100) UNIQUE". SQLite backs every UNIQUE (and non-rowid
    # PRIMARY KEY) constraint with an index named sqlite_autoindex_*: read those.
    return tuple(
        dict.fromkeys(
            tuple(str(c) for c in i["column_names"])
            for i in indexes
            if i["unique"] and (i["name"] or "").startswith("sqlite_autoindex_")
        )
    )


def _unique_constraints(
    inspector: sa.Inspector, tables: list[str], dialect: str
) -> dict[tuple[str | None, str], tuple[tuple[str, ...], ...]]:
    if dialect == "sqlite":
        indexes = inspector.get_multi_indexes(filter_names=tables, include_auto_indexes=True)
        return {key: _sqlite_uniques(found) for key, found in indexes.items()}
    constraints = inspector.get_multi_unique_constraints(filter_names=tables)
    return {
        key: tuple(dict.fromkeys(tuple(u["column_names"]) for u in found))
        for key, found in constraints.items()
    }


def _enum_name(enum: Mapping[str, Any]) -> str:
    return str(enum["name"])


def _foreign_keys(found: Sequence[Mapping[str, Any]]) -> tuple[LiveForeignKey, ...]:
    keys: dict[LiveForeignKey, None] = {}
    for fk in found:
        table = fk["referred_table"]
        if fk.get("referred_schema") not in (None, "public"):
            table = f"{fk['referred_schema']}.{table}"
        live = LiveForeignKey(
            tuple(fk["constrained_columns"]), table, tuple(fk["referred_columns"])
        )
        keys[live] = None  # the CMS declares some keys twice under two names
    return tuple(keys)


def _column(
    column: ReflectedColumn, primary_key: tuple[str, ...], dialect: sa.Dialect
) -> LiveColumn:
    default = column.get("default")
    serial = bool(column.get("identity")) or (
        default is not None and default.lower().startswith("nextval(")
    )
    sql_type = live_type(column["type"], dialect)
    if serial and not sql_type.user:
        sql_type = attrs.evolve(sql_type, serial=True)
        default = None  # the sequence is part of the type (SERIAL)
    return LiveColumn(
        column["name"],
        sql_type,
        column["nullable"] and column["name"] not in primary_key,
        default,
        column.get("comment") or "",
    )


def live_type(coltype: Any, dialect: sa.Dialect) -> SqlType:
    """A reflected SQLAlchemy type in canonical form, read by the document's own grammar."""
    if isinstance(coltype, sa.types.NullType):
        # SQLite: no declared type, which has BLOB affinity; elsewhere a type SQLAlchemy
        # does not know (it has warned), shown as UNKNOWN.
        return SqlType("bytea") if dialect.name == "sqlite" else SqlType("unknown")
    return _read_type(str(coltype.compile(dialect=dialect)))


@functools.lru_cache(maxsize=1024)
def _read_type(text: str) -> SqlType:
    # A database has few distinct type names; reading each once keeps a check cheap.
    try:
        stream = Stream(tokenize(text), text)
        sql_type = parse_type(stream)
    except SqlSyntaxError:
        return SqlType(text.lower(), written=text)
    if not stream.at_end():
        length = stream.peek(1)
        if sql_type.name == "text" and stream.at("(") and length and length.text.isdigit():
            # SQLite: a declared CHARACTER VARYING(n) comes back as TEXT(n).
            return SqlType("varchar", (int(length.text),), written=text)
        return SqlType(text.lower(), written=text)
    return attrs.evolve(sql_type, written="")
