"""Turning what the host gives ``connect`` into a guarded SQLAlchemy engine.

The host may hand over a DSN, its own :class:`sqlalchemy.engine.Engine`, or
its own connection factory (the integration guide: use the existing
connection methods). In every case wfsdk works on an *option copy* of the
engine: it shares the host's pool, but the listener that refuses unguarded
statements is attached to the copy only, so the host's own use of its engine
is left as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from wfsdk.errors import ConfigurationError, StatementRefusedError

_ALLOW = "wfsdk.allow"
_BEGIN = "wfsdk.begin"

SUPPORTED = ("postgresql", "sqlite")


@attrs.frozen
class Target:
    engine: Engine
    # The same pool, with PostgreSQL's READ ONLY transactions switched on.
    read_engine: Engine
    dialect: str
    display: str
    password: str | None


def _normalise_url(dsn: str) -> URL:
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


def _sqlite_transactions(engine: Engine) -> None:
    """Let wfsdk, not the sqlite3 module, decide when a transaction starts.

    Python's sqlite3 begins transactions lazily, before the first write, so a
    preview read and the write that follows would not share one. Emitting
    BEGIN ourselves (IMMEDIATE for writes) makes the check-then-write atomic.
    """

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
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
    if owned and dialect == "sqlite":
        _sqlite_transactions(engine)
    # The dialect reads server settings on its first connection; do it before
    # the gatekeeper exists so those internal statements are not mistaken for
    # unguarded ones.
    with engine.connect():
        pass
    guarded = engine.execution_options()
    event.listen(guarded, "before_cursor_execute", _gatekeeper)
    read_engine = (
        guarded.execution_options(postgresql_readonly=True) if dialect == "postgresql" else guarded
    )
    return Target(
        engine=guarded,
        read_engine=read_engine,
        dialect=dialect,
        display=engine.url.render_as_string(hide_password=True),
        password=engine.url.password if isinstance(engine.url.password, str) else None,
    )


def _gatekeeper(
    connection: Connection,
    _cursor: Any,
    statement: str,
    _parameters: Any,
    _context: Any,
    _executemany: bool,
) -> None:
    if not connection.info.get(_ALLOW):
        raise StatementRefusedError(
            "a statement reached the database driver without passing the guard; "
            "every statement must go through the kernel",
            sql=statement,
            reason="unguarded",
        )


@contextmanager
def allowed(connection: Connection) -> Iterator[None]:
    """Let statements through the gatekeeper for the duration of the block.

    Only the kernel holds its connections, so the flag cannot be set by code
    that has not first been through the guard.
    """
    previous = connection.info.get(_ALLOW, False)
    connection.info[_ALLOW] = True
    try:
        yield
    finally:
        connection.info[_ALLOW] = previous


@contextmanager
def transaction(
    target: Target,
    *,
    read_only: bool,
    connect_error: Callable[[sa.exc.DBAPIError], Exception] | None = None,
) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back unless the caller commits.

    Read-only transactions are enforced by the database itself (PostgreSQL
    ``READ ONLY``, SQLite ``PRAGMA query_only``), as a backstop for whatever
    parsing cannot see, such as a function that writes.
    """
    sqlite = target.dialect == "sqlite"
    try:
        conn = (target.read_engine if read_only else target.engine).connect()
    except sa.exc.DBAPIError as exc:
        if connect_error is None:
            raise
        raise connect_error(exc) from exc
    try:
        if sqlite:
            conn.info[_BEGIN] = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        with allowed(conn):
            conn.begin()
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
