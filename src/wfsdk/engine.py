"""Turning what the host gives ``connect`` into a guarded SQLAlchemy engine.

The host may hand over a DSN, its own :class:`sqlalchemy.engine.Engine`, or
its own connection factory (the integration guide: use the existing
connection methods). In every case wfsdk works on an *option copy* of the
engine: it shares the host's pool, but the listener that refuses unguarded
statements is attached to the copy only, so the host's own use of its engine
is left as it was.

Statements reach the driver one of two ways, both through :func:`gate`:

- SQLAlchemy's :class:`~sqlalchemy.engine.Connection`, whose
  ``before_cursor_execute`` listener calls the gate;
- the kernel's direct driver path (:class:`DriverSession`): a pooled DBAPI
  connection from the same pool, the statement compiled once by SQLAlchemy
  into the driver's own parameter style, and the gate called before every
  ``cursor.execute``. It is used when the host has attached no execution
  events to its engine, so that nothing a host instruments is bypassed.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, NamedTuple, Protocol, cast

import attrs
import psycopg
import sqlalchemy as sa
from psycopg.rows import dict_row
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import PoolProxiedConnection, StaticPool
from sqlalchemy.sql.elements import TextClause

from wfsdk.errors import ConfigurationError, StatementRefusedError
from wfsdk.guard import text_sql

_ALLOW = "wfsdk.allow"
_BEGIN = "wfsdk.begin"
_NOT_CHANGED = object()

SUPPORTED = ("postgresql", "sqlite")

PSYCOPG = "psycopg"
SQLITE = "sqlite"
# What the drivers raise when a connection factory or a first connection fails.
DBAPI_ERRORS: tuple[type[Exception], ...] = (psycopg.Error, sqlite3.Error)
# Isolation levels under which every statement of a PostgreSQL transaction sees one snapshot.
SNAPSHOT_LEVELS = ("REPEATABLE READ", "SERIALIZABLE")
# A caller that splices values into its SQL makes a new text every call; past this many
# texts the oldest are forgotten, so such callers cannot make the caches grow without end.
_CACHE_SIZE = 4096


class Result(NamedTuple):
    """Rows (as dicts, column name to value) and the driver's row count of one statement."""

    rows: list[dict[str, Any]]
    rowcount: int


class Session(Protocol):
    """A connection inside one transaction, for statements the guard or the kernel vetted."""

    @property
    def info(self) -> dict[Any, Any]: ...

    def execute(self, sql: str, params: Mapping[str, Any]) -> Result: ...

    def commit(self) -> None: ...


class _DriverStatement(NamedTuple):
    sql: str
    # Parameter names in placeholder order for positional drivers; None for named ones.
    order: tuple[str, ...] | None
    # Names the compiler had to escape for the driver (never the kernel's own \w+ names).
    renamed: Mapping[str, str] | None = None
    # psycopg only: the text holds no '%', so without parameters it is sent as it is.
    bare: bool = False

    def values(self, params: Mapping[str, Any]) -> Any:
        if self.bare and not params:
            return None
        if self.order is not None:
            return [params[name] for name in self.order]
        if self.renamed:
            return {self.renamed.get(name, name): value for name, value in params.items()}
        return params


