"""Putting rows back to their before-image, as a new write through the whole guarded path.

A restore is an ordinary write: previewed, voted on (approval), backed up
itself, audited. It undoes one change row by row: the rows an UPDATE changed
get their old values back, the rows an INSERT added are deleted, the rows a
DELETE removed are inserted again. It refuses when the rows are no longer what
the change left behind, unless forced after the differences were shown.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from wfsdk.errors import ChangedSincePreviewError, WfsdkError
from wfsdk.redact import MASK, is_secret_name
from wfsdk.values import Declaration, Operation, RowChange
from wfsdk_backup.store import ROLLED_BACK, Backup, BackupError, load_backup

if TYPE_CHECKING:
    from wfsdk import Kernel, QueryResult


@attrs.frozen
class Difference:
    """A row of the backup that no longer holds what the change left behind."""

    key: Mapping[str, Any]
    column: str | None
    expected: Any
    current: Any

    def __str__(self) -> str:
        where = f"row {dict(self.key)}" + (f" column {self.column}" if self.column else "")
        return f"{where}: the change left {self.expected!r}, it is now {self.current!r}"


@attrs.frozen
class Step:
    """One write of a restore. ``operation`` is the restoring write's, not the change's."""

    operation: Operation
    key: Mapping[str, Any]
    values: Mapping[str, Any]
    current: Mapping[str, Any] | None

    def __str__(self) -> str:
        if self.operation is Operation.DELETE:
            return f"delete row {dict(self.key)}"
        sets = ", ".join(f"{c} = {v!r}" for c, v in self.values.items())
        verb = "insert row" if self.operation is Operation.INSERT else "update row"
        return f"{verb} {dict(self.key)}: {sets}"


@attrs.frozen
class RestorePlan:
    backup: Backup
    steps: tuple[Step, ...]
    differences: tuple[Difference, ...]
    skipped: tuple[str, ...] = ()


class RestoreConflictError(ChangedSincePreviewError):
    """The rows changed since the backup's change; ``differences`` lists how."""

    def __init__(self, message: str, differences: Sequence[Difference]) -> None:
        self.differences = tuple(differences)
        super().__init__(message)


class PartialRestoreError(WfsdkError):
    """A restore stopped part-way; ``done`` holds the writes that committed."""

    def __init__(self, message: str, done: Sequence[QueryResult]) -> None:
        self.done = tuple(done)
        super().__init__(message)


@attrs.frozen
class RestoreResult:
    backup_id: str
    plan: RestorePlan
    results: tuple[QueryResult, ...]
    dry_run: bool

    @property
    def change_ids(self) -> tuple[str, ...]:
        return tuple(r.change.change_id for r in self.results if r.change is not None)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _comparable(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | decimal.Decimal):
        return decimal.Decimal(str(value)).normalize()
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return value


def same(a: Any, b: Any) -> bool:
    """Equal as stored values (``1`` and ``Decimal("1.0")`` are; a datetime and its text are)."""
    if a == b:
        return True
    ca, cb = _comparable(a), _comparable(b)
    if ca == cb:
        return True
    if isinstance(ca, str) and isinstance(cb, str):
        try:
            return dt.datetime.fromisoformat(ca) == dt.datetime.fromisoformat(cb)
        except ValueError:
            return False
    return False


def _current(kernel: Kernel, table: str, key: Mapping[str, Any], columns: Sequence[str]) -> Any:
    names = list(dict.fromkeys([*key, *columns]))
    params: dict[str, Any] = {}
    terms = []
    for index, (column, value) in enumerate(key.items()):
        if value is None:
            terms.append(f"{_quote(column)} IS NULL")
        else:
            params[f"k{index}"] = value
            terms.append(f"{_quote(column)} = :k{index}")
    sql = (
        f"SELECT {', '.join(_quote(c) for c in names)} FROM {_quote(table)} "
        f"WHERE {' AND '.join(terms)}"
    )
    rows = kernel.host.read(sql, params)
    if len(rows) > 1:
        raise BackupError(f"key {dict(key)} matches {len(rows)} rows of {table!r}; not a key")
    return rows[0] if rows else None


def _check_not_redacted(backup: Backup, values: Mapping[str, Any]) -> None:
    for column, value in values.items():
        if value == MASK and is_secret_name(column):
            raise BackupError(
                f"backup {backup.change_id} holds a redacted value for {backup.table}.{column} "
                "(a credential-like column); it cannot be restored from the journal"
            )


def _rows_to_undo(backup: Backup) -> tuple[RowChange, ...]:
    if backup.operation is not Operation.INSERT:
        return backup.rows
    if backup.committed_rows is None:
        raise BackupError(
            f"backup {backup.change_id} is of an insert whose commit was never recorded, so "
            "the keys of the inserted rows are not known; delete them by hand if they exist"
        )
    return backup.committed_rows


