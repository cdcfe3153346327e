"""Backups in the journal: one document per change, and a stream of what became of each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from wfsdk.errors import WfsdkError
from wfsdk.journal import Journal
from wfsdk.values import ChangeRecord, Operation, RowChange, WriteIntent

KIND = "backups"
STATUS_STREAM = "backup-status"
FORMAT = 1

PREPARED = "prepared"
COMMITTED = "committed"
ROLLED_BACK = "rolled-back"


class BackupError(WfsdkError):
    """A backup is missing, unreadable, or cannot be restored as asked."""


@attrs.frozen
class Backup:
    """A change's rows before (and after) it, and what became of the change.

    ``status`` is ``prepared`` (made durable; the change had not committed yet,
    or the process stopped before it could say), ``committed`` or ``rolled-back``.
    ``committed_rows`` are the rows as the committed change reported them: for
    an insert, the only place the keys the database generated are known.
    """

    change_id: str
    table: str
    operation: Operation
    key_columns: tuple[str, ...]
    rows: tuple[RowChange, ...]
    actor: str
    reason: str
    caller: str
    statement: str
    created_at: str
    status: str = PREPARED
    history: tuple[Mapping[str, Any], ...] = ()
    committed_rows: tuple[RowChange, ...] | None = None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _row_dicts(rows: Iterable[RowChange]) -> list[dict[str, Any]]:
    return [
        {
            "key": dict(r.key),
            "before": None if r.before is None else dict(r.before),
            "after": None if r.after is None else dict(r.after),
        }
        for r in rows
    ]


def _row_changes(raw: Any) -> tuple[RowChange, ...]:
    return tuple(RowChange(key=r["key"], before=r.get("before"), after=r.get("after")) for r in raw)


def write_backup(journal: Journal, intent: WriteIntent) -> None:
    """The before-images (and the rest) made durable, then marked ``prepared``."""
    key_columns = list(dict.fromkeys(c for row in intent.rows for c in row.key))
    journal.write_document(
        KIND,
        intent.change_id,
        {
            "format": FORMAT,
            "change_id": intent.change_id,
            "table": intent.table,
            "operation": intent.operation.value,
            "key_columns": key_columns,
            "rows": _row_dicts(intent.rows),
            "actor": intent.actor,
            "reason": intent.reason,
            "caller": intent.caller,
            "statement": intent.statement,
            "created_at": _now(),
        },
    )
    journal.append(STATUS_STREAM, {"change_id": intent.change_id, "status": PREPARED, "at": _now()})


def mark_committed(journal: Journal, change: ChangeRecord) -> None:
    journal.append(
        STATUS_STREAM,
        {
            "change_id": change.change_id,
            "status": COMMITTED,
            "at": _now(),
            "committed_at": change.committed_at,
            # Keys and after-images as committed: an insert's generated keys are known only now.
            "rows": [{"key": dict(r.key), "after": r.after} for r in change.rows],
        },
    )


def mark_rolled_back(journal: Journal, change_id: str, reason: str) -> None:
    journal.append(
        STATUS_STREAM,
        {"change_id": change_id, "status": ROLLED_BACK, "at": _now(), "reason": reason},
    )


def has_backup(journal: Journal, change_id: str) -> bool:
    return (journal.directory / KIND / f"{change_id}.json").is_file()


def _histories(journal: Journal) -> dict[str, list[dict[str, Any]]]:
    histories: dict[str, list[dict[str, Any]]] = {}
    for record in journal.records(STATUS_STREAM):
        histories.setdefault(str(record.get("change_id")), []).append(record)
    return histories


def _backup(document: Mapping[str, Any], history: list[dict[str, Any]]) -> Backup:
    if document.get("format") != FORMAT:
        raise BackupError(
            f"backup {document.get('change_id')!r} has format {document.get('format')!r}; "
            f"this wfsdk-backup reads format {FORMAT}"
        )
    status = PREPARED
    committed_rows = None
    for record in history:
        status = str(record.get("status"))
        if status == COMMITTED:
            committed_rows = _row_changes(record.get("rows") or ())
    return Backup(
        change_id=document["change_id"],
        table=document["table"],
        operation=Operation(document["operation"]),
        key_columns=tuple(document["key_columns"]),
        rows=_row_changes(document["rows"]),
        actor=document["actor"],
        reason=document["reason"],
        caller=document["caller"],
        statement=document["statement"],
        created_at=document["created_at"],
        status=status,
        history=tuple(history),
        committed_rows=committed_rows,
    )


def _malformed(journal: Journal, name: str, exc: Exception) -> BackupError:
    return BackupError(f"backup {name!r} in {journal.directory} is malformed: {exc!r}")


def load_backup(journal: Journal, change_id: str) -> Backup:
    """The backup of one change (its id is the change id)."""
    document = journal.read_document(KIND, change_id)
    history = [r for r in journal.records(STATUS_STREAM) if r.get("change_id") == change_id]
    try:
        return _backup(document, history)
    except (KeyError, TypeError, ValueError) as exc:
        raise _malformed(journal, change_id, exc) from exc


def list_backups(journal: Journal) -> list[Backup]:
    """Every backup in the journal, oldest first."""
    histories = _histories(journal)
    backups = []
    for name in journal.documents(KIND):
        try:
            backups.append(_backup(journal.read_document(KIND, name), histories.get(name, [])))
        except (KeyError, TypeError, ValueError) as exc:
            raise _malformed(journal, name, exc) from exc
    return backups
