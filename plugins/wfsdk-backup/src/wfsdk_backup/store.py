"""Backups in the journal: one document per change, and a stream of what became of each.

The records of a write are appended with ``sync=False``: the kernel's
write-ahead record of the change is durable before ``before_commit`` runs, the
kernel syncs the journal before it forgets that record, and a change whose
writer died is delivered again at the next start (``ChangeRecord.recovered``,
or a rollback whose reason starts with ``wfsdk.values.RECOVERED``).
:func:`settle_committed` and :func:`settle_rolled_back` handle such a
redelivery, however often it comes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from wfsdk.errors import WfsdkError
from wfsdk.journal import Journal, JournalError
from wfsdk.values import ChangeRecord, Operation, RowChange, WriteIntent

log = logging.getLogger("wfsdk.backup")

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

    ``status`` is ``prepared`` (written before the commit; the change had not
    committed yet, or its outcome has not been delivered yet: the next start
    delivers the outcome of a writer that died), ``committed`` or ``rolled-back``.
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


def _document(
    change_id: str,
    table: str,
    operation: Operation,
    rows: tuple[RowChange, ...],
    actor: str,
    reason: str,
    caller: str,
    statement: str,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "change_id": change_id,
        "table": table,
        "operation": operation.value,
        "key_columns": list(dict.fromkeys(c for row in rows for c in row.key)),
        "rows": _row_dicts(rows),
        "actor": actor,
        "reason": reason,
        "caller": caller,
        "statement": statement,
        "created_at": _now(),
    }


def write_backup(journal: Journal, intent: WriteIntent, *, sync: bool = True) -> None:
    """Marked ``prepared``, then the before-images (and the rest) written as a document.

    In that order, a failure part-way leaves no document behind: a ``prepared``
    line without its document is no backup, and shows nowhere.
    """
    journal.append(
        STATUS_STREAM,
        {"change_id": intent.change_id, "status": PREPARED, "at": _now()},
        sync=sync,
    )
    journal.write_document(
        KIND,
        intent.change_id,
        _document(
            intent.change_id,
            intent.table,
            intent.operation,
            intent.rows,
            intent.actor,
            intent.reason,
            intent.caller,
            intent.statement,
        ),
        sync=sync,
    )


def mark_committed(
    journal: Journal, change: ChangeRecord, *, sync: bool = True, recovered: bool = False
) -> None:
    record: dict[str, Any] = {
        "change_id": change.change_id,
        "status": COMMITTED,
        "at": _now(),
        "committed_at": change.committed_at,
        # Keys and after-images as committed: an insert's generated keys are known only now.
        "rows": [{"key": r.key, "after": r.after} for r in change.rows],
    }
    if recovered:
        record["recovered"] = True
    journal.append(STATUS_STREAM, record, sync=sync)


def mark_rolled_back(
    journal: Journal, change_id: str, reason: str, *, sync: bool = True, recovered: bool = False
) -> None:
    record: dict[str, Any] = {
        "change_id": change_id,
        "status": ROLLED_BACK,
        "at": _now(),
        "reason": reason,
    }
    if recovered:
        record["recovered"] = True
    journal.append(STATUS_STREAM, record, sync=sync)


def has_backup(journal: Journal, change_id: str) -> bool:
    return (journal.directory / KIND / f"{change_id}.json").is_file()


# -- redeliveries ----------------------------------------------------------------------

# The journal's rule for a document name; a change id outside it can have no backup.
_DOCUMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")


class _StatusIndex:
    """The last status of every backup, per journal directory, kept while redeliveries come.

    Built by one read of the status stream and kept up to date by this
    process's own appends; read again when the stream changed behind it (its
    size, inode or modification time differ). A write that is not a
    redelivery drops it, so the normal write path never reads the stream.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._indexes: dict[Path, tuple[tuple[int, int, int] | None, dict[str, str]]] = {}

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @staticmethod
    def _signature(path: Path) -> tuple[int, int, int] | None:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns

    def status(self, journal: Journal, change_id: str) -> str | None:
        """The last status recorded for ``change_id``, or ``None`` when there is none."""
        path = journal.stream_path(STATUS_STREAM)
        with self._lock:
            signature = self._signature(path)
            known = self._indexes.get(path)
            if known is None or known[0] != signature:
                last: dict[str, str] = {}
                for record in journal.records(STATUS_STREAM):
                    last[str(record.get("change_id"))] = str(record.get("status"))
                known = (signature, last)
                self._indexes[path] = known
            return known[1].get(change_id)

    def appended(self, journal: Journal, change_id: str, status: str) -> None:
        path = journal.stream_path(STATUS_STREAM)
        with self._lock:
            known = self._indexes.get(path)
            if known is not None:
                known[1][change_id] = status
                self._indexes[path] = (self._signature(path), known[1])

    def forget(self, journal: Journal) -> None:
        if self._indexes:
            with self._lock:
                self._indexes.pop(journal.stream_path(STATUS_STREAM), None)


_index = _StatusIndex()


def forget_redeliveries(journal: Journal) -> None:
    """Drop what was kept for redeliveries to ``journal`` (cheap when nothing was)."""
    _index.forget(journal)


def _readable(journal: Journal, change_id: str) -> bool:
    """Whether the backup document is there and whole; a damaged one is set aside.

    A document written with ``sync=False`` can come back empty or cut short
    after a power failure; it is renamed to ``<id>.json.damaged`` (kept for a
    person to look at, out of every listing) so that it can be written again.
    """
    path = journal.directory / KIND / f"{change_id}.json"
    if not path.is_file():
        return False
    try:
        journal.read_document(KIND, change_id)
    except JournalError:
        os.replace(path, path.with_name(path.name + ".damaged"))
        return False
    return True


def settle_committed(journal: Journal, change: ChangeRecord) -> None:
    """A committed change delivered again: its backup made whole, ``committed`` once.

    A missing or damaged document (lost with the machine before the journal
    was synced) is written again from the change's row images, marked
    ``recovered``. Unless the backup is already ``committed``, ``committed`` is
    appended, marked ``recovered`` too.
    """
    if not _DOCUMENT_NAME.match(change.change_id):
        return  # not a name the journal takes, so no backup was ever made under it
    with _index.lock:
        status = _index.status(journal, change.change_id)
        if not _readable(journal, change.change_id):
            document = _document(
                change.change_id,
                change.table,
                change.operation,
                change.rows,
                change.actor,
                change.reason,
                change.caller,
                change.statement,
            )
            document["recovered"] = True
            journal.write_document(KIND, change.change_id, document, sync=False)
        if status != COMMITTED:
            mark_committed(journal, change, sync=False, recovered=True)
            _index.appended(journal, change.change_id, COMMITTED)


def settle_rolled_back(journal: Journal, change_id: str, reason: str) -> None:
    """A rollback delivered again: ``rolled-back`` once, and only for a backup there is.

    A backup recorded ``committed`` is left alone and the disagreement logged
    (as a warning on ``wfsdk.backup``): that record was written once the
    commit had happened, while a rollback found at start-up may be inferred
    from rows that someone changed back since. Raising instead would only have
    the same change delivered again at every start.
    """
    if not has_backup(journal, change_id):
        return
    with _index.lock:
        status = _index.status(journal, change_id)
        if status == ROLLED_BACK:
            return
        if status == COMMITTED:
            log.warning(
                "backup %s is recorded as committed, but the change was reported rolled back "
                "(%s); its status is left as it is",
                change_id,
                reason,
            )
            return
        mark_rolled_back(journal, change_id, reason, sync=False, recovered=True)
        _index.appended(journal, change_id, ROLLED_BACK)


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
