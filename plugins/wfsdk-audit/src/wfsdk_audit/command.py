"""``wfsdk audit``: show and filter the audit log. Reads the journal only, never the database."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from wfsdk.cli import Context, exits_cleanly, pass_context
from wfsdk.journal import Journal, JournalProblem
from wfsdk_audit import KINDS, STREAM

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """An ISO date or datetime (UTC unless it says otherwise), or an age like ``30m``, ``2d``."""
    now = now or dt.datetime.now(dt.UTC)
    relative = _RELATIVE.match(text.strip())
    if relative:
        amount, unit = relative.groups()
        return now - dt.timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r} is neither an ISO date/time (2026-03-01, 2026-03-01T09:30) "
            "nor an age (30m, 12h, 7d)"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _tables(record: Mapping[str, Any]) -> set[str]:
    if record.get("kind") == "read":
        return set(record.get("tables") or ())
    if record.get("kind") == "mismatch":
        return {d.get("table", "") for d in record.get("differences") or ()}
    table = record.get("table")
    return {table} if isinstance(table, str) else set()


def select(
    records: Iterable[dict[str, Any]],
    *,
    kinds: Iterable[str] = (),
    table: str | None = None,
    change_id: str | None = None,
    actor: str | None = None,
    since: dt.datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """The records that pass every filter given; ``change_id`` may be a prefix."""
    wanted = set(kinds)
    for record in records:
        if wanted and record.get("kind") not in wanted:
            continue
        if table is not None and table not in _tables(record):
            continue
        if change_id is not None and not str(record.get("change_id") or "").startswith(change_id):
            continue
        if actor is not None and record.get("actor") != actor:
            continue
        if since is not None:
            try:
                at = dt.datetime.fromisoformat(str(record.get("at")))
            except ValueError:
                continue
            if at < since:
                continue
        yield record


def _short(value: Any, limit: int = 60) -> str:
    text = "NULL" if value is None else repr(value) if isinstance(value, str) else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(record: Mapping[str, Any]) -> list[str]:
    """A record as a few lines of text."""
    kind = record.get("kind", "?")
    head = f"{record.get('at', '?')}  {kind:<8}"
    if kind == "read":
        duration = float(record.get("duration_s") or 0.0) * 1000
        return [
            f"{head}  {record.get('caller')} read {', '.join(record.get('tables') or ())}: "
            f"{record.get('rows')} row(s) in {duration:.1f} ms"
        ]
    if kind == "change":
        rows = record.get("rows") or []
        lines = [
            f"{head}  {record.get('operation')} {record.get('table')}: {len(rows)} row(s), "
            f"change {record.get('change_id')} by {record.get('actor')} "
            f"({record.get('reason')}); backup {record.get('backup_id') or 'none'}"
        ]
        for row in rows:
            before, after = row.get("before") or {}, row.get("after") or {}
            changes = ", ".join(
                f"{c}: {_short(before.get(c))} -> {_short(after.get(c))}"
                for c in row.get("changed") or ()
            )
            lines.append(f"    {row.get('key')}  {changes}")
        for vote in record.get("votes") or ():
            decision = f"{vote.get('decision')} {vote.get('reason')}".rstrip()
            lines.append(f"    vote {vote.get('voter')}: {decision}")
        return lines
    if kind == "mismatch":
        differences = record.get("differences") or []
        lines = [f"{head}  {record.get('contract')}: {len(differences)} difference(s)"]
        lines += [
            f"    {d.get('table')}.{d.get('column') or '*'} {d.get('kind')}: "
            f"want {d.get('want')}, have {d.get('have')}"
            for d in differences
        ]
        return lines
    change = f" change {record['change_id']}" if record.get("change_id") else ""
    return [
        f"{head}  {record.get('error_type')} during {record.get('phase')}{change}: "
        f"{_short(record.get('message'), 200)}"
    ]


@click.command("audit")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS), help="Repeatable.")
@click.option("--table", help="Only records about this table.")
@click.option("--change-id", help="Only this change (a prefix is enough).")
@click.option("--actor", help="Only changes asked for by this actor.")
@click.option("--since", help="ISO date/time, or an age such as 30m, 12h, 7d.")
@click.option("--last", type=click.IntRange(min=1), help="Only the last N matching records.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_context
def audit(
    ctx: Context,
    kinds: tuple[str, ...],
    table: str | None,
    change_id: str | None,
    actor: str | None,
    since: str | None,
    last: int | None,
    fmt: str,
) -> None:
    """Show the audit log (reads, changes, schema mismatches, errors), oldest first."""
    journal = Journal(Path(ctx.state_dir or ".wfsdk"))
    problems: list[JournalProblem] = []
    with exits_cleanly():
        found = list(
            select(
                journal.records(STREAM, problems),
                kinds=kinds,
                table=table,
                change_id=change_id,
                actor=actor,
                since=parse_since(since) if since else None,
            )
        )
    if last is not None:
        found = found[-last:]
    for problem in problems:
        click.echo(f"warning: {problem.path}:{problem.line}: {problem.message}", err=True)
    if fmt == "json":
        click.echo(json.dumps(found, default=str, ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo(f"no audit records in {journal.stream_path(STREAM)} match")
        return
    for record in found:
        for line in describe(record):
            click.echo(line)
