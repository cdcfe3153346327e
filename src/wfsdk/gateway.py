"""A caller's door: every statement a module or the host runs, bound to its declaration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from wfsdk.errors import ConfigurationError, StatementRefusedError, WfsdkError
from wfsdk.guard import Classification
from wfsdk.values import Declaration, Operation
from wfsdk.writes import execute_write

if TYPE_CHECKING:
    from wfsdk.engine import Session
    from wfsdk.kernel import Kernel, QueryResult

# Statement texts vetted per gateway before the memory is cleared and filled afresh.
_VETTED_SIZE = 2048


class Gateway:
    """Runs statements for one caller, within what that caller declared.

    Built-in modules receive one through ``register_api``; the host application
    uses the kernel's own (``kernel.execute_query``).
    """

    __slots__ = ("_kernel", "_plans", "_vetted", "declaration")

    def __init__(self, kernel: Kernel, declaration: Declaration) -> None:
        self._kernel = kernel
        self.declaration = declaration
        # Statement text -> (contract, declaration) it passed the access and contract checks for.
        self._vetted: dict[str, tuple[object, Declaration]] = {}
        # Read text run without parameters -> what binding, the guard, the access rules and
        # the contract said of it, and under which (contract, declaration). All of it
        # depends on the text alone, so a statement a module runs again and again is
        # bound, classified and vetted once per contract check.
        self._plans: dict[str, tuple[str, Classification, object, Declaration]] = {}

    @property
    def caller(self) -> str:
        return self.declaration.module

    @property
    def dialect(self) -> str:
        return self._kernel.dialect

    def __repr__(self) -> str:
        return f"<wfsdk.Gateway for {self.caller!r}>"

    def documented_columns(self, table: str) -> frozenset[str] | None:
        """The columns the schema contract documents for ``table`` (``None``: not documented).

        Lets a module check names found in data (field mappings, step configs)
        against the documented schema without a query.
        """
        return self._kernel.documented_columns(table)

    def execute_query(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        actor: str | None = None,
        reason: str | None = None,
        dry_run: bool = False,
    ) -> QueryResult:
        """Run one statement through the guard.

        A read returns its rows (``on_read`` follows). A write goes through the
        whole write path: preview, ``before_write`` votes, a checked and verified
        transaction, ``after_write``; it needs ``actor`` (who asks) and
        ``reason`` (why). ``dry_run`` returns the preview and the votes and
        changes nothing. Parameters are always bound, never interpolated:
        ``%s`` with a sequence, ``%(name)s`` or ``:name`` with a mapping.
        """
        named, bound, classification = self._kernel.prepare(sql, params, self.caller)
        return self._run(sql, named, bound, classification, actor, reason, dry_run)

    def read(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None
    ) -> tuple[dict[str, Any], ...]:
        """Rows of a read; a statement that is not a read is refused."""
        named, bound, classification = self._checked_read(sql, params)
        return self._kernel.read(self.declaration.module, named, bound, classification.reads).rows

    def reading(self) -> Reads:
        """Several reads in one read-only transaction, on one pooled connection.

        ::

            with gateway.reading() as reads:
                stages = reads.read("SELECT id, name FROM workflow_stage_entity")
                subs = reads.read("SELECT id, stage_id FROM workflow_sub_stage_entity")

        Every statement is checked exactly as :meth:`read` checks it and is
        followed by ``on_read``; all of them see the same snapshot of the
        database (PostgreSQL: the block runs ``REPEATABLE READ``, or the
        connection's own ``SERIALIZABLE``; SQLite: one transaction is one
        snapshot). The transaction is read-only on the server and ends with
        ``COMMIT`` when the block ends normally. An error raised by a read (a refusal, a database
        error, a failing ``on_read``) ends the block: its transaction is rolled
        back at once, and further reads in it raise :class:`WfsdkError`.
        """
        return Reads(self)

    def _checked_read(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None
    ) -> tuple[str, dict[str, Any], Classification]:
        """Bind, classify and vet a statement that must be a read; refuse anything else.

        Whoever runs the statement checks that the kernel is still open first.
        """
        kernel = self._kernel
        plain = params is None and type(sql) is str
        if plain:
            plan = self._plans.get(sql)
            if (
                plan is not None
                and plan[2] is kernel.contract_in_force
                and plan[3] is self.declaration
            ):
                return plan[0], {}, plan[1]
        named, bound, classification = kernel.prepare(sql, params, self.caller)
        if classification.writes:
            error = StatementRefusedError(
                "read() runs reads only; use execute_query or a typed write for writes",
                sql=sql,
                reason="not-a-read",
            )
            kernel.report_error(error, phase="guard", caller=self.caller, statement=sql)
            raise error
        self._check(sql, bound, classification)
        if plain:
            if len(self._plans) >= _VETTED_SIZE:
                self._plans.clear()
            self._plans[sql] = (named, classification, kernel.contract_in_force, self.declaration)
        return named, bound, classification

    def _run(
        self,
        sql: str,
        named: str,
        bound: dict[str, Any],
        classification: Classification,
        actor: str | None,
        reason: str | None,
        dry_run: bool,
    ) -> QueryResult:
        kernel = self._kernel
        self._check(sql, bound, classification)
        if not classification.writes:
            return kernel.read(self.declaration.module, named, bound, classification.reads)
        return execute_write(
            kernel,
            caller=self.caller,
            sql=named,
            params=bound,
            classification=classification,
            actor=actor,
            reason=reason,
            dry_run=dry_run,
        )

    def _check(self, sql: str, bound: Mapping[str, Any], classification: Classification) -> None:
        """The access and contract checks, asked once per statement text.

        Their answers depend only on the statement, this caller's declaration
        and the contract of the last check.
        """
        contract = self._kernel.contract_in_force
        declaration = self.declaration
        previous = self._vetted.get(classification.sql)
        if previous is None or previous[0] is not contract or previous[1] is not declaration:
            self._vet(sql, bound, classification)
            if len(self._vetted) >= _VETTED_SIZE:
                self._vetted.clear()
            self._vetted[classification.sql] = (contract, declaration)

    def _vet(self, sql: str, bound: Mapping[str, Any], classification: Classification) -> None:
        kernel = self._kernel
        try:
            if classification.write is None and not classification.writes:
                kernel.access.check_read(self.declaration, classification.reads, sql)
            else:
                shape = classification.write
                for table in sorted(classification.writes):
                    operation = shape.operation if shape and shape.table == table else None
                    columns: Sequence[str] = ()
                    if shape and shape.table == table:
                        columns = [c for c, _ in shape.assignments] or list(shape.insert_columns)
                    kernel.access.check_write(self.declaration, table, operation, columns, sql)
                kernel.access.check_read(
                    self.declaration, classification.reads - classification.writes, sql
                )
            # After the access rules, so a write to a read-only table is always named as such.
            kernel.check_columns(classification)
        except StatementRefusedError as exc:
            kernel.report_error(
                exc, phase="access", caller=self.caller, statement=sql, parameters=bound
            )
            raise

    # -- typed writes: built here, then through exactly the same guarded path --------

    def _quote(self, name: str) -> str:
        if not isinstance(name, str) or not name or "\x00" in name:
            raise ConfigurationError(f"not a valid table or column name: {name!r}")
        return self._kernel.quote(name)

    def update(
        self,
        table: str,
        key: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        actor: str,
        reason: str,
        dry_run: bool = False,
    ) -> QueryResult:
        """Set ``values`` on the rows of ``table`` matching ``key`` (column → value)."""
        _check_mapping("key", key)
        _check_mapping("values", values)
        params: dict[str, Any] = {}
        sets = []
        for index, (column, value) in enumerate(values.items()):
            params[f"v{index}"] = value
            sets.append(f"{self._quote(column)} = :v{index}")
        sql = f"UPDATE {self._quote(table)} SET {', '.join(sets)} WHERE " + self._where(key, params)
        return self.execute_query(sql, params, actor=actor, reason=reason, dry_run=dry_run)

    def insert(
        self,
        table: str,
        values: Mapping[str, Any],
        *,
        actor: str,
        reason: str,
        dry_run: bool = False,
    ) -> QueryResult:
        _check_mapping("values", values)
        params = {f"v{i}": value for i, value in enumerate(values.values())}
        columns = ", ".join(self._quote(c) for c in values)
        placeholders = ", ".join(f":v{i}" for i in range(len(values)))
        sql = f"INSERT INTO {self._quote(table)} ({columns}) VALUES ({placeholders})"
        return self.execute_query(sql, params, actor=actor, reason=reason, dry_run=dry_run)

    def delete(
        self, table: str, key: Mapping[str, Any], *, actor: str, reason: str, dry_run: bool = False
    ) -> QueryResult:
        _check_mapping("key", key)
        params: dict[str, Any] = {}
        sql = f"DELETE FROM {self._quote(table)} WHERE " + self._where(key, params)
        return self.execute_query(sql, params, actor=actor, reason=reason, dry_run=dry_run)

    def _where(self, key: Mapping[str, Any], params: dict[str, Any]) -> str:
        terms = []
        for index, (column, value) in enumerate(key.items()):
            if value is None:
                terms.append(f"{self._quote(column)} IS NULL")
            else:
                params[f"k{index}"] = value
                terms.append(f"{self._quote(column)} = :k{index}")
        return " AND ".join(terms)


class Reads:
    """Guarded reads in one read-only transaction; made by :meth:`Gateway.reading`.

    Entering the block checks out a pooled connection and begins the
    transaction; leaving it normally commits (for a read-only transaction the
    same as a rollback, but psycopg keeps its prepared statements); leaving it
    by an exception rolls back. Either way the connection goes back to the
    pool. The block holds that connection until it ends, so keep it short and
    run no writes inside it. One thread at a time.
    """

    __slots__ = ("_ended", "_gateway", "_opened", "_session")

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._opened: AbstractContextManager[Session] | None = None
        self._session: Session | None = None
        self._ended = False

    def __repr__(self) -> str:
        state = "open" if self._session is not None else "ended" if self._ended else "not begun"
        return f"<wfsdk.Reads for {self._gateway.caller!r}, {state}>"

    def __enter__(self) -> Reads:
        if self._ended or self._opened is not None:
            raise WfsdkError("a reading block runs once; open another with gateway.reading()")
        kernel = self._gateway._kernel
        opened = kernel.snapshot_session()
        self._ended = True
        try:
            session = opened.__enter__()
        except sa.exc.DBAPIError as exc:
            raise kernel.database_error(
                exc, phase="read", caller=self._gateway.caller, statement=None
            ) from exc
        self._opened, self._session = opened, session
        return self

    def read(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None
    ) -> tuple[dict[str, Any], ...]:
        """Rows of a read, inside this block's transaction; see :meth:`Gateway.read`."""
        session = self._session
        if session is None:
            raise WfsdkError(
                "this reading block has ended (it was left, or a read in it failed and "
                "its transaction was rolled back); open another with gateway.reading()"
                if self._ended
                else "reads.read() runs inside `with gateway.reading() as reads:` only"
            )
        gateway = self._gateway
        kernel = gateway._kernel
        try:
            named, bound, classification = gateway._checked_read(sql, params)
            try:
                return kernel.read_in(
                    session, gateway.declaration.module, named, bound, classification.reads
                )
            except sa.exc.DBAPIError as exc:
                # Rolled back before anyone is told, so the report says what is true.
                self._end(failed=True)
                raise kernel.database_error(
                    exc, phase="read", caller=gateway.caller, statement=named, parameters=bound
                ) from exc
        except BaseException:
            self._end(failed=True)
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        session = self._session
        if session is None:
            return
        if exc_type is not None:
            self._end(failed=True)
            return
        kernel = self._gateway._kernel
        try:
            session.commit()
        except sa.exc.DBAPIError as exc:
            self._end(failed=True)
            raise kernel.database_error(
                exc, phase="read", caller=self._gateway.caller, statement="COMMIT"
            ) from exc
        self._end(failed=False)

    def _end(self, *, failed: bool) -> None:
        """Roll back what was not committed and give the connection back to the pool.

        When the block is already failing, a failure to close is reported and
        the first error stays the one raised.
        """
        opened, self._opened, self._session = self._opened, None, None
        if opened is None:
            return
        try:
            opened.__exit__(None, None, None)
        except sa.exc.DBAPIError as exc:
            gateway = self._gateway
            if failed:
                gateway._kernel.report_error(
                    exc, phase="read", caller=gateway.caller, transaction_state="unknown"
                )
                return
            raise gateway._kernel.database_error(
                exc, phase="read", caller=gateway.caller, statement=None
            ) from exc


def _check_mapping(what: str, value: object) -> None:
    if not isinstance(value, Mapping) or not value:
        raise ConfigurationError(f"{what} must be a non-empty mapping of column to value")


__all__ = ["Gateway", "Operation", "Reads"]
