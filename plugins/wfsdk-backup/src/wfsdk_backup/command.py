"""``wfsdk backups list | show ID | restore ID``."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from wfsdk.cli import Context, exits_cleanly, pass_context
from wfsdk.journal import Journal
from wfsdk_backup.restore import RestoreConflictError, plan_restore, restore, restore_access
from wfsdk_backup.store import Backup, list_backups, load_backup

EXIT_REFUSED = 3


def _journal(ctx: Context) -> Journal:
    return Journal(Path(ctx.state_dir or ".wfsdk"))


def _short(value: Any, limit: int = 60) -> str:
    text = "NULL" if value is None else repr(value) if isinstance(value, str) else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary(backup: Backup) -> dict[str, Any]:
    return {
        "id": backup.change_id,
        "status": backup.status,
        "created_at": backup.created_at,
        "table": backup.table,
        "operation": backup.operation.value,
        "rows": len(backup.rows),
        "actor": backup.actor,
        "reason": backup.reason,
    }


def _details(backup: Backup) -> dict[str, Any]:
    return {
        **_summary(backup),
        "caller": backup.caller,
        "statement": backup.statement,
        "key_columns": list(backup.key_columns),
        "row_images": [
            {"key": dict(r.key), "before": r.before, "after": r.after} for r in backup.rows
        ],
        "history": [dict(h) for h in backup.history],
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())


@click.group("backups")
def backups() -> None:
    """Backups made before each change (wfsdk-backup): list, show, restore."""


@backups.command("list")
@click.option("--table", help="Only backups of changes to this table.")
@click.option("--status", type=click.Choice(["prepared", "committed", "rolled-back"]))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_context
def list_command(ctx: Context, table: str | None, status: str | None, fmt: str) -> None:
    """Every backup, oldest first."""
    with exits_cleanly():
        found = [
            b
            for b in list_backups(_journal(ctx))
            if (table is None or b.table == table) and (status is None or b.status == status)
        ]
    if fmt == "json":
        click.echo(json.dumps([_summary(b) for b in found], default=str, indent=2))
        return
    if not found:
        click.echo("no backups")
        return
    for b in found:
        click.echo(
            f"{b.change_id}  {b.status:<11}  {b.created_at}  {b.operation.value} {b.table} "
            f"({len(b.rows)} row{'s' if len(b.rows) != 1 else ''})  by {b.actor}: {b.reason}"
        )


@backups.command("show")
@click.argument("backup_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_context
def show_command(ctx: Context, backup_id: str, fmt: str) -> None:
    """One backup: its rows before and after the change, and what became of it."""
    with exits_cleanly():
        backup = load_backup(_journal(ctx), backup_id)
    if fmt == "json":
        click.echo(json.dumps(_details(backup), default=str, indent=2))
        return
    click.echo(f"backup {backup.change_id}: {backup.status}")
    click.echo(f"  {backup.operation.value} {backup.table} by {backup.actor}: {backup.reason}")
    click.echo(f"  through {backup.caller}, taken {backup.created_at}")
    for row in backup.rows:
        click.echo(f"  row {dict(row.key) or '(key given by the database)'}")
        before, after = row.before or {}, row.after or {}
        columns = row.changed_columns() if row.before and row.after else list(before or after)
        for column in columns:
            click.echo(
                f"      {column}: {_short(before.get(column))} -> {_short(after.get(column))}"
            )
    for record in backup.history:
        note = f" ({record['reason']})" if record.get("reason") else ""
        click.echo(f"  {record.get('at')}  {record.get('status')}{note}")


@backups.command("restore")
@click.argument("backup_id")
@click.option("--actor", help="Who restores (default: the login name).")
@click.option("--force", is_flag=True, help="Restore even though the rows changed since.")
@click.option("--dry-run", is_flag=True, help="Preview the restoring writes; change nothing.")
@pass_context
def restore_command(
    ctx: Context, backup_id: str, actor: str | None, force: bool, dry_run: bool
) -> None:
    """Put the rows back to their before-image, as a new write (approval and backup apply)."""
    with exits_cleanly():
        backup = load_backup(_journal(ctx), backup_id)
        with ctx.connect(host_access=restore_access(backup)) as kernel:
            plan = plan_restore(kernel, backup)
            click.echo(
                f"restore of {backup_id} ({backup.operation.value} {backup.table}, "
                f"{backup.status}): {len(plan.steps)} write(s)"
            )
            for step in plan.steps:
                click.echo(f"  {step}")
            for note in plan.skipped:
                click.echo(f"  skipped: {note}")
            if plan.differences:
                click.echo("the rows changed since this backup's change:", err=True)
                for difference in plan.differences:
                    click.echo(f"  {difference}", err=True)
                if not force:
                    click.echo("refused: nothing restored (--force restores anyway)", err=True)
                    sys.exit(EXIT_REFUSED)
            try:
                result = restore(
                    kernel, backup_id, actor=actor or _user(), force=force, dry_run=dry_run
                )
            except RestoreConflictError as exc:
                # Changed between the plan shown above and the restore itself.
                click.echo(f"refused: {exc}", err=True)
                sys.exit(EXIT_REFUSED)
    for query_result in result.results:
        preview = query_result.preview
        if query_result.change is not None:
            click.echo(f"restored: change {query_result.change.change_id}")
        elif preview is not None:
            state = "would commit" if query_result.would_commit else "would be refused"
            votes = "; ".join(
                f"{v.voter}: {v.decision.value} {v.reason}" for v in query_result.votes
            )
            click.echo(f"dry run: change {preview.change_id} {state} ({votes})")
    if not result.results:
        click.echo("nothing to restore")
