"""Built-in subcommands beyond ``plugins`` and ``query``."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa

from wfsdk.cli import EXIT_MISMATCH, Context, cli, exits_cleanly, pass_context
from wfsdk.errors import ConfigurationError, DatabaseError


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to create the demo database (default: a new temporary directory).",
)
def demo(directory: Path | None) -> None:
    """Tour wfsdk on an embedded SQLite demo database (no server needed)."""
    from wfsdk.demo import tour

    with exits_cleanly():
        outcome = tour.run(click.echo, directory)
    if not outcome["protected_unchanged"]:
        raise SystemExit(1)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_context
def check(ctx: Context, fmt: str) -> None:
    """Compare the live database with the schema document (exit 0 match, 1 mismatch, 2 error)."""
    from wfsdk.errors import SchemaMismatchError

    report = None
    with exits_cleanly():
        try:
            with ctx.connect(plugins=[]) as kernel:
                report = kernel.last_report
        except SchemaMismatchError as exc:
            report = exc.report
    assert report is not None
    click.echo(report.to_json() if fmt == "json" else report.to_text())
    if not report.ok:
        raise SystemExit(EXIT_MISMATCH)


@cli.command()
@click.option("--tables", help="Comma-separated table names (default: every table).")
@pass_context
def snapshot(ctx: Context, tables: str | None) -> None:
    """Print a schema document for the live database, in the contract's own format."""
    from wfsdk import engine as engines
    from wfsdk.schema import snapshot as render_snapshot

    names = [t.strip() for t in tables.split(",") if t.strip()] if tables else None
    with exits_cleanly():
        if not ctx.dsn:
            raise ConfigurationError("no database: pass --dsn or set WFSDK_DSN")
        target = engines.resolve(ctx.dsn)
        try:
            # Catalog reads only, in a read-only transaction: a snapshot changes nothing.
            with engines.transaction(target, read_only=True) as conn, engines.allowed(conn):
                document = render_snapshot(conn, names)
        except sa.exc.DBAPIError as exc:
            raise DatabaseError(f"could not read the schema: {exc.orig}") from exc
        finally:
            target.engine.dispose()
    click.echo(document, nl=False)


from wfsdk import commands_domain  # noqa: E402, F401
