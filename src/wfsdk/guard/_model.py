"""What the guard says about a statement: frozen values, safe to share from the cache."""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping, Sequence

import attrs

from wfsdk.errors import StatementRefusedError
from wfsdk.guard._names import POSTGRES, quote, quote_table
from wfsdk.guard._tokens import statement_end
from wfsdk.values import Operation

#: Prefix of the preview columns that hold an UPDATE's new values, numbered
#: in the order of :attr:`WriteShape.assignments`.
NEW_VALUE_PREFIX = "__wfsdk_new_"


class StatementKind(enum.StrEnum):
    READ = "read"
    WRITE = "write"


def _frozen_columns(value: Mapping[str, frozenset[str]]) -> Mapping[str, frozenset[str]]:
    # Classifications are cached and handed to every caller of the same SQL, so
    # nobody may be able to change what the next caller sees.
    return types.MappingProxyType({table: frozenset(cols) for table, cols in value.items()})


@attrs.frozen
class WriteShape:
    """A single top-level INSERT ... VALUES, UPDATE or DELETE: the writes that can be previewed.

    Expressions are SQL in the statement's dialect; named parameters stay ``:name``
    so that the preview binds the same values as the write.
    """

    operation: Operation
    table: str
    where_sql: str | None = None
    assignments: tuple[tuple[str, str], ...] = ()
    insert_columns: tuple[str, ...] = ()
    insert_rows: tuple[tuple[str, ...], ...] = ()
    dialect: str = attrs.field(default=POSTGRES, kw_only=True)

    def preview_sql(self, columns: Sequence[str]) -> str:
        """A SELECT that shows, without changing anything, the rows this write changes.

        UPDATE: the current ``columns`` and, for each assignment ``i``, its new value
        as ``__wfsdk_new_<i>``. DELETE: the current ``columns``. INSERT: one row per
        VALUES row, its expressions evaluated by the database and named after
        :attr:`insert_columns` (``columns`` is not used).
        """
        if self.operation is Operation.INSERT:
            return " UNION ALL ".join(
                "SELECT "
                + ", ".join(
                    f"{expr} AS {quote(col, self.dialect)}"
                    for col, expr in zip(self.insert_columns, row, strict=True)
                )
                for row in self.insert_rows
            )
        if not columns:
            raise ValueError("preview_sql needs at least one column to show")
        selected = [quote(col, self.dialect) for col in columns]
        if self.operation is Operation.UPDATE:
            selected += [
                f"{expr} AS {quote(f'{NEW_VALUE_PREFIX}{index}', self.dialect)}"
                for index, (_col, expr) in enumerate(self.assignments)
            ]
        sql = f"SELECT {', '.join(selected)} FROM {quote_table(self.table, self.dialect)}"
        if self.where_sql is not None:
            sql += f" WHERE {self.where_sql}"
        return sql

    def returning_sql(
        self, original_sql: str, columns: Sequence[str], extra: Sequence[str] = ()
    ) -> str:
        """``original_sql`` with ``RETURNING <columns>`` appended, to read back what it wrote.

        ``extra``: expressions the kernel adds as they are (never from a caller).

        Refused if the statement already has a RETURNING clause, since a second one
        would not parse and the caller's own would change what comes back.
        """
        if not columns:
            raise ValueError("returning_sql needs at least one column to return")
        end, has_returning = statement_end(original_sql, self.dialect)
        if has_returning:
            raise StatementRefusedError(
                "statement refused (returning): it already has a RETURNING clause; wfsdk "
                "adds its own to read back the written rows, so leave it out",
                sql=original_sql,
                reason="returning",
            )
        names = ", ".join([*(quote(col, self.dialect) for col in columns), *extra])
        return f"{original_sql[:end]} RETURNING {names}"


@attrs.frozen
class Classification:
    """Everything the guard learnt about one accepted statement."""

    sql: str
    kind: StatementKind
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    columns: Mapping[str, frozenset[str]] = attrs.field(
        factory=dict, converter=_frozen_columns, hash=False
    )
    write: WriteShape | None = None

    @property
    def tables(self) -> frozenset[str]:
        """Every table the statement touches, read or written."""
        return self.reads | self.writes


@attrs.frozen
class CacheStats:
    hits: int
    misses: int
    size: int
    maxsize: int
