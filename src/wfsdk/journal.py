"""wfsdk's own state, kept outside the database: append-only logs and one file per record.

The integration rules forbid new tables, so the audit log, backups and
approval records live in a directory (default ``.wfsdk/``). Every write here
is flushed and fsynced before it returns, so a record that protects a change
is on disk before the database commit it protects.

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
import datetime as dt
import decimal
import fcntl
import json
import os
import re
import tempfile
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
    if value is None or isinstance(value, bool | int | str):
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
        return {str(k): encode(v) for k, v in value.items()}
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
}


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        tag = value.get(_TAG)
        if isinstance(tag, str) and tag in _DECODERS and set(value) == {_TAG, "value"}:
            return _DECODERS[tag](value["value"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


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


class Journal:
    """A state directory. Nothing is created on disk until the first write."""

    __slots__ = ("directory",)

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"<wfsdk.Journal {self.directory}>"

    def _ensure(self, sub: str | None = None) -> Path:
        path = self.directory / sub if sub else self.directory
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"cannot create the state directory {path}: {exc}") from exc
        return path

    def stream_path(self, stream: str) -> Path:
        return self.directory / f"{_check_name(stream, 'stream')}.jsonl"

    def append(self, stream: str, record: Mapping[str, Any]) -> None:
        """Append one record durably (flushed and fsynced before returning)."""
        line = (json.dumps(encode(record), ensure_ascii=False, sort_keys=True) + "\n").encode()
        path = self.stream_path(stream)
        self._ensure()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise JournalError(f"cannot open {path} for appending: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                written = os.write(fd, line)
                if written != len(line):
                    # A short write leaves a partial line; cut it off so the file stays whole.
                    os.ftruncate(fd, os.lseek(fd, 0, os.SEEK_END) - written)
                    raise OSError(f"short write ({written} of {len(line)} bytes)")
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as exc:
            raise JournalError(f"cannot append to {path}: {exc}") from exc
        finally:
            os.close(fd)

    def records(
        self, stream: str, problems: list[JournalProblem] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record of a stream, oldest first.

        An incomplete last line (a writer still at work, or a crash mid-write)
        is skipped and reported in ``problems``. A bad line anywhere else is
        corruption: :class:`JournalError` names the file and the line.
        """
        path = self.stream_path(stream)
        if not path.exists():
            return
        with path.open("rb") as handle:
            content = handle.read()
        lines = content.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        for number, raw in enumerate(lines, start=1):
            try:
                record = json.loads(raw)
            except ValueError as exc:
                raise JournalError(f"{path}:{number}: corrupt journal line ({exc})") from exc
            if not isinstance(record, dict):
                raise JournalError(f"{path}:{number}: a journal line must hold a JSON object")
            yield decode(record)
        if tail:
            if problems is not None:
                problems.append(
                    JournalProblem(str(path), len(lines) + 1, "incomplete last line skipped")
                )

    def write_document(self, kind: str, name: str, document: Mapping[str, Any]) -> Path:
        """Write ``kind/name.json`` atomically and durably; refuses to overwrite."""
        directory = self._ensure(_check_name(kind, "kind"))
        target = directory / f"{_check_name(name, 'document')}.json"
        payload = json.dumps(encode(document), ensure_ascii=False, sort_keys=True, indent=1)
        try:
            fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(payload)
                    handle.flush()
                    os.fsync(handle.fileno())
                if target.exists():
                    raise JournalError(
                        f"{target} exists already; journal documents are never replaced"
                    )
                os.link(temporary, target)
            finally:
                os.unlink(temporary)
            _fsync_directory(directory)
        except OSError as exc:
            raise JournalError(f"cannot write {target}: {exc}") from exc
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
        result: dict[str, Any] = decode(document)
        return result

    def documents(self, kind: str) -> list[str]:
        """Names of the documents of one kind, oldest name first (names sort by time)."""
        directory = self.directory / _check_name(kind, "kind")
        if not directory.is_dir():
            return []
        return sorted(p.stem for p in directory.glob("*.json") if not p.name.startswith(".tmp-"))
