"""``wfsdk tree`` and ``wfsdk integrity``: the workflow as the modules see it, and what is wrong."""

from __future__ import annotations

import sys
from typing import Any

import attrs
import click

from wfsdk import integrity
from wfsdk.cli import EXIT_MISMATCH, EXIT_USAGE, Context, cli, dumps, exits_cleanly, pass_context
from wfsdk.modules.workflow import Step, WorkflowApi, WorkflowTree

FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")


@cli.command()
@FORMAT
@pass_context
def tree(ctx: Context, fmt: str) -> None:
    """Print stages, their sub-stages and their steps, in order.

    Steps whose config cannot be fully understood are shown with what is
    wrong; `wfsdk integrity` lists every problem.
    """
    with exits_cleanly(), ctx.connect() as kernel:
        try:
            api = kernel.api(WorkflowApi)
        except LookupError as exc:
            click.echo(f"error: the workflow module is not loaded: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        workflow = api.tree()
    if fmt == "json":
        click.echo(dumps(_tree_json(workflow)))
        return
    if not workflow.stages:
        click.echo("(no stages)")
    for node in workflow.stages:
        stage = node.stage
        click.echo(f"stage {stage.id} {stage.name} (order {stage.order})")
        for sub_node in node.sub_stages:
            sub = sub_node.sub_stage
            click.echo(f"  sub-stage {sub.id} {sub.name} (order {sub.order})")
            for step in sub_node.steps:
                click.echo(f"    step {step.id} {step.name} (order {step.order}){_summary(step)}")
                for problem in step.config.problems:
                    click.echo(f"      ! config {problem.path} {problem.message}")


def _summary(step: Step) -> str:
    llm = step.config.llm
    if llm is None:
        return ""
    model = "/".join(p for p in (llm.provider, llm.model) if p) or "no model"
    target = ""
    if llm.output is not None:
        target = f" -> {llm.output.table or '?'}.{llm.output.field or '?'}"
    return f"  [llm {model}{target}]"


def _tree_json(workflow: WorkflowTree) -> dict[str, Any]:
    # The parsed config only: the raw JSON is in the database for whoever needs it.
    return attrs.asdict(workflow, filter=lambda a, _v: a.name != "raw")


@cli.command(name="integrity")
@FORMAT
@pass_context
def integrity_command(ctx: Context, fmt: str) -> None:
    """Report data problems, fixing nothing (exit 0 clean, 1 problems found, 2 error)."""
    with exits_cleanly(), ctx.connect() as kernel:
        problems = integrity.collect(kernel)
        checked = [
            n for n, api in kernel.apis.items() if isinstance(api, integrity.ReportsProblems)
        ]
    counts = integrity.counts(problems)
    if fmt == "json":
        click.echo(
            dumps(
                {
                    "checked": checked,
                    "total": len(problems),
                    "counts": counts,
                    "problems": [attrs.asdict(p) for p in problems],
                }
            )
        )
    else:
        for p in problems:
            click.echo(f"[{p.kind}] {p.table} {_row(p.row_id)}: {p.message}")
        if problems:
            click.echo(f"\n{len(problems)} data problem(s), nothing was changed:")
            width = max(len(kind) for kind in counts)
            for kind, count in counts.items():
                click.echo(f"  {kind.ljust(width)}  {count}")
        else:
            click.echo(f"no data problems found (checked by: {', '.join(checked) or 'nobody'})")
    if problems:
        raise SystemExit(EXIT_MISMATCH)


def _row(row_id: object) -> str:
    if isinstance(row_id, tuple):
        return "rows " + ", ".join(str(i) for i in row_id)
    return f"row {row_id}"
