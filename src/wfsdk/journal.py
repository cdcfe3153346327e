"""wfsdk's own state, kept outside the database: append-only logs and one file per record.

The integration rules forbid new tables, so the audit log, backups and
approval records live in a directory (default ``.wfsdk/``). A write here is
flushed and fsynced before it returns, so a record that protects a change is
on disk before the database commit it protects. A writer may instead pass
``sync=False`` for a record that something durable already covers (the
kernel's write-ahead record of a change, see :mod:`wfsdk.writelog`): it is
written at once, so a killed process cannot lose it, and made durable by the
next :meth:`Journal.sync`, which the kernel calls before it forgets a
write-ahead record.

- *Streams* are JSON-lines files, one record a line, appended under an
  exclusive ``flock`` in a single ``write``: several processes may append at
  once without torn or interleaved lines, and readers may read meanwhile.
- *Documents* are whole JSON files (one per backup, say), written to a
  temporary name, fsynced and renamed into place, so a reader never sees half
  of one.

Values that JSON cannot hold exactly (datetimes, decimals, bytes) are tagged
so that a backup restores the very values it saved.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import decimal
import errno
import fcntl
import json
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from wfsdk.errors import WfsdkError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")
_TAG = "$wfsdk"


class JournalError(WfsdkError):
    """The journal could not be written or read (permissions, disk full, corruption)."""


@attrs.frozen
class JournalProblem:
    """A line that could not be read; where it is, and why."""

    path: str
    line: int
    message: str


def encode(value: Any) -> Any:
    """A JSON-ready form of ``value`` that :func:`decode` turns back into the same value."""
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                # Lone surrogates: JSON would merge an adjacent pair into one character.
                raw = value.encode("utf-8", "surrogatepass").hex()
                return {_TAG: "surrogates", "value": raw}
        return value
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {_TAG: "float", "value": repr(value)}
        return value
    if isinstance(value, dt.datetime):
        return {_TAG: "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {_TAG: "date", "value": value.isoformat()}
    if isinstance(value, dt.time):
        return {_TAG: "time", "value": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {_TAG: "decimal", "value": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {_TAG: "bytes", "value": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, uuid.UUID):
        return {_TAG: "uuid", "value": str(value)}
    if isinstance(value, Mapping):
        items = {str(k): encode(v) for k, v in value.items()}
        # A mapping that holds the tag key itself would decode as a tagged value; wrap it.
        return {_TAG: "dict", "value": items} if _TAG in items else items
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return {_TAG: "text", "value": str(value)}


_DECODERS: dict[str, Any] = {
    "float": float,
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "decimal": decimal.Decimal,
    "bytes": base64.b64decode,
    "uuid": uuid.UUID,
    "text": str,
    "surrogates": lambda raw: bytes.fromhex(raw).decode("utf-8", "surrogatepass"),
}


def decode(value: Any) -> Any:
    """The value :func:`encode` was given; a malformed tagged value raises ``ValueError``."""
    if isinstance(value, dict):
        tag = value.get(_TAG)
        if isinstance(tag, str) and set(value) == {_TAG, "value"}:
            if tag == "dict" and isinstance(value["value"], dict):
                return {k: decode(v) for k, v in value["value"].items()}
            if tag in _DECODERS:
                try:
                    return _DECODERS[tag](value["value"])
                except (TypeError, ValueError, ArithmeticError) as exc:
                    raise ValueError(f"bad {tag} value {value['value']!r}: {exc}") from exc
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _dumps(value: Any, **options: Any) -> str:
    text = json.dumps(encode(value), ensure_ascii=False, sort_keys=True, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate in a mapping key (values are tagged by encode) has no UTF-8 form.
        text = json.dumps(encode(value), ensure_ascii=True, sort_keys=True, **options)
    return text


def _check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise JournalError(
            f"invalid journal {what} name {name!r} (lower-case letters, digits, . _ -)"
        )
    return name


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse_line(path: Path, number: int, raw: bytes) -> dict[str, Any]:
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ValueError("a journal line must hold a JSON object")
        result: dict[str, Any] = decode(record)
    except ValueError as exc:
        raise JournalError(f"{path}:{number}: corrupt journal line ({exc})") from exc
    return result


def _repair_tail(fd: int, path: Path) -> int:
    """The offset the next line starts at, once a torn last line (a crashed writer) is set aside.

    Called under the lock, so no other writer can be half-way through its line.
    Without this, the next line would be glued to the fragment and the stream
    would be corrupt from there on. The fragment is kept in ``<stream>.torn``.
    """
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0 or os.pread(fd, 1, end - 1) == b"\n":
        return end
    chunk = 4096
    start = end
    while start > 0:
        block_start = max(0, start - chunk)
        block = os.pread(fd, start - block_start, block_start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            start = block_start + newline + 1
            break
        start = block_start
    fragment = os.pread(fd, end - start, start)
    with open(path.with_name(path.name + ".torn"), "ab") as torn:
        torn.write(fragment + b"\n")
        torn.flush()
        os.fsync(torn.fileno())
    os.ftruncate(fd, start)
    return start


def _write_all(fd: int, data: bytes) -> None:
    # A short write is retried, so that a full disk reports itself as ENOSPC.
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(errno.EIO, f"write made no progress ({len(view)} bytes left)")
        view = view[written:]


# Linux: a file with no name until it is linked in whole, which saves creating and
# removing a temporary name (about 80 µs of a backup's cost on a journalling filesystem).
_TMPFILE: int | None = getattr(os, "O_TMPFILE", None)
_PROC_FD = Path("/proc/self/fd")


def _write_anonymous(directory: Path, target: Path, payload: bytes, *, sync: bool) -> bool:
    """Write ``target`` through an unnamed file; False where the system offers none."""
    if _TMPFILE is None or not _PROC_FD.is_dir():
        return False
    try:
        fd = os.open(directory, _TMPFILE | os.O_WRONLY, 0o600)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return False
        raise
    try:
        _write_all(fd, payload)
        if sync:
            os.fsync(fd)
        # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N gives the file its name atomically,
        # and fails if the name exists: a document is never replaced. (With no directory
        # descriptor, os.link would call link(2), which links the /proc entry itself.)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.link(_PROC_FD / str(fd), target.name, dst_dir_fd=dir_fd, follow_symlinks=True)
        finally:
            os.close(dir_fd)
    finally:
        os.close(fd)
    return True


def _write_named(directory: Path, target: Path, payload: bytes, *, sync: bool) -> None:
    """Write ``target`` through a temporary name, linked into place, then removed."""
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        try:
            _write_all(fd, payload)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.link(temporary, target)
    finally:
        os.unlink(temporary)


class Journal:
    """A state directory. Nothing is created on disk until the first write."""

    __slots__ = ("_dirty", "_dirty_lock", "directory")

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        # Files and directories written with sync=False and not yet fsynced.
        self._dirty: set[Path] = set()
        self._dirty_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<wfsdk.Journal {self.directory}>"

    def _ensure(self, sub: str | None = None) -> Path:
        path = self.directory / sub if sub else self.directory
        if path.is_dir():
            return path
        try:
            path.mkdir(parents=True, exist_ok=True)
            # A new directory entry is durable only once its parent is fsynced.
            _fsync_directory(path.parent)
        except OSError as exc:
            raise JournalError(f"cannot create the state directory {path}: {exc}") from exc
        return path

    def stream_path(self, stream: str) -> Path:
        return self.directory / f"{_check_name(stream, 'stream')}.jsonl"

    def _defer(self, *paths: Path) -> None:
        with self._dirty_lock:
            self._dirty.update(paths)

    def sync(self) -> None:
        """Make every record written with ``sync=False`` durable (fsync files, then directories)."""
        with self._dirty_lock:
            pending, self._dirty = self._dirty, set()
        # Files before directories: a directory entry must not outlive its file's data.
        for path in sorted(pending, key=lambda p: p.is_dir()):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self._defer(path)
                raise JournalError(f"cannot sync {path}: {exc}") from exc
            try:
                os.fsync(fd)
            except OSError as exc:
                self._defer(path)
                raise JournalError(f"cannot sync {path}: {exc}") from exc
            finally:
                os.close(fd)

    def append(self, stream: str, record: Mapping[str, Any], *, sync: bool = True) -> None:
        """Append one record, flushed and (unless ``sync=False``) fsynced before returning.

        If anything fails, the stream is cut back to where it was: a record whose
        append raised is never left behind for a reader to find.
        """
        line = (_dumps(record) + "\n").encode()
        path = self.stream_path(stream)
        self._ensure()
        created = not path.exists()
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise JournalError(f"cannot open {path} for appending: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                start = _repair_tail(fd, path)
                try:
                    _write_all(fd, line)
                    if sync:
                        os.fsync(fd)
                except OSError:
                    # Best effort: a device that cannot be truncated has nothing to undo,
                    # and a torn line left behind is set aside by the next append.
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, start)
                    raise
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            if created and sync:
                _fsync_directory(self.directory)
        except OSError as exc:
            raise JournalError(f"cannot append to {path}: {exc}") from exc
        finally:
            os.close(fd)
        if not sync:
            self._defer(path, self.directory)

    def records(
        self, stream: str, problems: list[JournalProblem] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record of a stream, oldest first, read line by line.

        A bad last line (a writer still at work, or a crash mid-write) is
        skipped and reported in ``problems``. A bad line anywhere else is
        corruption: :class:`JournalError` names the file and the line.
        """
        path = self.stream_path(stream)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise JournalError(f"cannot read {path}: {exc}") from exc
        with handle:
            pending: tuple[int, bytes] | None = None
            for number, raw in enumerate(handle, start=1):
                if pending is not None:
                    yield _parse_line(path, *pending)
                pending = (number, raw)
                if not raw.endswith(b"\n"):
                    # The end of the file as it was when read; a writer may be completing
                    # this line right now, and what it adds must not pass for a new line.
                    break
            if pending is None:
                return
            number, raw = pending
            if not raw.endswith(b"\n"):
                if problems is not None:
                    problems.append(
                        JournalProblem(str(path), number, "incomplete last line skipped")
                    )
                return
            try:
                record = _parse_line(path, number, raw)
            except JournalError as exc:
                if problems is not None:
                    problems.append(JournalProblem(str(path), number, f"last line skipped: {exc}"))
                return
            yield record

    def write_document(
        self, kind: str, name: str, document: Mapping[str, Any], *, sync: bool = True
    ) -> Path:
        """Write ``kind/name.json`` atomically (and durably unless ``sync=False``).

        Refuses to overwrite.
        """
        directory = self._ensure(_check_name(kind, "kind"))
        target = directory / f"{_check_name(name, 'document')}.json"
        payload = _dumps(document, indent=1).encode()
        try:
            if not _write_anonymous(directory, target, payload, sync=sync):
                _write_named(directory, target, payload, sync=sync)
            if sync:
                _fsync_directory(directory)
        except FileExistsError as exc:
            raise JournalError(
                f"{target} exists already; journal documents are never replaced"
            ) from exc
        except OSError as exc:
            raise JournalError(f"cannot write {target}: {exc}") from exc
        if not sync:
            self._defer(target, directory)
        return target

    def read_document(self, kind: str, name: str) -> dict[str, Any]:
        path = self.directory / _check_name(kind, "kind") / f"{_check_name(name, 'document')}.json"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise JournalError(f"no {kind} named {name!r} in {self.directory}") from exc
        except (OSError, ValueError) as exc:
            raise JournalError(f"cannot read {path}: {exc}") from exc
        if not isinstance(document, dict):
            raise JournalError(f"{path}: not a JSON object")
        try:
            result: dict[str, Any] = decode(document)
        except ValueError as exc:
            raise JournalError(f"cannot read {path}: {exc}") from exc
        return result

    def documents(self, kind: str) -> list[str]:
        """Names of the documents of one kind, oldest name first (names sort by time)."""
        directory = self.directory / _check_name(kind, "kind")
        if not directory.is_dir():
            return []
        return sorted(p.stem for p in directory.glob("*.json") if not p.name.startswith(".tmp-"))