def _bounded_put(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        # Several threads may evict at once; losing that race costs nothing.
        with suppress(KeyError, StopIteration, RuntimeError):
            del cache[next(iter(cache))]
    cache[key] = value


def isolation_name(current: object, default: object) -> str:
    """A PostgreSQL connection's isolation level, as SQL spells it.

    ``current`` is the connection's own level (a psycopg ``IsolationLevel``, or
    ``None`` for the server's default), ``default`` the server's default as
    SQLAlchemy read it at the first connection.
    """
    name = getattr(current, "name", None)
    return name.replace("_", " ") if isinstance(name, str) else str(default or "").upper()


def snapshot_level(current: object, default: object) -> str:
    """The isolation level a transaction needs for one snapshot on PostgreSQL.

    A level that already gives one (``REPEATABLE READ``, ``SERIALIZABLE``) is
    kept; anything weaker becomes ``REPEATABLE READ``, under which a read-only
    transaction never fails for want of serialization.
    """
    level = isolation_name(current, default)
    return level if level in SNAPSHOT_LEVELS else "REPEATABLE READ"


@functools.lru_cache(maxsize=32)
def _snapshot_change(current: object, default: object) -> psycopg.IsolationLevel | None:
    """The level a psycopg connection (not in autocommit) is switched to for one snapshot.

    ``None`` when its own level (``current``, else the server's ``default``)
    already gives one.
    """
    level = snapshot_level(current, default)
    if level == isolation_name(current, default):
        return None
    return psycopg.IsolationLevel[level.replace(" ", "_")]


@attrs.frozen
class Target:
    engine: Engine
    # The same pool, with PostgreSQL's READ ONLY transactions switched on.
    read_engine: Engine
    dialect: str
    display: str
    password: str | None
    # The engine the host gave (or wfsdk made), whose events tell whether the host
    # instruments execution; ``driver`` names the direct path's driver, if it has one.
    source: Engine | None = None
    driver: str | None = None
    _texts: dict[str, TextClause] = attrs.field(init=False, factory=dict, eq=False, repr=False)
    _statements: dict[str, _DriverStatement] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )

    @property
    def direct(self) -> bool:
        """Whether the kernel may use the direct driver path right now.

        Checked at every transaction, so an execution event the host attaches
        later (tracing, metrics) still sees every statement wfsdk sends.
        """
        source = self.source
        # SQLAlchemy sets these flags whenever a listener joins; were they ever to go,
        # wfsdk would take SQLAlchemy's path, never skip a listener.
        return (
            self.driver is not None
            and source is not None
            and not getattr(source, "_has_events", True)
            and not getattr(source.dialect, "_has_events", True)
        )

    def text(self, sql: str) -> TextClause:
        """``sql`` (``:name`` placeholders) as a ``text()`` construct, built once per text."""
        clause = self._texts.get(sql)
        if clause is None:
            clause = sa.text(text_sql(sql, "postgres" if self.dialect == "postgresql" else SQLITE))
            _bounded_put(self._texts, sql, clause)
        return clause

    def driver_statement(self, sql: str) -> _DriverStatement:
        """``sql`` in the driver's own parameter style, exactly as SQLAlchemy would send it."""
        statement = self._statements.get(sql)
        if statement is None:
            compiled = self.text(sql).compile(dialect=self.engine.dialect)
            renamed = dict(compiled.escaped_bind_names) or None
            order = None
            if compiled.positional:
                original = {escaped: name for name, escaped in (renamed or {}).items()}
                order = tuple(original.get(n, n) for n in compiled.positiontup or ())
                renamed = None
            # psycopg reads '%%' as '%' only when it has parameters to bind, so a text
            # with a '%' always travels with its parameters, even none.
            bare = self.driver == PSYCOPG and "%" not in compiled.string
            statement = _DriverStatement(compiled.string, order, renamed, bare)
            _bounded_put(self._statements, sql, statement)
        return statement


