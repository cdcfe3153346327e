"""What the policy plugins' tests share: a demo database with a scratch table, and faults.

The plugins are loaded as a user loads them, by distribution name through
their entry points (``connect(plugins=[...])``); test-only behaviour comes in
through ``extra_plugins``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import wfsdk
from wfsdk.demo import data
from wfsdk.journal import Journal
from wfsdk.values import Declaration, WriteIntent

from kernel_support import Recorder, contract_with, raw

POLICIES = ("wfsdk-audit", "wfsdk-approval", "wfsdk-backup")

NOTE_CONTRACT = """
## Table: note

A scratch table the policy tests insert into and delete from.

| Column | Type | Description |
| --- | --- | --- |
| id | SERIAL (PK) | Primary key |
| body | TEXT | |
| status | TEXT | |
| api_key | TEXT | A credential-like column: never shown in clear |
"""

CONTENT_COLUMNS = ("basic_idea", "main_title", "intro_blurb")

HOST = Declaration(
    module="host",
    reads={
        "post",
        "post_development",
        "post_workflow_stage",
        "workflow_stage_entity",
        "llm_action",
        "note",
    },
    writes={
        "post_workflow_stage": {"status", "started_at", "completed_at"},
        "post_development": set(CONTENT_COLUMNS),
        "note": {"id", "body", "status", "api_key"},
    },
    deletes={"note"},
)

ALLOW_EVERYTHING = """
[[rule]]
name = "tests may write anything"
tables = ["*"]
operations = ["update", "insert", "delete"]
"""

TABLES = ("post_workflow_stage", "post_development", "note")


def build_demo(url: str, directory: Path) -> Path:
    """The demo database plus the ``note`` table; returns the contract that documents both."""
    data.build(url).dispose()
    key = "integer PRIMARY KEY" if url.startswith("sqlite") else "serial PRIMARY KEY"
    raw(url, f"CREATE TABLE note (id {key}, body text, status text, api_key text)")
    return contract_with(directory, NOTE_CONTRACT)


def write_rules(directory: Path, text: str, name: str = "rules.toml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def open_kernel(
    url: str,
    contract: Path,
    *,
    plugins: Sequence[str] = POLICIES,
    extra: Iterable[object] = (),
    host: Declaration = HOST,
    **kw: Any,
) -> wfsdk.Kernel:
    return wfsdk.connect(
        url,
        contract=contract,
        plugins=list(plugins),
        extra_plugins=list(extra),
        host_access=host,
        **kw,
    )


class Observer(Recorder):
    """Every intent voted on as well as what the recorder keeps: what really happened."""

    def __init__(self) -> None:
        super().__init__()
        self.intents: list[WriteIntent] = []

    @wfsdk.hookimpl
    def before_write(self, intent: WriteIntent) -> None:
        self.intents.append(intent)


class Faults:
    """Fails the writes whose reason carries a marker, at the step the marker names.

    ``[meddle]``: another client changes the row between preview and commit.
    ``[fail-commit]``: ``before_commit`` raises, after the backup was written.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.meddled: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    @wfsdk.hookimpl
    def before_write(self, intent: WriteIntent) -> None:
        if "[meddle]" in intent.reason and not intent.dry_run:
            (row,) = intent.rows
            if row.before is None or not row.changed_columns():
                return  # nothing there yet, or nothing changing: nothing to meddle with
            column = row.changed_columns()[0]
            where = " AND ".join(f"{k} = :k_{k}" for k in row.key)
            params = {f"k_{k}": v for k, v in row.key.items()}
            raw(self.url, f"UPDATE {intent.table} SET {column} = 'meddled' WHERE {where}", params)
            self.meddled.append((intent.table, dict(row.key), {column: row.before[column]}))

    @wfsdk.hookimpl(trylast=True)
    def before_commit(self, intent: WriteIntent) -> None:
        if "[fail-commit]" in intent.reason:
            raise RuntimeError("injected failure before commit")

    def undo_meddling(self) -> None:
        """Put back what the other client changed (fixture work, outside wfsdk)."""
        for table, key, values in self.meddled:
            sets = ", ".join(f"{c} = :v_{c}" for c in values)
            where = " AND ".join(f"{k} = :k_{k}" for k in key)
            params = {
                **{f"v_{c}": v for c, v in values.items()},
                **{f"k_{k}": v for k, v in key.items()},
            }
            raw(self.url, f"UPDATE {table} SET {sets} WHERE {where}", params)
        self.meddled.clear()


def records(journal: Journal, stream: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in journal.records(stream) if all(r.get(k) == v for k, v in match.items())]


_HERE = str(Path(__file__).resolve().parent)
_KILLED_WRITER = """
import sys
sys.path[:0] = [sys.argv[5]]
from pathlib import Path
from kernel_support import Voter
from policy_support import open_kernel
from wfsdk.values import Vote

kernel = open_kernel(
    sys.argv[1], Path(sys.argv[2]), plugins=[sys.argv[4]], extra=[Voter(Vote.allow())],
    state_dir=sys.argv[3],
)
with kernel:
    kernel.host.update("post_workflow_stage", {"id": 2}, {"status": "x"}, actor="a", reason="r")
"""


def kill_writer(url: str, contract: Path, state: Path, plugin: str, point: str) -> None:
    """A process that sets post_workflow_stage 2 to 'x' with ``plugin`` on, killed at ``point``."""
    import os
    import signal
    import subprocess
    import sys

    from wfsdk import faults

    result = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, url, str(contract), str(state), plugin, _HERE],
        env={**os.environ, faults.ENV_FAULT_POINT: point},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr


def count_stream_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every stream read through any Journal from now on, in order."""
    reads: list[str] = []
    real = Journal.records

    def counting(self: Journal, stream: str, problems: Any = None) -> Iterator[dict[str, Any]]:
        reads.append(stream)
        return real(self, stream, problems)

    monkeypatch.setattr(Journal, "records", counting)
    return reads
