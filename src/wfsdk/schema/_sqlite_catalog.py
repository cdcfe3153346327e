"""SQLite's catalog read in bulk, for SQLAlchemy's own per-table reflection code.

SQLAlchemy's SQLite dialect reflects one table at a time: a ``PRAGMA`` per table and
kind of fact, and, for primary keys and foreign keys, the table's ``CREATE`` statement
read from ``sqlite_master`` by name. ``sqlite_master`` has no index on the name, so each
of those reads scans the whole catalog, and reflecting N tables costs N scans of N rows.

:func:`bulk_dialect` returns a copy of the connection's dialect whose two data sources,
``_get_table_sql`` and ``_get_table_pragma``, answer from a few statements: one read of
the catalog for every table's SQL and, the first time each pragma is asked for, one query
of that pragma's table-valued function for all the tables to reflect. The dialect's
parsing (types, keys, the matching of constraint names) is SQLAlchemy's, untouched, and
it receives the very rows the per-table statements would have returned; only the number
of statements changes, from several per table to a few per reflection.

A name the bulk reads cannot answer exactly as the per-table statement would (a view, a
virtual table, a name spelled in another case than the stored one, a name a temporary
object could also match) is left to the dialect's own statement, and so is everything
where a bulk read fails (an SQLite built without pragma functions, a catalog the
connection may not read). Every statement runs on the connection the dialect is given,
so listeners and guards on it see them all.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

# The dialect's methods this module stands in for or calls, as SQLAlchemy 2.1 names them.
_DATA_SOURCES = ("_get_table_sql", "_get_table_pragma", "_is_sys_table")
# Bound names per statement: under SQLite's oldest limit on host parameters (999).
_CHUNK = 500
# SQLite compares identifiers without regard to ASCII case, and only ASCII case.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_CATALOG = (
    "SELECT 'main', type, name, rootpage, sql FROM sqlite_master UNION ALL"
    " SELECT 'temp', type, name, rootpage, sql FROM sqlite_temp_master"
)
_CATALOG_MAIN = "SELECT 'main', type, name, rootpage, sql FROM sqlite_master"
# Driven by the names, not by sqlite_master: a scan of the catalog per part would grow
# with the number of tables times the number of parts.
_PER_TABLE = (
    "WITH names(name) AS (VALUES {names})"
    " SELECT names.name, p.* FROM names JOIN pragma_{pragma}(names.name, 'main') AS p"
)
_INDEX_INFO = (
    "WITH names(name) AS (VALUES {names})"
    " SELECT i.name, p.* FROM names JOIN pragma_index_list(names.name, 'main') AS i"
    " JOIN pragma_index_info(i.name, 'main') AS p"
)


def bulk_dialect(connection: sa.Connection, tables: Sequence[str]) -> sa.Dialect:
    """A copy of ``connection``'s SQLite dialect that reflects ``tables`` from bulk reads.

    For one reflection on this connection: what it has read it does not read again, so a
    later change to the schema is not seen through it.
    """
    dialect = connection.dialect
    if not all(hasattr(dialect, name) for name in _DATA_SOURCES):
        return dialect  # another SQLAlchemy: its own per-table statements, as they are
    table_sql, pragmas = _read(connection, tables, dialect.server_version_info or ())
    plain_table_sql: Callable[..., Any] = dialect._get_table_sql  # type: ignore[attr-defined]
    plain_pragma: Callable[..., Any] = dialect._get_table_pragma  # type: ignore[attr-defined]
    is_sys_table: Callable[[str], bool] = dialect._is_sys_table  # type: ignore[attr-defined]

    def get_table_sql(
        conn: sa.Connection, table_name: str, schema: str | None = None, **kw: Any
    ) -> Any:
        if schema is not None or table_sql is None:
            return plain_table_sql(conn, table_name, schema=schema, **kw)
        # As the dialect's query: the first row of exactly this name, main before temp.
        value = table_sql.get(table_name)
        if value is None and not is_sys_table(table_name):
            raise sa.exc.NoSuchTableError(table_name)
        return value

    def get_table_pragma(
        conn: sa.Connection, pragma: str, table_name: str, schema: str | None = None
    ) -> Any:
        if schema is None and pragmas is not None:
            found = pragmas.rows(conn, pragma, table_name)
            if found is not None:
                return found
        return plain_pragma(conn, pragma, table_name, schema=schema)

    bulk = copy.copy(dialect)
    # Instance attributes shadow the class's methods for this copy only; the engine's
    # dialect is shared by every connection and stays as it is.
    vars(bulk).update(_get_table_sql=get_table_sql, _get_table_pragma=get_table_pragma)
    return bulk


def _read(
    connection: sa.Connection, tables: Sequence[str], version: tuple[Any, ...]
) -> tuple[dict[str, str | None] | None, _Pragmas | None]:
    """Every table's and view's SQL by exact name (main before temp), and the pragma rows
    to come; ``None`` for either when this connection cannot read what it needs."""
    try:
        catalog = connection.exec_driver_sql(_CATALOG).all()
        temp_known = True
    except sa.exc.DBAPIError:
        # The dialect falls back the same way where sqlite_temp_master cannot be read.
        try:
            catalog = connection.exec_driver_sql(_CATALOG_MAIN).all()
        except sa.exc.DBAPIError:
            return None, None
        temp_known = False
    table_sql: dict[str, str | None] = {}
    temp: set[str] = set()
    ordinary: set[str] = set()
    for schema, kind, name, rootpage, sql in catalog:
        if kind in ("table", "view"):
            table_sql.setdefault(name, sql)
        if schema == "temp":
            temp.add(_folded(name))
        elif kind == "table" and rootpage:
            ordinary.add(name)  # not a view, nor a virtual table (root page 0)
    if not temp_known:
        return table_sql, None
    # The dialect asks "PRAGMA main.x(name)", then "PRAGMA temp.x(name)" when main has no
    # rows. Bulk rows stand in only where that surely lands on the main table of exactly
    # this name: an ordinary table, and nothing in temp that the name could also match.
    names = [n for n in dict.fromkeys(tables) if n in ordinary and _folded(n) not in temp]
    return table_sql, _Pragmas(names, version)


class _Pragmas:
    """Pragma rows for ``names``, each pragma read in bulk the first time it is asked for.

    Rows are kept for the whole reflection: the dialect reads a table's columns again for
    its primary key, and for the primary key of any table that a foreign key refers to
    without naming columns.
    """

    def __init__(self, names: list[str], version: tuple[Any, ...]) -> None:
        self._names = names
        columns = "table_xinfo" if version >= (3, 31) else "table_info"
        # What the dialect asks for: columns (table_xinfo where SQLite has it), foreign
        # keys, indexes and their columns, and table_info to tell whether a table exists.
        self._unread = {columns, "table_info", "foreign_key_list", "index_list", "index_info"}
        self._rows: dict[tuple[str, str], list[Any]] = {}

    def rows(self, connection: sa.Connection, pragma: str, name: str) -> list[Any] | None:
        """What ``PRAGMA main.<pragma>(name)`` returns, or ``None`` if not read in bulk."""
        if pragma in self._unread:
            self._unread.discard(pragma)
            self._load(connection, pragma)
        return self._rows.get((pragma, name))

    def _load(self, connection: sa.Connection, pragma: str) -> None:
        for start in range(0, len(self._names), _CHUNK):
            chunk = self._names[start : start + _CHUNK]
            marks = ", ".join(["(?)"] * len(chunk))
            if pragma == "index_info":
                statement = _INDEX_INFO.format(names=marks)
            else:
                statement = _PER_TABLE.format(pragma=pragma, names=marks)
            try:
                with connection.exec_driver_sql(statement, tuple(chunk)) as result:
                    # The driver's plain tuples, as a PRAGMA's rows are read by the dialect.
                    found = result.cursor.fetchall()
            except sa.exc.DBAPIError:
                # An SQLite built without pragma functions: the dialect asks one by one.
                continue
            if pragma != "index_info":
                # No rows for a table (no foreign keys, say) is an answer too.
                self._rows.update(((pragma, name), []) for name in chunk)
            for row in found:
                self._rows.setdefault((pragma, row[0]), []).append(row[1:])


def _folded(name: str) -> str:
    return name.translate(_ASCII_LOWER)
