"""wfsdk-backup: the rows a write changes, kept before it commits, and restore.

- ``before_write`` refuses a write only when no backup could be made (the state
  directory is not writable, or the disk is full); otherwise it abstains. The
  directory is proven writable by creating a file at most once a second (and
  again after any failure); every write checks the file system's free space
  and read-only flag, and the directory's write permission.
- ``before_commit`` writes the before- and after-images of every changed row as
  the journal document ``backups/<change id>`` and marks it ``prepared`` in the
  stream ``backup-status``; its receipt names the backup.
- ``after_write`` marks it ``committed``; ``after_rollback`` marks it ``rolled-back``.
- These records are written with ``sync=False``: the kernel's write-ahead record
  of the change is durable before ``before_commit``, the kernel syncs the
  journal before it forgets that record, and if the writer dies the next start
  delivers the outcome again. A redelivered commit writes a lost document again
  and records ``committed`` only once; a redelivered rollback records
  ``rolled-back`` only once. Nothing is ever restored by itself.
- :func:`restore` (and ``wfsdk backups restore``) undoes a change as a new write.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import time
from pathlib import Path

import click

import wfsdk
from wfsdk.journal import Journal, JournalError
from wfsdk.values import RECOVERED, ChangeRecord, Receipt, Vote, WriteIntent
from wfsdk_backup.restore import (
    Difference,
    PartialRestoreError,
    RestoreConflictError,
    RestorePlan,
    RestoreResult,
    Step,
    plan_restore,
    restore,
    restore_access,
)
from wfsdk_backup.store import (
    COMMITTED,
    KIND,
    PREPARED,
    ROLLED_BACK,
    STATUS_STREAM,
    Backup,
    BackupError,
    forget_redeliveries,
    has_backup,
    list_backups,
    load_backup,
    mark_committed,
    mark_rolled_back,
    settle_committed,
    settle_rolled_back,
    write_backup,
)

__all__ = [
    "COMMITTED",
    "KIND",
    "NAME",
    "PREPARED",
    "ROLLED_BACK",
    "STATUS_STREAM",
    "Backup",
    "BackupError",
    "BackupStatusError",
    "Difference",
    "PartialRestoreError",
    "RestoreConflictError",
    "RestorePlan",
    "RestoreResult",
    "Step",
    "list_backups",
    "load_backup",
    "plan_restore",
    "restore",
    "restore_access",
]

NAME = "wfsdk-backup"
# Room left beyond the backup itself, so that the journal's other records still fit.
MIN_FREE_BYTES = 1 << 20
# With this much free, any backup a write could need fits: its size is not worked out.
PLENTY_FREE_BYTES = 1 << 30
# How long a proof that the backups directory takes new files is trusted.
PROBE_INTERVAL_S = 1.0

# State directory -> when (time.monotonic) a file was last created in its backups
# directory, and that directory's path.
_proven: dict[Path, tuple[float, str]] = {}


def _not_writable(journal: Journal, problem: object) -> str:
    return f"cannot back up: the state directory {journal.directory} is not writable ({problem})"


def _probe(directory: Path) -> None:
    """Create (and remove) a file in ``directory``: the only full proof it is writable."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-", suffix=".tmp"):
        pass


def _still_writable(journal: Journal, now: float) -> os.statvfs_result | None:
    """The file system's figures if a recent proof still holds, else ``None`` (prove again)."""
    proven = _proven.get(journal.directory)
    if proven is None or now - proven[0] >= PROBE_INTERVAL_S:
        return None
    directory = proven[1]
    try:
        usage = os.statvfs(directory)
    except OSError:
        return None
    if usage.f_flag & os.ST_RDONLY or not os.access(directory, os.W_OK):
        return None
    return usage


def cannot_back_up(journal: Journal, intent: WriteIntent) -> str | None:
    """Why a backup of ``intent`` could not be written now, or ``None`` if it could.

    Creating a file is what proves the directory writable, and it costs more
    than the rest of a write's record keeping; so it is done once per
    directory, again after any failure, and again once ``PROBE_INTERVAL_S``
    has passed. Between proofs, each write asks the file system only cheap
    questions: its free space, whether it is mounted read-only, and whether
    this process may write to the directory. A problem any of them shows is
    confirmed by a new proof before the write is refused.
    """
    now = time.monotonic()
    usage = _still_writable(journal, now)
    if usage is None:
        _proven.pop(journal.directory, None)
        directory = journal.directory / KIND
        try:
            _probe(directory)
            usage = os.statvfs(directory)
        except OSError as exc:
            return _not_writable(journal, exc.strerror or exc)
        if usage.f_flag & os.ST_RDONLY:
            return _not_writable(journal, os.strerror(errno.EROFS))
        _proven[journal.directory] = (now, str(directory))
    free = usage.f_bavail * usage.f_frsize
    if free >= PLENTY_FREE_BYTES:
        return None
    size = len(json.dumps([[r.key, r.before, r.after] for r in intent.rows], default=str))
    needed = 2 * size + MIN_FREE_BYTES
    if free < needed:
        _proven.pop(journal.directory, None)
        return (
            f"cannot back up: the disk holding {journal.directory} is full ({free} bytes "
            f"free, {needed} needed)"
        )
    return None


@wfsdk.hookimpl
def before_write(intent: WriteIntent, journal: Journal) -> Vote | None:
    problem = cannot_back_up(journal, intent)
    return None if problem is None else Vote.deny(problem, voter=NAME)


@wfsdk.hookimpl
def before_commit(intent: WriteIntent, journal: Journal) -> Receipt:
    # Not fsynced here: the kernel's write-ahead record of this change already is.
    write_backup(journal, intent, sync=False)
    return Receipt(plugin=NAME, kind="backup", reference=intent.change_id)


class BackupStatusError(RuntimeError):
    """A backup's status could not be recorded.

    Not a ``WfsdkError`` on purpose: the kernel then reports it to ``on_error``
    and raises ``PluginHookError`` naming the committed change.
    """


@wfsdk.hookimpl
def after_write(change: ChangeRecord, journal: Journal) -> None:
    try:
        if change.recovered:
            settle_committed(journal, change)
        elif any(r.plugin == NAME for r in change.receipts):
            forget_redeliveries(journal)
            mark_committed(journal, change, sync=False)
    except (JournalError, OSError) as exc:
        raise BackupStatusError(
            f"backup {change.change_id} was made, but its commit could not be recorded "
            f"({exc}); it stays 'prepared'"
        ) from exc


@wfsdk.hookimpl
def after_rollback(intent: WriteIntent, reason: str, journal: Journal) -> None:
    if reason.startswith(RECOVERED):
        settle_rolled_back(journal, intent.change_id, reason)
    elif has_backup(journal, intent.change_id):
        mark_rolled_back(journal, intent.change_id, reason, sync=False)


@wfsdk.hookimpl
def register_commands(cli: click.Group) -> None:
    from wfsdk_backup.command import backups

    cli.add_command(backups)
