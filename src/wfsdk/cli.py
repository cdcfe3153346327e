"""The ``wfsdk`` command line.

Exit codes: 0 success; 1 a check found a mismatch or problems; 2 usage,
contract, plugin or connection error; 3 a statement or write was refused.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from wfsdk.errors import (
    ChangedSincePreviewError,
    ConfigurationError,
    ContractError,
    DatabaseError,
    PluginError,
    StatementRefusedError,
    WfsdkError,
    WriteDeniedError,
)
from wfsdk.plugins import call_impl, load_plugins

EXIT_MISMATCH = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(_jsonable(value), indent=2, ensure_ascii=False)


@contextmanager
def exits_cleanly() -> Iterator[None]:
    """Turn wfsdk errors into a message on stderr and the documented exit code."""
    try:
        yield
    except (StatementRefusedError, WriteDeniedError, ChangedSincePreviewError) as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    except (ConfigurationError, ContractError, PluginError, DatabaseError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except WfsdkError as exc:
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        click.echo("(no rows)")
        return
    columns = list(rows[0])
    cells = [[_short(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _short(value: Any, limit: int = 60) -> str:
    text = "NULL" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Context:
    """What every subcommand may need: where the database and the contract are."""

    def __init__(self, dsn: str | None, contract: str | None, state_dir: str | None) -> None:
        self.dsn = dsn
        self.contract = contract
        self.state_dir = state_dir

    def connect(self, **kwargs: Any) -> Any:
        from wfsdk.kernel import connect

        if not self.dsn:
            raise ConfigurationError("no database: pass --dsn or set WFSDK_DSN")
        kwargs.setdefault("contract", self.contract)
        kwargs.setdefault("state_dir", self.state_dir)
        return connect(self.dsn, **kwargs)


pass_context: Callable[..., Any] = click.make_pass_decorator(Context)


@click.group()
@click.option("--dsn", envvar="WFSDK_DSN", help="Database URL (or WFSDK_DSN).")
@click.option("--contract", envvar="WFSDK_CONTRACT", help="Schema document (or WFSDK_CONTRACT).")
@click.option("--state-dir", envvar="WFSDK_STATE_DIR", help="Journal directory (default .wfsdk).")
@click.version_option(package_name="wfsdk")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, contract: str | None, state_dir: str | None) -> None:
    """wfsdk: the one safe door to the blog CMS database."""
    ctx.obj = Context(dsn, contract, state_dir)


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Include the built-in modules.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def plugins(show_all: bool, fmt: str) -> None:
    """List loaded plugins: name, distribution, version, hooks."""
    with exits_cleanly():
        loaded = load_plugins()
    shown = [p for p in loaded.plugins if show_all or not p.builtin]
    if fmt == "json":
        click.echo(
            dumps(
                [
                    {
                        "name": p.name,
                        "distribution": p.distribution,
                        "version": p.version,
                        "hooks": list(p.hooks),
                        "builtin": p.builtin,
                    }
                    for p in shown
                ]
            )
        )
        return
    if not shown:
        click.echo(
            "no third-party plugins loaded" + ("" if show_all else " (--all shows built-ins)")
        )
        return
    for p in shown:
        origin = "built-in" if p.builtin else f"{p.distribution or '?'} {p.version or ''}".strip()
        click.echo(f"{p.name}  [{origin}]")
        click.echo(f"    hooks: {', '.join(p.hooks) or 'none'}")


@cli.command()
@click.argument("sql")
@click.option("--param", "-p", "params", multiple=True, help="Bound parameter NAME=VALUE.")
@click.option("--actor", help="Who asks (writes only).")
@click.option("--reason", help="Why (writes only).")
@click.option("--dry-run", is_flag=True, help="Show a write's preview and votes; change nothing.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_context
def query(
    ctx: Context,
    sql: str,
    params: tuple[str, ...],
    actor: str | None,
    reason: str | None,
    dry_run: bool,
    fmt: str,
) -> None:
    """Run one statement through the guard and print its rows (refused: exit 3)."""
    bound: dict[str, str] = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.UsageError(f"--param takes NAME=VALUE, got {item!r}")
        bound[name] = value
    with exits_cleanly(), ctx.connect() as kernel:
        result = kernel.execute_query(
            sql, bound or None, actor=actor, reason=reason, dry_run=dry_run
        )
        if result.preview is not None:
            _print_write(result, fmt)
        elif fmt == "json":
            click.echo(dumps(list(result.rows)))
        else:
            print_table(list(result.rows))


def _print_write(result: Any, fmt: str) -> None:
    intent = result.preview
    summary = {
        "change_id": intent.change_id,
        "table": intent.table,
        "operation": intent.operation.value,
        "committed": result.change is not None,
        "would_commit": result.would_commit,
        "votes": [
            {"voter": v.voter, "decision": v.decision.value, "reason": v.reason}
            for v in result.votes
        ],
        "rows": [{"key": r.key, "before": r.before, "after": r.after} for r in intent.rows],
    }
    if fmt == "json":
        click.echo(dumps(summary))
        return
    click.echo(f"{intent.operation.value} {intent.table}: {len(intent.rows)} row(s)")
    for row in intent.rows:
        click.echo(f"  {dict(row.key)}")
        for column in row.changed_columns():
            before = None if row.before is None else row.before.get(column)
            after = None if row.after is None else row.after.get(column)
            click.echo(f"    {column}: {_short(before)} -> {_short(after)}")
    for vote in result.votes:
        click.echo(f"  vote {vote.voter}: {vote.decision.value} {vote.reason}".rstrip())
    state = "committed" if result.change else ("would commit" if result.would_commit else "refused")
    click.echo(f"change {intent.change_id}: {state}")


def _register_plugin_commands(group: click.Group) -> None:
    try:
        loaded = load_plugins()
    except PluginError as exc:
        # The command line must still start, so `wfsdk plugins` can say what is wrong.
        click.echo(f"warning: plugins not loaded: {exc}", err=True)
        return
    for impl in loaded.manager.hook.register_commands.get_hookimpls():
        try:
            call_impl(impl, cli=group)
        except Exception as exc:
            info = loaded.info(impl.plugin)
            click.echo(
                f"error: plugin {info.name!r} ({info.distribution or 'no distribution'}) "
                f"failed to register its commands: {type(exc).__name__}: {exc}",
                err=True,
            )
            sys.exit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> None:
    from wfsdk import commands  # noqa: F401  (registers the built-in subcommands)

    _register_plugin_commands(cli)
    cli.main(args=list(argv) if argv is not None else None, prog_name="wfsdk")