def _normalise_url(dsn: str) -> URL:
    if "\x00" in dsn or (not dsn.isascii() and not _utf8(dsn)):
        raise ConfigurationError(
            "not a database URL: it holds a NUL character or text with no UTF-8 form"
        )
    try:
        url = make_url(dsn)
    except Exception as exc:
        raise ConfigurationError(
            "not a database URL; use postgresql://user@host/db or sqlite:///path.db"
        ) from exc
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if driver not in ("", "psycopg"):
            raise ConfigurationError(
                f"driver {driver!r} is not supported for PostgreSQL; wfsdk uses psycopg 3 "
                "(postgresql:// or postgresql+psycopg://)"
            )
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ConfigurationError(f"driver {driver!r} is not supported for SQLite")
        return url
    raise ConfigurationError(
        f"database {backend!r} is not supported; wfsdk speaks PostgreSQL and SQLite"
    )


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _from_factory(factory: Callable[[], Any]) -> Engine:
    probe = factory()
    module = type(probe).__module__
    probe.close()
    if module.startswith("psycopg"):
        return sa.create_engine("postgresql+psycopg://", creator=factory, hide_parameters=True)
    if isinstance(probe, sqlite3.Connection):
        return sa.create_engine("sqlite://", creator=factory, hide_parameters=True)
    raise ConfigurationError(
        f"the connection factory returned a {module} connection; wfsdk accepts psycopg 3 "
        "or sqlite3 connections"
    )


def _sqlite_transactions(engine: Engine, guarded: Engine) -> None:
    """Let wfsdk, not the sqlite3 module, decide when a transaction starts.

    Python's sqlite3 begins transactions lazily, before the first write, so a
    preview read and the write that follows would not share one. Emitting
    BEGIN ourselves (IMMEDIATE for writes) makes the check-then-write atomic.
    The ``begin`` listener sits on wfsdk's option copy, so the engine itself
    carries no execution events of wfsdk's making.
    """

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(guarded, "begin")
    def _begin(connection: Connection) -> None:
        with allowed(connection):
            connection.exec_driver_sql(connection.info.get(_BEGIN, "BEGIN"))


def resolve(target: str | Engine | Callable[[], Any]) -> Target:
    if isinstance(target, Engine):
        engine = target
        owned = False
    elif isinstance(target, str):
        url = _normalise_url(target)
        kwargs: dict[str, Any] = {}
        if url.drivername.startswith("sqlite") and url.database in (None, "", ":memory:"):
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        # Bound values can be secrets; SQLAlchemy must not print them in its messages.
        engine = sa.create_engine(url, hide_parameters=True, **kwargs)
        owned = True
    elif callable(target):
        engine = _from_factory(target)
        owned = True
    else:
        raise ConfigurationError(
            f"connect() takes a DSN string, an SQLAlchemy Engine or a connection factory, "
            f"not {type(target).__name__}"
        )
    dialect = engine.dialect.name
    if dialect not in SUPPORTED:
        raise ConfigurationError(f"database {dialect!r} is not supported")
    guarded = engine.execution_options()
    if owned and dialect == "sqlite":
        _sqlite_transactions(engine, guarded)
    # The dialect reads server settings on its first connection; do it before
    # the gatekeeper exists so those internal statements are not mistaken for
    # unguarded ones.
    with engine.connect():
        pass
    event.listen(guarded, "before_cursor_execute", _gatekeeper)
    read_engine = (
        guarded.execution_options(postgresql_readonly=True) if dialect == "postgresql" else guarded
    )
    driver: str | None = None
    if dialect == "postgresql" and engine.dialect.driver == PSYCOPG:
        driver = PSYCOPG
    elif dialect == "sqlite" and owned:
        # Only where wfsdk switched the driver to autocommit and begins transactions itself.
        driver = SQLITE
    return Target(
        engine=guarded,
        read_engine=read_engine,
        dialect=dialect,
        display=engine.url.render_as_string(hide_password=True),
        password=engine.url.password if isinstance(engine.url.password, str) else None,
        source=engine,
        driver=driver,
    )


def gate(info: Mapping[Any, Any], statement: str) -> None:
    """Refuse ``statement`` unless the kernel has let this connection's statements through.

    The one check every statement passes on its way to the driver, whichever
    way it travels: the engine's ``before_cursor_execute`` listener calls it,
    and so does :class:`DriverSession` before each ``cursor.execute``.
    """
    if not info.get(_ALLOW):
        raise StatementRefusedError(
            "a statement reached the database driver without passing the guard; "
            "every statement must go through the kernel",
            sql=statement,
            reason="unguarded",
        )


