"""A caller's door: every statement a module or the host runs, bound to its declaration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wfsdk.errors import ConfigurationError, StatementRefusedError
from wfsdk.guard import Classification
from wfsdk.values import Declaration, Operation
from wfsdk.writes import execute_write

if TYPE_CHECKING:
    from wfsdk.kernel import Kernel, QueryResult

# Statement texts vetted per gateway before the memory is cleared and filled afresh.
_VETTED_SIZE = 2048


class Gateway:
    """Runs statements for one caller, within what that caller declared.

    Built-in modules receive one through ``register_api``; the host application
    uses the kernel's own (``kernel.execute_query``).
    """

    __slots__ = ("_kernel", "_vetted", "declaration")

    def __init__(self, kernel: Kernel, declaration: Declaration) -> None:
        self._kernel = kernel
        self.declaration = declaration
        # Statement text -> (contract, declaration) it passed the access and contract checks for.
        self._vetted: dict[str, tuple[object, Declaration]] = {}

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
        kernel = self._kernel
        named, bound, classification = kernel.prepare(sql, params, self.caller)
        if classification.writes:
            error = StatementRefusedError(
                "read() runs reads only; use execute_query or a typed write for writes",
                sql=sql,
                reason="not-a-read",
            )
            kernel.report_error(error, phase="guard", caller=self.caller, statement=sql)
            raise error
        return self._run(sql, named, bound, classification, None, None, False).rows

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
        # Access and contract answers depend only on the statement, this caller's
        # declaration and the contract of the last check, so each is asked once.
        contract = kernel.contract_in_force
        declaration = self.declaration
        previous = self._vetted.get(classification.sql)
        if previous is None or previous[0] is not contract or previous[1] is not declaration:
            self._vet(sql, bound, classification)
            if len(self._vetted) >= _VETTED_SIZE:
                self._vetted.clear()
            self._vetted[classification.sql] = (contract, declaration)
        if not classification.writes:
            return kernel.read(declaration.module, named, bound, classification.reads)
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


def _check_mapping(what: str, value: object) -> None:
    if not isinstance(value, Mapping) or not value:
        raise ConfigurationError(f"{what} must be a non-empty mapping of column to value")


__all__ = ["Gateway", "Operation"]
