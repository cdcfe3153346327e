"""Built-in subcommands beyond ``plugins`` and ``query``."""

from __future__ import annotations

from pathlib import Path

import click

from wfsdk.cli import cli, exits_cleanly


@cli.command()
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
    help="Where to create the demo database (default: a new temporary directory).",
)
def demo(directory: Path | None) -> None:
    """Tour wfsdk on an embedded SQLite demo database (no server needed)."""
    from wfsdk.demo import tour

    with exits_cleanly():
        outcome = tour.run(click.echo, directory)
    if not outcome["protected_unchanged"]:
        raise SystemExit(1)