def plan_restore(kernel: Kernel, backup: Backup | str) -> RestorePlan:
    """What a restore would write, and how the rows differ from what the change left."""
    if isinstance(backup, str):
        backup = load_backup(kernel.journal, backup)
    if backup.status == ROLLED_BACK:
        raise BackupError(
            f"backup {backup.change_id} belongs to a change that was rolled back; the "
            "database never held it, so there is nothing to restore"
        )
    steps: list[Step] = []
    differences: list[Difference] = []
    skipped: list[str] = []
    table = backup.table
    for row in _rows_to_undo(backup):
        if backup.operation is Operation.UPDATE:
            assert row.before is not None and row.after is not None
            columns = row.changed_columns()
            if not columns:
                skipped.append(f"row {dict(row.key)}: the change set no new value")
                continue
            key = {c: row.after[c] for c in row.key}
            now = _current(kernel, table, key, columns)
            if now is None:
                differences.append(Difference(key, None, "the row", "gone"))
                skipped.append(f"row {dict(key)} no longer exists")
                continue
            differences += [
                Difference(key, c, row.after[c], now[c])
                for c in columns
                if not same(now[c], row.after[c])
            ]
            values = {c: row.before[c] for c in columns}
            steps.append(Step(Operation.UPDATE, key, values, now))
        elif backup.operation is Operation.INSERT:
            after = row.after or {}
            now = _current(kernel, table, row.key, list(after))
            if now is None:
                differences.append(Difference(row.key, None, "the row", "gone"))
                skipped.append(f"row {dict(row.key)} no longer exists")
                continue
            differences += [
                Difference(row.key, c, v, now[c]) for c, v in after.items() if not same(now[c], v)
            ]
            steps.append(Step(Operation.DELETE, row.key, {}, now))
        else:
            assert row.before is not None
            before = dict(row.before)
            now = _current(kernel, table, row.key, list(before))
            if now is None:
                steps.append(Step(Operation.INSERT, row.key, before, None))
                continue
            differences.append(Difference(row.key, None, "no row", "a row with this key"))
            # Forced, the row that took its place gets the old values back.
            values = {c: v for c, v in before.items() if c not in row.key}
            steps.append(Step(Operation.UPDATE, row.key, values, now))
    for step in steps:
        _check_not_redacted(backup, step.values)
    return RestorePlan(backup, tuple(steps), tuple(differences), tuple(skipped))


def restore_access(backup: Backup) -> Declaration:
    """The host access a connection needs to restore ``backup``, and no more.

    Pass it as ``wfsdk.connect(..., host_access=restore_access(backup))``.
    """
    written: set[str] = set()
    for row in backup.rows:
        if backup.operation is Operation.UPDATE:
            written |= set(row.changed_columns())
        elif backup.operation is Operation.DELETE:
            written |= set(row.before or {})
    deletes = {backup.table} if backup.operation is Operation.INSERT else set()
    return Declaration(
        module="host",
        reads={backup.table},
        writes={backup.table: written} if written else {},
        deletes=deletes,
    )


def restore(
    kernel: Kernel,
    backup_id: str,
    *,
    actor: str,
    force: bool = False,
    dry_run: bool = False,
) -> RestoreResult:
    """Put the rows of backup ``backup_id`` back to their before-image, as new writes.

    Each row is one write by ``actor`` with the reason ``restore of <id>``,
    through the kernel's host gateway (``kernel.host``), whose declaration must
    cover it (see :func:`restore_access`). Preview, approval, a backup of the
    restore itself and the audit log all apply. Refuses with
    :class:`RestoreConflictError` when the rows changed since the backup's
    change, unless ``force``. ``dry_run`` previews every write and changes nothing.
    """
    backup = load_backup(kernel.journal, backup_id)
    plan = plan_restore(kernel, backup)
    if plan.differences and not force:
        raise RestoreConflictError(
            f"the rows of {backup.table!r} changed since change {backup_id}; restoring would "
            "overwrite later changes: "
            + "; ".join(str(d) for d in plan.differences)
            + " (force the restore to write the before-image anyway)",
            plan.differences,
        )
    reason = f"restore of {backup_id}"
    results: list[QueryResult] = []
    gateway = kernel.host
    for step in plan.steps:
        try:
            if step.operation is Operation.UPDATE:
                result = gateway.update(
                    backup.table, step.key, step.values, actor=actor, reason=reason, dry_run=dry_run
                )
            elif step.operation is Operation.DELETE:
                result = gateway.delete(
                    backup.table, step.key, actor=actor, reason=reason, dry_run=dry_run
                )
            else:
                result = gateway.insert(
                    backup.table, step.values, actor=actor, reason=reason, dry_run=dry_run
                )
        except WfsdkError as exc:
            if not results or dry_run:
                raise
            done = ", ".join(r.change.change_id for r in results if r.change is not None)
            raise PartialRestoreError(
                f"restore of {backup_id} stopped after {len(results)} of {len(plan.steps)} "
                f"row(s) ({type(exc).__name__}: {exc}); the rows already restored are changes "
                f"{done}, each with its own backup",
                results,
            ) from exc
        results.append(result)
    return RestoreResult(backup_id, plan, tuple(results), dry_run)
