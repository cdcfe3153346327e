"""A caller's door: every statement a module or the host runs, bound to its declaration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wfsdk.errors import ConfigurationError, StatementRefusedError
from wfsdk.values import Declaration, Operation

if TYPE_CHECKING:
    from wfsdk.kernel import Kernel, QueryResult


class Gateway:
    """Runs statements for one caller, within what that caller declared.

    Built-in modules receive one through ``register_api``; the host application
    uses the kernel's own (``kernel.execute_query``).
    """

    __slots__ = ("_kernel", "declaration")

    def __init__(self, kernel: Kernel, declaration: Declaration) -> None:
        self._kernel = kernel
        self.declaration = declaration

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
        from wfsdk.kernel import QueryResult
        from wfsdk.writes import execute_write

        kernel = self._kernel
        if not isinstance(sql, str):
            raise ConfigurationError(f"sql must be a string, not {type(sql).__name__}")
        named, bound, classification = kernel.prepare(sql, params, self.caller)
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
        if not classification.writes:
            rows = kernel.read(self.caller, named, bound, classification.reads)
            return QueryResult(rows=rows)
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

    def read(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None
    ) -> tuple[dict[str, Any], ...]:
        """Rows of a read; a statement that is not a read is refused."""
        kernel = self._kernel
        _named, _bound, classification = kernel.prepare(sql, params, self.caller)
        if classification.writes:
            error = StatementRefusedError(
                "read() runs reads only; use execute_query or a typed write for writes",
                sql=sql,
                reason="not-a-read",
            )
            kernel.report_error(error, phase="guard", caller=self.caller, statement=sql)
            raise error
        return self.execute_query(sql, params).rows

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
