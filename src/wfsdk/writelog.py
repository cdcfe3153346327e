"""The kernel's write-ahead record: every plugin hears how each write ended, even after a crash.

A process can die between ``before_commit`` (a plugin has recorded a backup)
and ``after_write`` (the plugin would have marked it committed). So before
``before_commit`` runs, the kernel appends the change to its own write-ahead
file and fsyncs it; after the outcome has been delivered it appends a
``settled`` line. The next ``connect`` on the same state directory finds the
changes of dead writers that never settled, decides from the database whether
each committed (:mod:`wfsdk.recovery`) and delivers ``after_write`` (with
``recovered=True``) or ``after_rollback`` (reason :data:`RECOVERED`).

That one fsync is what protects the change, so plugins may write their own
records with ``sync=False`` (see :class:`wfsdk.journal.Journal`): before the
kernel forgets settled records (a checkpoint, or ``close``), it syncs the
journal.

Layout: ``<state dir>/writers/<pid>-<random>.jsonl``, one file per kernel
that has written, held under an exclusive ``flock`` while the kernel lives.
A file whose lock can be taken belongs to a writer that is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wfsdk.journal import Journal, JournalError, encode
from wfsdk.values import RECOVERED

__all__ = ["DIRECTORY", "PENDING", "RECOVERED", "SETTLED", "WriteLog", "record_line"]
DIRECTORY = "writers"
PENDING = "pending"
SETTLED = "settled"
# Settled changes kept before the file is emptied; emptying costs one journal sync.
CHECKPOINT_EVERY = 256


def record_line(record: Mapping[str, Any]) -> bytes:
    """One record as a line of the write-ahead file (values tagged as the journal tags them)."""
    return (json.dumps(encode(record), ensure_ascii=True, sort_keys=True) + "\n").encode()


class WriteLog:
    """One kernel's write-ahead file. Created at its first write; removed by :meth:`close`."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.path: Path | None = None
        self._fd: int | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._open = 0
        self._settled = 0

    def _file(self) -> int:
        if self._fd is not None and self._pid == os.getpid():
            return self._fd
        # A forked child shares the parent's lock; it writes a file of its own.
        self._pid = os.getpid()
        self._open = self._settled = 0
        directory = self.journal.directory / DIRECTORY
        try:
            fresh = not directory.is_dir()
            directory.mkdir(parents=True, exist_ok=True)
            name = f"{self._pid}-{secrets.token_hex(4)}"
            path = directory / f"{name}.jsonl"
            # Locked under a name recovery does not look at, then renamed into place: a
            # starting kernel can never find the file before its writer holds the lock.
            hidden = directory / f".{name}.new"
            fd = os.open(hidden, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o640)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(hidden, path)
            # The file's name must survive a crash as surely as its lines.
            for parent in (directory, directory.parent) if fresh else (directory,):
                dir_fd = os.open(parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as exc:
            raise JournalError(f"cannot create the write-ahead file in {directory}: {exc}") from exc
        self.path, self._fd = path, fd
        return fd

    def pending(self, record: Mapping[str, Any]) -> None:
        """Append a change that may commit, durably (fsynced before returning)."""
        line = record_line({"kind": PENDING, **record})
        with self._lock:
            fd = self._file()
            try:
                os.write(fd, line)
                os.fsync(fd)
            except OSError as exc:
                raise JournalError(f"cannot write the write-ahead record: {exc}") from exc
            self._open += 1

    def settled(self, change_id: str) -> None:
        """Note that every plugin has heard the outcome of ``change_id`` (not fsynced: a lost
        line only means the outcome is delivered once more)."""
        with self._lock:
            fd = self._fd
            if fd is None or self._pid != os.getpid():
                return
            # Without the line, the next start delivers the outcome again; nothing is lost.
            with contextlib.suppress(OSError):
                os.write(fd, record_line({"kind": SETTLED, "change_id": change_id}))
            self._open -= 1
            self._settled += 1
            if self._open == 0 and self._settled >= CHECKPOINT_EVERY:
                self._checkpoint(fd)

    def _checkpoint(self, fd: int) -> None:
        # Plugins' unsynced records become durable before the lines covering them go.
        try:
            self.journal.sync()
            os.ftruncate(fd, 0)
        except (OSError, JournalError):
            return
        self._settled = 0

    def close(self) -> None:
        """Sync the journal and remove the file if every change has settled."""
        with self._lock:
            fd, path = self._fd, self.path
            if fd is None or path is None or self._pid != os.getpid():
                return
            self._fd = self.path = None
            try:
                if self._open == 0:
                    self.journal.sync()
                    path.unlink()
            except (OSError, JournalError):
                pass
            finally:
                os.close(fd)