def _gatekeeper(
    connection: Connection,
    _cursor: Any,
    statement: str,
    _parameters: Any,
    _context: Any,
    _executemany: bool,
) -> None:
    gate(connection.info, statement)


def execute_vetted(session: Session, sql: str, params: Mapping[str, Any]) -> Result:
    """Run a statement the guard (or the kernel itself) has vetted: the gate lets it pass.

    The same grant as :func:`allowed`, without a generator per statement.
    """
    info = session.info
    previous = info.get(_ALLOW, False)
    info[_ALLOW] = True
    try:
        return session.execute(sql, params)
    finally:
        info[_ALLOW] = previous


@contextmanager
def allowed(connection: Connection | Session) -> Iterator[None]:
    """Let statements through the gatekeeper for the duration of the block.

    Only the kernel holds its connections, so the flag cannot be set by code
    that has not first been through the guard.
    """
    info = connection.info
    previous = info.get(_ALLOW, False)
    info[_ALLOW] = True
    try:
        yield
    finally:
        info[_ALLOW] = previous


@contextmanager
def transaction(
    target: Target,
    *,
    read_only: bool,
    connect_error: Callable[[sa.exc.DBAPIError], Exception] | None = None,
    snapshot: bool = False,
) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back unless the caller commits.

    Read-only transactions are enforced by the database itself (PostgreSQL
    ``READ ONLY``, SQLite ``PRAGMA query_only``), as a backstop for whatever
    parsing cannot see, such as a function that writes. With ``snapshot``
    every statement of the transaction sees the same snapshot of the
    database (see :func:`snapshot_level`; SQLite's transactions always do).
    """
    sqlite = target.dialect == "sqlite"
    try:
        conn = (target.read_engine if read_only else target.engine).connect()
    except sa.exc.DBAPIError as exc:
        if connect_error is None:
            raise
        raise connect_error(exc) from exc
    try:
        driver = conn.connection.driver_connection
        if not sqlite and driver is not None and snapshot:
            default = conn.default_isolation_level
            level = snapshot_level(driver.isolation_level, default)
            if driver.autocommit or level != isolation_name(driver.isolation_level, default):
                # Until the connection goes back to the pool, where SQLAlchemy resets it.
                conn = conn.execution_options(isolation_level=level)
        elif not sqlite and driver is not None and driver.autocommit:
            # A host engine or factory in autocommit mode would run each statement on its
            # own: no READ ONLY for reads, no lock held and no rollback for writes. For
            # wfsdk's use only, the connection gets the server's default level back.
            conn = conn.execution_options(isolation_level=conn.default_isolation_level)
        if sqlite:
            conn.info[_BEGIN] = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        with allowed(conn):
            conn.begin()
            if sqlite and snapshot and driver is not None and not driver.in_transaction:
                # A host's own SQLite engine leaves sqlite3 to begin lazily, before the
                # first write only; without BEGIN each read would see the database anew.
                conn.exec_driver_sql("BEGIN")
            if read_only and sqlite:
                conn.exec_driver_sql("PRAGMA query_only = ON")
        try:
            yield conn
        finally:
            with allowed(conn):
                if conn.in_transaction():
                    conn.rollback()
                if read_only and sqlite:
                    conn.exec_driver_sql("PRAGMA query_only = OFF")
    finally:
        conn.close()


class EngineSession:
    """A :class:`Session` over SQLAlchemy's Connection.

    For engines with execution events and for SQLite engines the host made itself.
    """

    __slots__ = ("_conn", "_target")

    def __init__(self, conn: Connection, target: Target) -> None:
        self._conn = conn
        self._target = target

    @property
    def info(self) -> dict[Any, Any]:
        return self._conn.info

    def execute(self, sql: str, params: Mapping[str, Any]) -> Result:
        result = self._conn.execute(self._target.text(sql), dict(params))
        rows = [dict(row) for row in result.mappings()] if result.returns_rows else []
        return Result(rows, result.rowcount)

    def commit(self) -> None:
        with allowed(self._conn):
            self._conn.commit()


class DriverSession:
    """A :class:`Session` on a pooled DBAPI connection, without SQLAlchemy's Connection.

    The same pool, the same connection setup, the same statement text and
    parameters SQLAlchemy would send, the same error types (DBAPI errors are
    wrapped in :class:`sqlalchemy.exc.DBAPIError`), and a lost connection is
    invalidated with every other connection of its pool, as SQLAlchemy does.
    Use :func:`driver_session`, which picks the driver's subclass.
    """

    __slots__ = (
        "_broken",
        "_committed",
        "_dbapi",
        "_error",
        "_fairy",
        "_read_only",
        "_snapshot",
        "_target",
        "info",
    )

    def __init__(self, target: Target, *, read_only: bool, snapshot: bool = False) -> None:
        self._target = target
        self._read_only = read_only
        self._snapshot = snapshot
        self._broken = False
        # Whether the last thing done was a successful COMMIT: nothing left to roll back.
        self._committed = False
        self._error: type[Exception] = target.engine.dialect.loaded_dbapi.Error
        try:
            self._fairy: PoolProxiedConnection = target.engine.raw_connection()
        except self._error as exc:
            raise self._wrap(exc, None, None, None) from exc
        self._dbapi: Any = self._fairy.driver_connection
        self.info: dict[Any, Any] = self._fairy.info

    def __enter__(self) -> DriverSession:
        try:
            self._begin()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._close()

    def execute(self, sql: str, params: Mapping[str, Any]) -> Result:
        gate(self.info, sql)
        self._committed = False
        statement = self._target.driver_statement(sql)
        values = statement.values(params)
        try:
            return self._send(statement.sql, values)
        except self._error as exc:
            raise self._wrap(exc, statement.sql, values, None) from exc

    def commit(self) -> None:
        try:
            self._dbapi.commit()
        except self._error as exc:
            raise self._wrap(exc, "COMMIT", None, None) from exc
        self._committed = True

    def _control(self, sql: str) -> None:
        info = self.info
        previous = info.get(_ALLOW, False)
        info[_ALLOW] = True
        try:
            self.execute(sql, {})
        finally:
            info[_ALLOW] = previous

    def _begin(self) -> None:
        raise NotImplementedError

    def _send(self, sql: str, values: Any) -> Result:
        raise NotImplementedError

    def _reset(self) -> None:
        raise NotImplementedError

    def _wrap(self, exc: Exception, sql: str | None, params: Any, cursor: Any) -> Exception:
        engine = self._target.engine
        dialect = engine.dialect
        fairy = getattr(self, "_fairy", None)
        dbapi = None if fairy is None else fairy.driver_connection
        lost = dbapi is not None and dialect.is_disconnect(cast(Any, exc), dbapi, cursor)
        if lost and fairy is not None and not self._broken:
            self._broken = True
            # As SQLAlchemy does: a lost connection means the server went away, so every
            # connection pooled before now is replaced on its next checkout.
            invalidate_pool = getattr(engine.pool, "_invalidate", None)
            if invalidate_pool is not None:
                invalidate_pool(fairy, exc)
            else:
                fairy.invalidate(exc)
        return sa.exc.DBAPIError.instance(
            sql,
            params,
            exc,
            self._error,
            hide_parameters=engine.hide_parameters,
            connection_invalidated=lost,
            dialect=dialect,
            ismulti=False,
        )

    def _close(self) -> None:
        fairy = self._fairy
        try:
            if not self._broken and fairy.is_valid:
                self._reset()
        except self._error as exc:
            # A connection that cannot even roll back does not go back to the pool.
            fairy.invalidate(exc)
        finally:
            fairy.close()


class _PsycopgSession(DriverSession):
    """psycopg 3: transactions begin as psycopg begins them (``BEGIN READ ONLY`` when
    ``read_only``, with ``ISOLATION LEVEL REPEATABLE READ`` for a ``snapshot`` unless the
    connection's level already gives one), rows come back through psycopg's own
    ``dict_row``."""

    __slots__ = ("_cursor", "_isolation", "_unset_read_only")

    def _begin(self) -> None:
        dbapi = self._dbapi
        self._cursor = dbapi.cursor(row_factory=dict_row)
        # The connection's own level, to be restored; _NOT_CHANGED when it was kept.
        self._isolation: object = _NOT_CHANGED
        self._unset_read_only = False
        if dbapi.autocommit:
            # A host connection in autocommit mode would run each statement on its own:
            # begin explicitly, so reads are still READ ONLY and a write's lock is held.
            isolation = ""
            if self._snapshot:
                default = self._target.engine.dialect.default_isolation_level
                isolation = f" ISOLATION LEVEL {snapshot_level(dbapi.isolation_level, default)}"
            self._control(f"BEGIN{isolation}{' READ ONLY' if self._read_only else ''}")
            return
        if self._snapshot:
            current = dbapi.isolation_level
            wanted = _snapshot_change(current, self._target.engine.dialect.default_isolation_level)
            if wanted is not None:
                self._isolation = current
                dbapi.isolation_level = wanted
        if self._read_only:
            dbapi.read_only = True
            self._unset_read_only = True

    def _send(self, sql: str, values: Any) -> Result:
        cursor = self._cursor
        # values is None only for a text without '%' and without parameters (see
        # _DriverStatement.bare); anything else goes with its parameters, even none.
        cursor.execute(sql, values)
        # rownumber is None exactly when the statement returned no rows to fetch.
        rows = [] if cursor.rownumber is None else cursor.fetchall()
        return Result(rows, cursor.rowcount)

    def _reset(self) -> None:
        dbapi = self._dbapi
        self._cursor.close()
        if not self._committed:
            dbapi.rollback()
        if self._unset_read_only:
            dbapi.read_only = False
        if self._isolation is not _NOT_CHANGED:
            dbapi.isolation_level = self._isolation


class _SqliteSession(DriverSession):
    """sqlite3 in autocommit mode (engines wfsdk made): ``BEGIN`` or ``BEGIN IMMEDIATE``,
    and ``PRAGMA query_only`` around reads."""

    __slots__ = ()

    def _begin(self) -> None:
        self._control("BEGIN" if self._read_only else "BEGIN IMMEDIATE")
        if self._read_only:
            self._control("PRAGMA query_only = ON")

    def _send(self, sql: str, values: Any) -> Result:
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(sql, values)
            description = cursor.description
            if description is None:
                rows = []
            else:
                names = [column[0] for column in description]
                rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            return Result(rows, cursor.rowcount)
        finally:
            cursor.close()

    def _reset(self) -> None:
        dbapi = self._dbapi
        if dbapi.in_transaction:
            dbapi.rollback()
        if self._read_only:
            self._control("PRAGMA query_only = OFF")


def driver_session(target: Target, *, read_only: bool, snapshot: bool = False) -> DriverSession:
    """A :class:`DriverSession` for ``target`` (whose ``direct`` must be true).

    The connection is checked out here; entering the session begins the
    transaction. ``snapshot``: every statement sees the same snapshot (see
    :func:`transaction`).
    """
    if target.driver == PSYCOPG:
        return _PsycopgSession(target, read_only=read_only, snapshot=snapshot)
    return _SqliteSession(target, read_only=read_only, snapshot=snapshot)


@contextmanager
def engine_session(
    target: Target,
    *,
    read_only: bool,
    connect_error: Callable[[sa.exc.DBAPIError], Exception] | None = None,
    snapshot: bool = False,
) -> Iterator[EngineSession]:
    with transaction(
        target, read_only=read_only, connect_error=connect_error, snapshot=snapshot
    ) as conn:
        yield EngineSession(conn, target)
