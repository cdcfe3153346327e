"""wfsdk-backup: the rows a write changes, made durable before it commits, and restore.

- ``before_write`` refuses a write only when no backup could be made (the state
  directory is not writable, or the disk is full); otherwise it abstains.
- ``before_commit`` writes the before- and after-images of every changed row as
  the journal document ``backups/<change id>``, fsynced, and marks it
  ``prepared`` in the stream ``backup-status``; its receipt names the backup.
- ``after_write`` marks it ``committed``; ``after_rollback`` marks it ``rolled-back``.
- :func:`restore` (and ``wfsdk backups restore``) undoes a change as a new write.
"""

from __future__ import annotations

import json
import os
import tempfile

import click

import wfsdk
from wfsdk.journal import Journal, JournalError
from wfsdk.values import ChangeRecord, Receipt, Vote, WriteIntent
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
    has_backup,
    list_backups,
    load_backup,
    mark_committed,
    mark_rolled_back,
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


def cannot_back_up(journal: Journal, intent: WriteIntent) -> str | None:
    """Why a backup of ``intent`` could not be written now, or ``None`` if it could."""
    directory = journal.directory / KIND
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-", suffix=".tmp"):
            pass
        usage = os.statvfs(directory)
    except OSError as exc:
        return (
            f"cannot back up: the state directory {journal.directory} is not writable "
            f"({exc.strerror or exc})"
        )
    size = len(json.dumps([[r.key, r.before, r.after] for r in intent.rows], default=str))
    needed = 2 * size + MIN_FREE_BYTES
    free = usage.f_bavail * usage.f_frsize
    if free < needed:
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
    write_backup(journal, intent)
    return Receipt(plugin=NAME, kind="backup", reference=intent.change_id)


class BackupStatusError(RuntimeError):
    """A backup's status could not be recorded.

    Not a ``WfsdkError`` on purpose: the kernel then reports it to ``on_error``
    and raises ``PluginHookError`` naming the committed change.
    """


@wfsdk.hookimpl
def after_write(change: ChangeRecord, journal: Journal) -> None:
    if any(r.plugin == NAME for r in change.receipts):
        try:
            mark_committed(journal, change)
        except JournalError as exc:
            raise BackupStatusError(
                f"backup {change.change_id} was made, but its commit could not be recorded "
                f"({exc}); it stays 'prepared'"
            ) from exc


@wfsdk.hookimpl
def after_rollback(intent: WriteIntent, reason: str, journal: Journal) -> None:
    if has_backup(journal, intent.change_id):
        mark_rolled_back(journal, intent.change_id, reason)


@wfsdk.hookimpl
def register_commands(cli: click.Group) -> None:
    from wfsdk_backup.command import backups

    cli.add_command(backups)
