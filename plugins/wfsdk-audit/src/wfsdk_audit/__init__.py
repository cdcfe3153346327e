"""wfsdk-audit: one JSON line per read, committed change, schema mismatch and error.

Records go to the journal stream ``audit`` of the connection's state directory
(fsynced before the hook returns), and optionally to Python ``logging`` under
the logger ``wfsdk.audit`` (``WFSDK_AUDIT_LOGGING=1`` or ``configure(logging=True)``).
``wfsdk audit`` shows and filters the log.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
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


def redact(value: Any) -> Any:
    """``value`` with credential-like mapping entries and passwords in text masked."""
    if isinstance(value, str):
        value = _URL_PASSWORD.sub(rf"\g<head>{MASK}", value)
        return _KEYWORD_PASSWORD.sub(rf"\g<head>{MASK}", value)
    if isinstance(value, Mapping):
        return {
            str(k): MASK if is_secret_name(str(k)) and v is not None else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


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


def _write(journal: Journal, kind: str, fields: Mapping[str, Any]) -> None:
    record = {
        "kind": kind,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "who": {"user": _user(), "pid": os.getpid()},
        **redact(fields),
    }
    try:
        journal.append(STREAM, record)
    except JournalError as exc:
        # The journal failed, so the record goes to logging whatever the setting:
        # an audit record is never dropped without a trace.
        log.error("audit record not written to %s: %s", journal.directory, _line(record))
        raise AuditRecordError(f"the audit record of this {kind} was not written: {exc}") from exc
    if _logging_enabled():
        log.log(_LEVELS[kind], "%s", _line(record), extra={"wfsdk_audit": record})


def _line(record: Mapping[str, Any]) -> str:
    return json.dumps(record, default=str, ensure_ascii=False, sort_keys=True)


def _rows(rows: Iterable[RowChange]) -> list[dict[str, Any]]:
    return [
        {
            "key": dict(row.key),
            "before": None if row.before is None else dict(row.before),
            "after": None if row.after is None else dict(row.after),
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


@wfsdk.hookimpl
def after_write(change: ChangeRecord, journal: Journal) -> None:
    _write(
        journal,
        "change",
        {
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
                {"plugin": r.plugin, "kind": r.kind, "reference": r.reference}
                for r in change.receipts
            ],
            "backup_id": change.backup_id,
            "committed_at": change.committed_at,
        },
    )


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
