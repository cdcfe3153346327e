"""``wfsdk demo``: the whole tour on an embedded SQLite database, no server needed."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import wfsdk
from wfsdk.demo import data, schema
from wfsdk.errors import StatementRefusedError
from wfsdk.modules.llm import LlmApi
from wfsdk.modules.workflow import WorkflowApi
from wfsdk.values import ChangeRecord, Declaration, Vote, WriteIntent

Echo = Callable[[str], None]

PROTECTED = ("workflow_stage_entity", "llm_action", "workflow_step_entity")
# The project's docs/database/schema.md, shipped inside the package for the demo.
CONTRACT = Path(__file__).with_name("schema.md")


class DemoApprover:
    """Stands in for a person approving writes: shows each preview, then allows it."""

    def __init__(self, echo: Echo) -> None:
        self.echo = echo

    @wfsdk.hookimpl
    def before_write(self, intent: WriteIntent) -> Vote:
        self.echo(
            f"  approval asked: {intent.actor} wants to {intent.operation.value} "
            f"{intent.table} because {intent.reason!r}"
        )
        for row in intent.rows:
            for column in row.changed_columns():
                before = (row.before or {}).get(column)
                after = (row.after or {}).get(column)
                self.echo(f"    row {dict(row.key)}: {column}: {before!r} -> {after!r}")
        self.echo("  approval given (demo approver)")
        return Vote.allow("approved in the demo", voter="demo-approver")

    @wfsdk.hookimpl
    def after_write(self, change: ChangeRecord) -> None:
        self.echo(f"  change record {change.change_id}: committed at {change.committed_at}")


def checksums(url: str, tables: Iterable[str]) -> dict[str, str]:
    """Digests of whole tables, read beside wfsdk, to show what did not change."""
    engine = sa.create_engine(url)
    result = {}
    try:
        with engine.connect() as conn:
            for table in tables:
                rows = conn.execute(sa.text(f'SELECT * FROM "{table}" ORDER BY 1')).all()
                blob = json.dumps([list(r) for r in rows], default=str).encode()
                result[table] = hashlib.sha256(blob).hexdigest()[:16]
    finally:
        engine.dispose()
    return result


def run(echo: Echo, directory: Path | None = None) -> dict[str, Any]:
    """Build the demo database and walk through it; returns what a test can check."""
    workdir = Path(directory or tempfile.mkdtemp(prefix="wfsdk-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "blog-demo.sqlite"
    if db_path.exists():
        db_path.unlink()
    url = f"sqlite:///{db_path.as_posix()}"
    data.build(url).dispose()
    outcome: dict[str, Any] = {"database": str(db_path)}

    echo(f"1. A demo blog database was created at {db_path}")
    before = checksums(url, PROTECTED)

    host = Declaration(
        module="host",
        reads=frozenset(schema.metadata.tables),
        # Declared on purpose, to show that the owner's read-only rule still wins.
        writes={"llm_action": {"prompt_template"}},
    )
    with wfsdk.connect(
        url,
        plugins=[],
        extra_plugins=[DemoApprover(echo)],
        host_access=host,
        state_dir=workdir / ".wfsdk",
        contract=CONTRACT,
    ) as kernel:
        report = kernel.last_report
        assert report is not None
        echo("\n2. The live schema was checked against the documented contract before anything")
        echo(f"   ran: {len(report.tables)} tables, {len(report.differences)} differences.")
        outcome["contract_ok"] = report.ok
        try:
            kernel.execute_query("SELECT * FROM workflow_stage_entity ORDER BY order_index")
        except StatementRefusedError as exc:
            echo(f"   The integration guide's own example query is refused: {exc}")
        echo("\n3. The workflow tree, read by the built-in modules in three queries:")
        tree = kernel.api(WorkflowApi).tree()
        for node in tree.stages:
            echo(f"   {node.stage.order}. {node.stage.name}")
            for sub in node.sub_stages:
                steps = ", ".join(step.name for step in sub.steps) or "no steps"
                echo(f"      {sub.sub_stage.name}: {steps}")
        outcome["stages"] = [node.stage.name for node in tree.stages]

        llm = kernel.api(LlmApi)
        action = llm.actions()[0]
        prompt = llm.render_prompt(action.id, 1)
        echo(f"\n   Action {action.name!r} rendered for post 1 (the template is not changed):")
        for message in prompt.messages:
            echo(f"     [{message.role}] {message.content}")
        outcome["rendered_fields"] = list(prompt.fields_used)

        echo("\n4. Setting a post's stage status: preview first, nothing changes ...")
        workflow = kernel.api(WorkflowApi)
        preview = workflow.set_stage_status(
            1, 2, "review", actor="demo-editor", reason="draft ready", dry_run=True
        )
        assert preview.preview is not None
        echo(
            f"   dry run: {len(preview.preview.rows)} row(s) would change; "
            f"would commit: {preview.would_commit}"
        )
        echo("   ... then for real:")
        result = workflow.set_stage_status(
            1, 2, "review", actor="demo-editor", reason="draft ready"
        )
        assert result.change is not None
        outcome["change_id"] = result.change.change_id

        echo("\n5. What the guard refuses:")
        refused = []
        for label, sql in (
            (
                "a write to a read-only table",
                "UPDATE llm_action SET prompt_template = 'changed' WHERE id = 1",
            ),
            ("a DDL statement", "DROP TABLE post"),
            ("two statements in one string", "SELECT 1 AS one; DELETE FROM post WHERE id = 1"),
        ):
            try:
                kernel.execute_query(sql, actor="demo-editor", reason="showing the guard")
            except StatementRefusedError as exc:
                refused.append(label)
                echo(f"   refused {label}: {exc}")
        outcome["refused"] = refused

    after = checksums(url, PROTECTED)
    echo("\n6. The protected tables are unchanged:")
    for table in PROTECTED:
        same = "unchanged" if before[table] == after[table] else "CHANGED"
        echo(f"   {table}: {before[table]} -> {after[table]} ({same})")
    outcome["protected_unchanged"] = before == after
    return outcome
