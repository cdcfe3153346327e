"""wfsdk-audit: one JSON line per read, committed change, schema mismatch and error.

Records go to the journal stream ``audit`` of the connection's state directory,
and optionally to Python ``logging`` under the logger ``wfsdk.audit``
(``WFSDK_AUDIT_LOGGING=1`` or ``configure(logging=True)``). ``wfsdk audit``
shows and filters the log.

Reads, mismatches and errors are fsynced before the hook returns. A change is
written with ``sync=False``: the kernel's write-ahead record covers it until
the kernel syncs the journal, and if the writer dies the next start delivers
the change again (``change.recovered``), which is recorded only if the log
does not hold it yet.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import getpass
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import click

import wfsdk
from wfsdk.journal import Journal, JournalError
from wfsdk.redact import MASK, is_secret_name
from wfsdk.values import ChangeRecord, ErrorEvent, MismatchReport, ReadEvent, RowChange

__all__ = [
    "ENV_LOGGING",
    "KINDS",
    "STREAM",
    "AuditRecordError",
    "configure",
    "redact",
    "register_commands",
    "secret_parameters",
]

STREAM = "audit"
KINDS = ("read", "change", "mismatch", "error")
ENV_LOGGING = "WFSDK_AUDIT_LOGGING"

log = logging.getLogger("wfsdk.audit")
_LEVELS = {
    "read": logging.INFO,
    "change": logging.INFO,
    "mismatch": logging.WARNING,
    "error": logging.ERROR,
}
_settings: dict[str, bool | None] = {"logging": None}

# Credentials inside free text: a URL's password, a libpq keyword string's password.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@/\s]+(?=@)", re.I)
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?:'[^']*'|\S+)", re.I)
# Bound parameters are named v0, k1, p2 ...; the column each one is set or compared
# to says whether it holds a credential.
_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_ASSIGNED = re.compile(rf"({_IDENT})\s*(?:=|<>|!=|\bIS\b)\s*:(\w+)", re.I)
_INSERT = re.compile(
    rf"\bINTO\s+{_IDENT}(?:\s*\.\s*{_IDENT})?\s*\(([^)]*)\)\s*VALUES\s*\(([^)]*)\)", re.I
)


class AuditRecordError(RuntimeError):
    """An audit record could not be written (it was logged instead).

    Not a ``WfsdkError`` on purpose: the kernel then reports it to ``on_error``
    and, after a commit, raises ``PluginHookError`` naming the committed change.
    """


def configure(*, logging: bool | None = None) -> None:
    """Settings for this process; ``None`` leaves a setting to its environment variable."""
    _settings["logging"] = logging


def _logging_enabled() -> bool:
    setting = _settings["logging"]
    if setting is not None:
        return setting
    return os.environ.get(ENV_LOGGING, "").strip().lower() in {"1", "true", "yes", "on"}


def _redact_text(value: str) -> str:
    # Each pattern needs its literal ("://", "="): most texts are let through without a search.
    if "://" in value:
        value = _URL_PASSWORD.sub(_mask_after_head, value)
    if "=" in value:
        value = _KEYWORD_PASSWORD.sub(_mask_after_head, value)
    return value


def _mask_after_head(match: re.Match[str]) -> str:
    return match.group("head") + MASK


@functools.lru_cache(maxsize=4096)
def _secret_name(name: str) -> bool:
    return is_secret_name(name)


# Values that hold no text: returned as they are without further checks.
_OPAQUE = frozenset(
    {type(None), bool, int, float, decimal.Decimal, dt.datetime, dt.date, dt.time, bytes}
)


def redact(value: Any) -> Any:
    """``value`` with credential-like mapping entries and passwords in text masked."""
    kind = type(value)
    if kind is str:
        return _redact_text(value)
    if kind is dict:
        return _redact_mapping(value)
    if kind in _OPAQUE:
        return value
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, Mapping):
        return _redact_mapping(value)
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        str(k): MASK if v is not None and _secret_name(str(k)) else redact(v)
        for k, v in value.items()
    }


def _column(identifier: str) -> str:
    identifier = identifier.strip()
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier


def secret_parameters(statement: str | None) -> set[str]:
    """Names of the bound parameters of ``statement`` that go into credential-like columns."""
    if not statement:
        return set()
    secret = {
        name for column, name in _ASSIGNED.findall(statement) if is_secret_name(_column(column))
    }
    for columns, values in _INSERT.findall(statement):
        for column, value in zip(columns.split(","), values.split(","), strict=False):
            placeholder = value.strip()
            if placeholder.startswith(":") and is_secret_name(_column(column)):
                secret.add(placeholder[1:])
    return secret


def _parameters(statement: str | None, parameters: Mapping[str, Any]) -> dict[str, Any]:
    hidden = secret_parameters(statement)
    return {k: MASK if k in hidden and v is not None else v for k, v in parameters.items()}


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return str(os.getuid())


_who: dict[int, dict[str, Any]] = {}


def _who_am_i() -> dict[str, Any]:
    """The login name and process id, looked up once per process (a fork is a new one)."""
    pid = os.getpid()
    who = _who.get(pid)
    if who is None:
        who = {"user": _user(), "pid": pid}
        _who.clear()
        _who[pid] = who
    return dict(who)


def _record(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": kind,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "who": _who_am_i(),
        **redact(fields),
    }


def _write(journal: Journal, kind: str, fields: Mapping[str, Any], *, sync: bool = True) -> None:
    _append(journal, _record(kind, fields), sync=sync)


def _append(journal: Journal, record: dict[str, Any], *, sync: bool) -> None:
    try:
        journal.append(STREAM, record, sync=sync)
    except JournalError as exc:
        # The journal failed, so the record goes to logging whatever the setting:
        # an audit record is never dropped without a trace.
        log.error("audit record not written to %s: %s", journal.directory, _line(record))
        raise AuditRecordError(
            f"the audit record of this {record['kind']} was not written: {exc}"
        ) from exc
    if _logging_enabled():
        log.log(_LEVELS[record["kind"]], "%s", _line(record), extra={"wfsdk_audit": record})


def _line(record: Mapping[str, Any]) -> str:
    return json.dumps(record, default=str, ensure_ascii=False, sort_keys=True)


def _rows(rows: Iterable[RowChange]) -> list[dict[str, Any]]:
    # The images are copied once, by redact().
    return [
        {
            "key": row.key,
            "before": row.before,
            "after": row.after,
            "changed": list(row.changed_columns()),
        }
        for row in rows
    ]


@wfsdk.hookimpl
def on_read(event: ReadEvent, journal: Journal) -> None:
    _write(
        journal,
        "read",
        {
            "caller": event.caller,
            "tables": sorted(event.tables),
            "rows": event.row_count,
            "duration_s": event.duration_s,
            "statement": event.statement,
            "dialect": event.dialect,
        },
    )


class _Recorded:
    """The change ids the audit log holds, per log file, kept while redeliveries come.

    Built by one read of the log at the first redelivered change and kept up
    to date by this process's own appends; read again when the log changed
    behind it (its size, inode or modification time differ). A change that is
    not a redelivery drops it, so the normal write path never reads the log.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._ids: dict[Path, tuple[tuple[int, int, int] | None, set[str]]] = {}

    @staticmethod
    def _signature(path: Path) -> tuple[int, int, int] | None:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns

    def holds(self, journal: Journal, change_id: str) -> bool:
        path = journal.stream_path(STREAM)
        signature = self._signature(path)
        known = self._ids.get(path)
        if known is None or known[0] != signature:
            ids = {
                str(r.get("change_id"))
                for r in journal.records(STREAM)
                if r.get("kind") == "change"
            }
            known = (signature, ids)
            self._ids[path] = known
        return change_id in known[1]

    def add(self, journal: Journal, change_id: str) -> None:
        path = journal.stream_path(STREAM)
        known = self._ids.get(path)
        if known is not None:
            known[1].add(change_id)
            self._ids[path] = (self._signature(path), known[1])

    def forget(self, journal: Journal) -> None:
        if self._ids:
            with self.lock:
                self._ids.pop(journal.stream_path(STREAM), None)


