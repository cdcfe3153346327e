"""The kernel: one engine, one plugin manager, one guard, and the paths between them."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wfsdk import engine as engines
from wfsdk.access import HOST, AccessPolicy
from wfsdk.errors import (
    ConfigurationError,
    ContractError,
    DatabaseError,
    PluginError,
    PluginHookError,
    SchemaMismatchError,
    StatementRefusedError,
    UnknownColumnError,
    WfsdkError,
)
from wfsdk.gateway import Gateway
from wfsdk.guard import Classification, Guard, bind_parameters
from wfsdk.journal import Journal
from wfsdk.plugins import LoadedPlugins, call_impl, load_plugins
from wfsdk.recovery import RecoveryReport, recover
from wfsdk.redact import Redactor
from wfsdk.schema import Contract, SchemaReport, compare, load_contract, suggest_column
from wfsdk.values import ChangeRecord, Declaration, ErrorEvent, ReadEvent, WriteIntent
from wfsdk.writelog import WriteLog

log = logging.getLogger("wfsdk")
# A library leaves output to its host: without this, Python prints errors to stderr.
log.addHandler(logging.NullHandler())

T = TypeVar("T")

ENV_DSN = "WFSDK_DSN"
ENV_CONTRACT = "WFSDK_CONTRACT"
ENV_STATE_DIR = "WFSDK_STATE_DIR"
DEFAULT_CONTRACT = Path("docs") / "database" / "schema.md"


@attrs.frozen
class QueryResult:
    """Rows of a read, or the outcome of a write (its change record, or its preview on a dry run).

    Iterating gives the rows, so the integration guide's ``execute_query`` reads as a list.
    """

    rows: tuple[dict[str, Any], ...] = ()
    change: ChangeRecord | None = None
    preview: WriteIntent | None = None
    votes: tuple[Any, ...] = ()
    would_commit: bool = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


class Kernel:
    """What ``wfsdk.connect`` returns. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        target: engines.Target,
        plugins: LoadedPlugins,
        *,
        contract_path: Path,
        state_dir: Path,
        host_access: Declaration | None,
        max_write_rows: int,
    ) -> None:
        self._target = target
        self.plugins = plugins
        self.hook = plugins.manager.hook
        self.dialect = target.dialect
        self.contract_path = contract_path
        self.state_dir = state_dir
        self.journal = Journal(state_dir)
        self.write_log = WriteLog(self.journal)
        self.recovery = RecoveryReport()
        self.max_write_rows = max_write_rows
        self.redactor = Redactor([target.password] if target.password else [])
        self.guard_dialect = "postgres" if target.dialect == "postgresql" else "sqlite"
        self.guard = Guard(self.guard_dialect)
        self._closed = False
        self._contract: Contract | None = None
        self._mismatch: SchemaReport | None = None
        self.last_report: SchemaReport | None = None
        self._table_info: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._rewrites: dict[str, bool] = {}
        self.access = self._collect_declarations()
        host = host_access or self.access.default_host()
        if host.module != HOST:
            host = attrs.evolve(host, module=HOST)
        self.access.declarations[HOST] = host
        self.host = Gateway(self, host)
        self.apis: dict[str, object] = self._collect_apis()

    # -- loading -----------------------------------------------------------------

    def _collect_declarations(self) -> AccessPolicy:
        declarations = []
        self._declared_by: dict[str, Declaration] = {}
        pm = self.plugins.manager
        for impl in pm.hook.declare_access.get_hookimpls():
            name = impl.plugin_name
            try:
                declaration = impl.function()
            except Exception as exc:
                raise PluginError(
                    f"declare_access raised {type(exc).__name__}: {exc}",
                    plugin=name,
                    distribution=self.plugins.info(impl.plugin).distribution,
                ) from exc
            if declaration is None:
                continue
            if not isinstance(declaration, Declaration):
                raise PluginError(
                    "declare_access must return a wfsdk.values.Declaration or None",
                    plugin=name,
                    distribution=self.plugins.info(impl.plugin).distribution,
                )
            declarations.append(declaration)
            self._declared_by[name] = declaration
        return AccessPolicy(declarations)

    def _collect_apis(self) -> dict[str, object]:
        apis: dict[str, object] = {}
        pm = self.plugins.manager
        for impl in pm.hook.register_api.get_hookimpls():
            info = self.plugins.info(impl.plugin)
            declaration = self._declaration_of(impl.plugin)
            try:
                api = call_impl(impl, gateway=Gateway(self, declaration))
            except Exception as exc:
                raise PluginError(
                    f"register_api raised {type(exc).__name__}: {exc}",
                    plugin=info.name,
                    distribution=info.distribution,
                ) from exc
            if api is not None:
                apis[getattr(api, "name", info.name)] = api
        return apis

    def _declaration_of(self, plugin: object) -> Declaration:
        """A plugin acts under the declaration it made; with none it may touch nothing."""
        name = self.plugins.manager.get_name(plugin) or "anonymous"
        return self._declared_by.get(name) or Declaration(module=name)

    def api(self, kind: type[T]) -> T:
        """The registered domain API of type ``kind`` (for example ``WorkflowApi``)."""
        for api in self.apis.values():
            if isinstance(api, kind):
                return api
        raise LookupError(
            f"no loaded plugin offers a {kind.__name__}; loaded APIs: {sorted(self.apis) or 'none'}"
        )

    # -- public entry points ---------------------------------------------------------

    def execute_query(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        actor: str | None = None,
        reason: str | None = None,
        dry_run: bool = False,
    ) -> QueryResult:
        """Run one statement as the host application. See :meth:`Gateway.execute_query`."""
        return self.host.execute_query(sql, params, actor=actor, reason=reason, dry_run=dry_run)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.write_log.close()
            self._target.engine.dispose(close=False)

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<wfsdk.Kernel {self._target.display} plugins={len(self.plugins.plugins)}>"

    @property
    def url(self) -> str:
        """The database URL with its password hidden."""
        return self._target.display

    # -- the shared machinery used by gateways ------------------------------------------

    def prepare(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None, caller: str
    ) -> tuple[str, dict[str, Any], Classification]:
        self._ensure_open()
        if not isinstance(sql, str):
            raise ConfigurationError(f"sql must be a string, not {type(sql).__name__}")
        try:
            named_sql, bound = bind_parameters(sql, params, self.guard_dialect)
            _check_encodable(sql, bound)
            classification = self.guard.classify(named_sql)
        except StatementRefusedError as exc:
            self.report_error(exc, phase="guard", caller=caller, statement=sql, parameters={})
            raise
        return named_sql, bound, classification

    def session(self, *, read_only: bool) -> AbstractContextManager[engines.Session]:
        """A transaction for vetted statements; read-only ones are enforced by the server.

        On the direct driver path when the engine allows it (see :mod:`wfsdk.engine`),
        through SQLAlchemy's Connection otherwise; the gate is the same either way.
        """
        self._ensure_open()
        target = self._target
        if target.direct:
            try:
                return engines.driver_session(target, read_only=read_only)
            except sa.exc.DBAPIError as exc:
                raise self._connect_error(exc) from exc
        return engines.engine_session(
            target, read_only=read_only, connect_error=self._connect_error
        )

    @contextmanager
    def connection(self, *, read_only: bool) -> Iterator[Connection]:
        """A SQLAlchemy connection in a transaction, for what needs one (reflection)."""
        self._ensure_open()
        with engines.transaction(
            self._target, read_only=read_only, connect_error=self._connect_error
        ) as conn:
            yield conn

    def _connect_error(self, exc: sa.exc.DBAPIError) -> Exception:
        return self.database_error(exc, phase="connect", caller="", statement=None)

    def run(
        self, session: engines.Session, sql: str, params: Mapping[str, Any] | None = None
    ) -> engines.Result:
        """Execute a statement that the guard (or the kernel itself) has already vetted."""
        return engines.execute_vetted(session, sql, params or {})

    def read(
        self, caller: str, sql: str, bound: Mapping[str, Any], tables: frozenset[str]
    ) -> QueryResult:
        """Run a vetted read in a read-only transaction; its rows, after ``on_read``."""
        started = time.perf_counter()
        try:
            with self.session(read_only=True) as session:
                rows = tuple(engines.execute_vetted(session, sql, bound).rows)
                # COMMIT ends a READ ONLY transaction exactly as ROLLBACK would, but keeps
                # psycopg's prepared statements, which every ROLLBACK throws away.
                session.commit()
        except sa.exc.DBAPIError as exc:
            raise self.database_error(
                exc, phase="read", caller=caller, statement=sql, parameters=bound
            ) from exc
        if self.hook.on_read.get_hookimpls():
            self._observe_read(caller, sql, tables, len(rows), started)
        return QueryResult(rows=rows)

    def snapshot_session(self) -> AbstractContextManager[engines.Session]:
        """A read-only transaction in which every statement sees one snapshot.

        For :class:`~wfsdk.gateway.Reads`: PostgreSQL begins it ``ISOLATION LEVEL
        REPEATABLE READ READ ONLY`` (or keeps the connection's own ``SERIALIZABLE``);
        a SQLite transaction is one snapshot already.
        """
        self._ensure_open()
        target = self._target
        if target.direct:
            try:
                return engines.driver_session(target, read_only=True, snapshot=True)
            except sa.exc.DBAPIError as exc:
                raise self._connect_error(exc) from exc
        return engines.engine_session(
            target, read_only=True, connect_error=self._connect_error, snapshot=True
        )

    def read_in(
        self,
        session: engines.Session,
        caller: str,
        sql: str,
        bound: Mapping[str, Any],
        tables: frozenset[str],
    ) -> tuple[dict[str, Any], ...]:
        """Run a vetted read inside a read-only transaction the caller holds; its rows.

        The transaction belongs to :class:`~wfsdk.gateway.Reads`, which opens,
        commits and closes it, and which rolls it back and reports a driver error
        (``sqlalchemy.exc.DBAPIError``) raised from here. ``on_read`` follows every
        statement, as after :meth:`read`.
        """
        self._ensure_open()
        started = time.perf_counter()
        rows = tuple(engines.execute_vetted(session, sql, bound).rows)
        if self.hook.on_read.get_hookimpls():
            self._observe_read(caller, sql, tables, len(rows), started)
        return rows

    def _observe_read(
        self, caller: str, sql: str, tables: frozenset[str], row_count: int, started: float
    ) -> None:
        event = ReadEvent(
            caller=caller,
            statement=sql,
            tables=tables,
            row_count=row_count,
            duration_s=time.perf_counter() - started,
            dialect=self.dialect,
        )
        self.notify("on_read", event=event, journal=self.journal)

    def table_info(self, table: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(primary key columns, all columns) of a table, reflected once per kernel."""
        info = self._table_info.get(table)
        if info is None:
            with self.connection(read_only=True) as conn, engines.allowed(conn):
                inspector = sa.inspect(conn)
                columns = tuple(c["name"] for c in inspector.get_columns(table))
                pk = tuple(inspector.get_pk_constraint(table).get("constrained_columns") or ())
            info = (pk, columns)
            self._table_info[table] = info
        return info

    def rewrites_written_rows(self, table: str) -> bool:
        """Whether something runs after a write to ``table`` that may change the written rows.

        AFTER and INSTEAD OF triggers (and PostgreSQL rules) act after the row
        that ``RETURNING`` reports was formed, so a write to such a table is
        verified by reading its rows again. Looked up once per contract check.
        """
        known = self._rewrites.get(table)
        if known is None:
            if self.dialect == "postgresql":
                sql = (
                    "SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) "
                    "AND NOT tgisinternal AND (tgtype & 2) = 0) + (SELECT count(*) FROM pg_rules "
                    "WHERE schemaname = current_schema() AND tablename = :name) AS n"
                )
            else:
                sql = (
                    "SELECT count(*) AS n FROM sqlite_master WHERE type = 'trigger' "
                    "AND tbl_name = :name AND upper(sql) NOT LIKE '%BEFORE%'"
                )
            with self.session(read_only=True) as session:
                rows = self.run(session, sql, {"t": self.quote(table), "name": table}).rows
                session.commit()
            known = bool(rows and rows[0]["n"])
            self._rewrites[table] = known
        return known

    # -- hooks and errors ---------------------------------------------------------------

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an observing hook; a raising plugin is reported and then raised."""
        try:
            getattr(self.hook, hook_name)(**kwargs)
        except WfsdkError:
            raise
        except Exception as exc:
            change = kwargs.get("change")
            change_id = getattr(change, "change_id", None)
            self.report_error(exc, phase=hook_name, caller="", change_id=change_id)
            note = f" (change {change_id} is committed)" if change_id else ""
            raise PluginHookError(
                f"a plugin's {hook_name} raised {type(exc).__name__}: "
                f"{self.redactor.text(str(exc))}{note}",
                hook=hook_name,
                change_id=change_id,
            ) from exc

    def report_error(
        self,
        exc: BaseException,
        *,
        phase: str,
        caller: str,
        statement: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        transaction_state: str = "none",
        change_id: str | None = None,
    ) -> None:
        event = ErrorEvent(
            error_type=type(exc).__name__,
            message=self.redactor.text(str(exc)),
            phase=phase,
            caller=caller,
            statement=self.redactor.text(statement) if statement else None,
            parameters=self.redactor.mapping(parameters),
            transaction_state=transaction_state,
            traceback=self.redactor.text(
                "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            ),
            change_id=change_id,
        )
        log.error("%s during %s: %s", event.error_type, phase, event.message)
        # Every observer hears about every error, even if another observer fails.
        for impl in self.hook.on_error.get_hookimpls():
            try:
                call_impl(impl, error=event, journal=self.journal)
            except Exception:
                log.exception("on_error of plugin %s raised; ignored", impl.plugin_name)

    def database_error(
        self,
        exc: BaseException,
        *,
        phase: str,
        caller: str,
        statement: str | None,
        parameters: Mapping[str, Any] | None = None,
        transaction_state: str = "rolled back",
    ) -> DatabaseError:
        self.report_error(
            exc,
            phase=phase,
            caller=caller,
            statement=statement,
            parameters=parameters,
            transaction_state=transaction_state,
        )
        original = getattr(exc, "orig", None) or exc
        return DatabaseError(
            f"the database refused or failed during {phase}: "
            f"{self.redactor.text(str(original)).strip()} (nothing was changed; the "
            "transaction was rolled back)"
        )

    def quote(self, name: str) -> str:
        return str(self._target.engine.dialect.identifier_preparer.quote(name))

    def check_columns(self, classification: Classification) -> None:
        """Refuse statements naming tables or columns the schema contract does not document."""
        contract = self._contract
        if contract is None:  # only while the first check is still running
            raise ContractError("the schema contract has not been checked yet")
        for table in sorted(classification.reads | classification.writes):
            if contract.columns_of(table) is None:
                documented = ", ".join(sorted(contract.tables)) or "none"
                raise UnknownColumnError(
                    f"table {table!r} is not in the schema contract ({self.contract_path}); "
                    f"documented tables: {documented}",
                    sql=classification.sql,
                    reason="undocumented-table",
                )
        for table, columns in sorted(classification.columns.items()):
            known = contract.columns_of(table)
            if known is None or contract.is_open(table):
                continue
            for column in sorted(columns - known):
                hint = suggest_column(contract, table, column)
                did_you_mean = f"; did you mean {hint!r}?" if hint else ""
                raise UnknownColumnError(
                    f"column {column!r} is not documented for table {table!r} in "
                    f"{self.contract_path}{did_you_mean}",
                    sql=classification.sql,
                    reason="unknown-column",
                )

    @property
    def contract_in_force(self) -> Contract | None:
        """The contract of the last check (a new object after every check)."""
        return self._contract

    def documented_columns(self, table: str) -> frozenset[str] | None:
        if self._contract is None:
            raise ContractError("the schema contract has not been checked yet")
        return self._contract.columns_of(table)

    def check_schema(self) -> SchemaReport:
        """Compare the live database with the contract, read fresh from disk.

        A mismatch calls ``on_schema_mismatch``, stops this kernel (every later
        statement is refused) and raises :class:`SchemaMismatchError`. Nothing is
        fixed. A missing or unreadable contract raises :class:`ContractError`.
        """
        if self._closed:
            raise WfsdkError("this wfsdk connection is closed")
        try:
            contract = load_contract(self.contract_path)
        except ContractError as exc:
            self.report_error(exc, phase="contract", caller="")
            raise
        try:
            with self.connection(read_only=True) as conn, engines.allowed(conn):
                report = compare(conn, contract)
        except sa.exc.DBAPIError as exc:
            raise self.database_error(exc, phase="schema check", caller="", statement=None) from exc
        self.last_report = report
        self._contract = contract
        self._rewrites.clear()
        if report.ok:
            return report
        self._mismatch = report
        mismatch = report.to_mismatch_report()
        # Observers are told; none of them can turn the stop off.
        for impl in self.hook.on_schema_mismatch.get_hookimpls():
            try:
                call_impl(impl, report=mismatch, journal=self.journal)
            except Exception as exc:
                self.report_error(exc, phase="on_schema_mismatch", caller="")
        error = SchemaMismatchError(
            f"the live database does not match {self.contract_path}: "
            f"{len(report.differences)} difference(s). Execution stopped; nothing was "
            f"changed or fixed.\n{report.to_text()}",
            report=report,
        )
        self.report_error(error, phase="schema check", caller="")
        raise error

    def _ensure_open(self) -> None:
        if self._closed:
            raise WfsdkError("this wfsdk connection is closed")
        if self._mismatch is not None:
            raise SchemaMismatchError(
                "execution stopped: the live database did not match the schema contract "
                f"{self.contract_path}; see the report, fix the document or the database by "
                "hand, then connect again",
                report=self._mismatch,
            )


def connect(
    target: str | Engine | Callable[[], Any] | None = None,
    *,
    contract: str | os.PathLike[str] | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    plugins: Sequence[str] | None = None,
    disable_plugins: Sequence[str] | None = None,
    extra_plugins: Sequence[object] = (),
    host_access: Declaration | None = None,
    max_write_rows: int = 1000,
) -> Kernel:
    """Open the one door to the database.

    ``target``: a DSN (``postgresql://``, ``postgresql+psycopg://``, ``sqlite:///``),
    the host's own SQLAlchemy ``Engine``, or a zero-argument factory returning a
    psycopg 3 or sqlite3 connection. Defaults to ``WFSDK_DSN``.
    ``plugins``: distribution names of third-party plugins to load (default
    ``WFSDK_PLUGINS``; unset loads all installed, empty loads none).
    ``disable_plugins``: names never to load (default ``WFSDK_DISABLE_PLUGINS``).
    ``extra_plugins``: plugin objects from the host application itself.
    ``host_access``: what the host application may read and write through
    :meth:`Kernel.execute_query` (default: read what the modules read, write nothing).
    ``contract``: the schema document (default ``WFSDK_CONTRACT``, else
    ``docs/database/schema.md`` under the working directory). It is checked
    before anything else runs; a mismatch raises :class:`SchemaMismatchError`.
    """
    if target is None:
        target = os.environ.get(ENV_DSN)
        if not target:
            raise ConfigurationError(
                f"no database given: pass a DSN, an Engine or a factory, or set {ENV_DSN}"
            )
    if contract is None:
        contract = os.environ.get(ENV_CONTRACT) or DEFAULT_CONTRACT
    contract_path = _path_argument("contract", contract)
    resolved_state = _path_argument(
        "state_dir", state_dir or os.environ.get(ENV_STATE_DIR) or ".wfsdk"
    )
    _check_names("plugins", plugins)
    _check_names("disable_plugins", disable_plugins)
    if isinstance(extra_plugins, str | bytes) or not isinstance(extra_plugins, Sequence):
        raise ConfigurationError(
            f"extra_plugins must be a list of plugin objects, not {type(extra_plugins).__name__}"
        )
    if host_access is not None and not isinstance(host_access, Declaration):
        raise ConfigurationError(
            "host_access must be a wfsdk.values.Declaration or None, not "
            f"{type(host_access).__name__}"
        )
    if isinstance(max_write_rows, bool) or not isinstance(max_write_rows, int):
        raise ConfigurationError(
            f"max_write_rows must be a positive integer, not {max_write_rows!r}"
        )
    if max_write_rows < 1:
        raise ConfigurationError(f"max_write_rows must be at least 1, not {max_write_rows}")
    loaded = load_plugins(plugins, disable_plugins, extra=extra_plugins)
    resolved = _resolve(target)
    kernel = Kernel(
        resolved,
        loaded,
        contract_path=contract_path,
        state_dir=resolved_state,
        host_access=host_access,
        max_write_rows=max_write_rows,
    )
    try:
        kernel.check_schema()
        # Before the host's first statement, so that every plugin agrees with the
        # database about the changes of writers that died mid-write.
        kernel.recovery = recover(kernel)
    except BaseException:
        kernel.close()
        raise
    return kernel


def _check_encodable(sql: str, bound: Mapping[str, Any]) -> None:
    """Refuse text no database can store: lone surrogates have no UTF-8 form.

    Without this the driver would raise ``UnicodeEncodeError`` half-way into a
    statement, an error that is none of wfsdk's.
    """
    if not _encodable(sql):
        raise StatementRefusedError(
            "statement refused (unencodable): it holds text with a lone surrogate, which no "
            "database can store",
            sql=sql,
            reason="unencodable",
        )
    for name, value in bound.items():
        if not _encodable(value):
            raise StatementRefusedError(
                f"parameters refused (unencodable): {name} holds text with a lone surrogate, "
                "which no database can store",
                sql=sql,
                reason="unencodable",
            )


def _encodable(value: object) -> bool:
    if isinstance(value, str):
        if value.isascii():
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list | tuple):
        return all(_encodable(item) for item in value)
    return True


_CONNECT_ERRORS: tuple[type[Exception], ...] = (sa.exc.DBAPIError, *engines.DBAPI_ERRORS)


def _resolve(target: str | Engine | Callable[[], Any]) -> engines.Target:
    try:
        return engines.resolve(target)
    except _CONNECT_ERRORS as exc:
        # Nothing is connected yet, so there is no plugin to tell; the caller is told.
        original = getattr(exc, "orig", None) or exc
        password = getattr(getattr(target, "url", None), "password", None)
        if isinstance(target, str):
            with contextlib.suppress(Exception):
                password = sa.engine.make_url(target).password
        redactor = Redactor([password] if isinstance(password, str) else [])
        raise DatabaseError(
            f"cannot connect to the database: {redactor.text(str(original)).strip()} "
            "(nothing was sent; check the address, the server and the credentials)"
        ) from exc


def _path_argument(what: str, value: object) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise ConfigurationError(f"{what} must be a path, not {type(value).__name__}")
    text = os.fspath(value)
    if not isinstance(text, str) or not text or "\x00" in text:
        raise ConfigurationError(f"{what} must be a non-empty path without NUL characters")
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"{what} {text!r} cannot be a file name here: it holds characters the file "
            "system's encoding cannot store"
        ) from None
    return Path(text)


def _check_names(what: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ConfigurationError(
            f"{what} must be a list of distribution names, not {type(value).__name__}"
        )
    for name in value:
        if not isinstance(name, str):
            raise ConfigurationError(f"{what} must hold names (strings), not {name!r}")
