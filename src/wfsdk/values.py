"""Value objects that cross a hook boundary.

All are frozen and slotted so a plugin can neither change what other plugins
see nor depend on attributes that are not part of the contract. New fields are
only ever added with defaults, so plugins written against an older wfsdk keep
working.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs


def _frozen_mapping(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def _mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


def _names(value: Any) -> frozenset[str]:
    return frozenset(value)


def _columns_by_table(value: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    return {table: frozenset(columns) for table, columns in value.items()}


class Operation(enum.StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


class Decision(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"


@attrs.frozen
class Vote:
    """What one ``before_write`` implementation decided. Returning ``None`` abstains."""

    decision: Decision
    reason: str = ""
    voter: str = ""

    @classmethod
    def allow(cls, reason: str = "", voter: str = "") -> Vote:
        return cls(Decision.ALLOW, reason, voter)

    @classmethod
    def deny(cls, reason: str, voter: str = "") -> Vote:
        if not reason:
            raise ValueError("a deny must say why")
        return cls(Decision.DENY, reason, voter)


@attrs.frozen
class OwnedTable:
    """A table a module owns, and what its owner lets anyone write in it.

    ``read_only`` tables can be written by nobody, whoever declares a write.
    ``writable_columns`` empty with ``read_only`` false means every column.
    """

    name: str
    read_only: bool = True
    writable_columns: frozenset[str] = attrs.field(factory=frozenset, converter=_names)


@attrs.frozen
class Declaration:
    """A module's least-privilege declaration: tables it owns, reads, writes, deletes from.

    ``writes`` maps a table to the columns the module may set by update or
    insert. ``deletes`` names the tables whose rows it may delete.
    """

    module: str
    owns: tuple[OwnedTable, ...] = ()
    reads: frozenset[str] = attrs.field(factory=frozenset, converter=_names)
    writes: Mapping[str, frozenset[str]] = attrs.field(factory=dict, converter=_columns_by_table)
    deletes: frozenset[str] = attrs.field(factory=frozenset, converter=_names)


@attrs.frozen
class ReadEvent:
    """One read that has returned its rows."""

    caller: str
    statement: str
    tables: frozenset[str] = attrs.field(converter=_names)
    row_count: int
    duration_s: float
    dialect: str = ""


@attrs.frozen
class RowChange:
    """One row a write changes: its primary key and its images before and after.

    ``before`` is ``None`` for an insert, ``after`` is ``None`` for a delete.
    """

    key: Mapping[str, Any] = attrs.field(converter=_mapping)
    before: Mapping[str, Any] | None = attrs.field(default=None, converter=_frozen_mapping)
    after: Mapping[str, Any] | None = attrs.field(default=None, converter=_frozen_mapping)

    def changed_columns(self) -> tuple[str, ...]:
        before = self.before or {}
        after = self.after or {}
        names = sorted(set(before) | set(after))
        return tuple(n for n in names if before.get(n) != after.get(n))


@attrs.frozen
class WriteIntent:
    """A write about to happen, with the rows it will change (previewed, not yet changed)."""

    change_id: str
    caller: str
    actor: str
    reason: str
    table: str
    operation: Operation
    statement: str
    parameters: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping)
    rows: tuple[RowChange, ...] = ()
    dry_run: bool = False


@attrs.frozen
class Receipt:
    """What a ``before_commit`` implementation made durable for a change (a backup, say)."""

    plugin: str
    kind: str
    reference: str


#: How ``after_rollback``'s ``reason`` begins when the next start delivers the rollback
#: of a write whose process died (see :mod:`wfsdk.writelog`).
RECOVERED = "recovered at start-up"


@attrs.frozen
class ChangeRecord:
    """A change that has committed, with everything needed to audit or undo it.

    ``recovered`` is true when the writing process ended before every
    ``after_write`` had returned, and the next start delivers the change from
    the kernel's write-ahead record (see :mod:`wfsdk.writelog`). Such a record
    has no receipts, and ``committed_at`` is when the commit was found.
    """

    change_id: str
    caller: str
    actor: str
    reason: str
    table: str
    operation: Operation
    statement: str
    rows: tuple[RowChange, ...]
    votes: tuple[Vote, ...]
    receipts: tuple[Receipt, ...] = ()
    committed_at: str = ""
    recovered: bool = False

    @property
    def backup_id(self) -> str | None:
        for receipt in self.receipts:
            if receipt.kind == "backup":
                return receipt.reference
        return None


@attrs.frozen
class Difference:
    """One way the live database differs from the documented schema."""

    table: str
    kind: str
    column: str | None
    want: str
    have: str
    source: str = ""


@attrs.frozen
class MismatchReport:
    """The live schema does not match the contract. Execution has stopped."""

    contract: str
    differences: tuple[Difference, ...]
    information: tuple[str, ...] = ()
    text: str = ""


@attrs.frozen
class ErrorEvent:
    """A failure of the database, the guard, a policy or a plugin, before it is raised."""

    error_type: str
    message: str
    phase: str
    caller: str = ""
    statement: str | None = None
    parameters: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping)
    transaction_state: str = "none"
    traceback: str = ""
    change_id: str | None = None


@attrs.frozen
class DataProblem:
    """Something wrong in the data itself, found by ``wfsdk integrity`` and never fixed.

    ``kind`` is a short stable code (``missing-reference``, ``duplicate-order``,
    ``unknown-field``, ``bad-config``, ...) so reports can be counted per kind.
    """

    kind: str
    table: str
    row_id: Any
    message: str
    module: str = ""
