"""Plugins and helpers the kernel tests share: real plugin objects, real databases."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import wfsdk
from wfsdk.values import ChangeRecord, Declaration, ErrorEvent, ReadEvent, Vote, WriteIntent

SHIPPED_CONTRACT = Path(__file__).resolve().parent.parent / "docs" / "database" / "schema.md"


def contract_with(directory: Path, extra: str) -> Path:
    """The shipped contract plus sections for tables a test creates itself."""
    path = directory / "schema.md"
    path.write_text(SHIPPED_CONTRACT.read_text() + "\n" + extra)
    return path


STATUS_WRITER = Declaration(
    module="host",
    reads=frozenset(
        {
            "post_workflow_stage",
            "workflow_stage_entity",
            "workflow_sub_stage_entity",
            "workflow_step_entity",
            "llm_action",
            "post",
            "post_development",
        }
    ),
    writes={
        "post_workflow_stage": {"status", "started_at", "completed_at"},
        "workflow_stage_entity": {"name"},
        "llm_action": {"prompt_template"},
    },
)


class Recorder:
    """Records every observing hook call, in order."""

    def __init__(self) -> None:
        self.reads: list[ReadEvent] = []
        self.changes: list[ChangeRecord] = []
        self.errors: list[ErrorEvent] = []
        self.rollbacks: list[tuple[WriteIntent, str]] = []

    @wfsdk.hookimpl
    def on_read(self, event: ReadEvent) -> None:
        self.reads.append(event)

    @wfsdk.hookimpl
    def after_write(self, change: ChangeRecord) -> None:
        self.changes.append(change)

    @wfsdk.hookimpl
    def on_error(self, error: ErrorEvent) -> None:
        self.errors.append(error)

    @wfsdk.hookimpl
    def after_rollback(self, intent: WriteIntent, reason: str) -> None:
        self.rollbacks.append((intent, reason))


class Voter:
    """A policy that always votes the same way (or raises, or runs a side effect first)."""

    def __init__(
        self,
        vote: Vote | None,
        *,
        raises: BaseException | None = None,
        before: Callable[[WriteIntent], None] | None = None,
    ) -> None:
        self.vote = vote
        self.raises = raises
        self.before = before
        self.seen: list[WriteIntent] = []

    @wfsdk.hookimpl
    def before_write(self, intent: WriteIntent) -> Vote | None:
        self.seen.append(intent)
        if self.before is not None:
            self.before(intent)
        if self.raises is not None:
            raise self.raises
        return self.vote


def checksum(url: str, tables: Iterable[str]) -> str:
    """A digest of every row of ``tables``, read outside wfsdk."""
    engine = sa.create_engine(url)
    digest = hashlib.sha256()
    try:
        with engine.connect() as conn:
            for table in sorted(tables):
                rows = conn.execute(sa.text(f'SELECT * FROM "{table}" ORDER BY 1')).all()
                digest.update(table.encode())
                digest.update(json.dumps([list(r) for r in rows], default=str).encode())
    finally:
        engine.dispose()
    return digest.hexdigest()


def raw(url: str, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Run SQL outside wfsdk (test fixture work, never part of the SDK's path)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql), params or {})
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def pip_install_offline(project: Path, target: Path) -> None:
    """Install ``project`` into ``target`` as pip would from an index, but offline.

    Plugins found this way are discovered through their entry points exactly as
    installed distributions are, without touching the suite's own environment.
    """
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(project),
        ],
        check=True,
        capture_output=True,
    )


def run_child(module: str, args: Iterable[str], point: str | None) -> int:
    """Run ``<module>.child(args)`` (a module of this directory) in a fresh process.

    Armed at the write-path fault ``point`` (``None``: unarmed, and it must succeed).
    Returns the exit status: ``-SIGKILL`` for a writer that died at its point.
    """
    import os

    from wfsdk import faults

    env = {k: v for k, v in os.environ.items() if k != faults.ENV_FAULT_POINT}
    if point is not None:
        env[faults.ENV_FAULT_POINT] = point
    here = str(Path(__file__).resolve().parent)
    code = f"import sys; sys.path[:0] = [{here!r}]; import {module}; {module}.child(sys.argv[1:])"
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert point is not None or result.returncode == 0, result.stderr
    return result.returncode