_recorded = _Recorded()


def _change(change: ChangeRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "change_id": change.change_id,
        "caller": change.caller,
        "actor": change.actor,
        "reason": change.reason,
        "table": change.table,
        "operation": change.operation.value,
        "statement": change.statement,
        "rows": _rows(change.rows),
        "votes": [
            {"voter": v.voter, "decision": v.decision.value, "reason": v.reason}
            for v in change.votes
        ],
        "receipts": [
            {"plugin": r.plugin, "kind": r.kind, "reference": r.reference} for r in change.receipts
        ],
        "backup_id": change.backup_id,
        "committed_at": change.committed_at,
    }
    if change.recovered:
        fields["recovered"] = True
    return fields


@wfsdk.hookimpl
def after_write(change: ChangeRecord, journal: Journal) -> None:
    # Not fsynced: the kernel's write-ahead record covers the change until it syncs the
    # journal, and delivers the change again if this process dies first.
    if not change.recovered:
        _recorded.forget(journal)
        _write(journal, "change", _change(change), sync=False)
        return
    with _recorded.lock:
        try:
            seen = _recorded.holds(journal, change.change_id)
        except JournalError as exc:
            # A damaged log cannot say; a second record beats a missing one.
            log.warning("audit log unreadable, recording redelivered change anyway: %s", exc)
            seen = False
        if not seen:
            _write(journal, "change", _change(change), sync=False)
            _recorded.add(journal, change.change_id)


@wfsdk.hookimpl
def on_schema_mismatch(report: MismatchReport, journal: Journal) -> None:
    _write(
        journal,
        "mismatch",
        {
            "contract": report.contract,
            "differences": [
                {
                    "table": d.table,
                    "kind": d.kind,
                    "column": d.column,
                    "want": d.want,
                    "have": d.have,
                    "source": d.source,
                }
                for d in report.differences
            ],
            "information": list(report.information),
        },
    )


@wfsdk.hookimpl
def on_error(error: ErrorEvent, journal: Journal) -> None:
    _write(
        journal,
        "error",
        {
            "error_type": error.error_type,
            "message": error.message,
            "phase": error.phase,
            "caller": error.caller,
            "change_id": error.change_id,
            "statement": error.statement,
            "parameters": _parameters(error.statement, error.parameters),
            "transaction_state": error.transaction_state,
            "traceback": error.traceback,
        },
    )


@wfsdk.hookimpl
def register_commands(cli: click.Group) -> None:
    from wfsdk_audit.command import audit

    cli.add_command(audit)
