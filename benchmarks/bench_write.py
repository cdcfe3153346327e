"""A status update through the whole write path beside a raw ``UPDATE ...; COMMIT``.

    python benchmarks/bench_write.py postgresql+psycopg://.../db   (a demo database)

Run against a server with ``fsync = on`` and ``synchronous_commit = on`` (``run.py``
starts one so), so that the raw commit is as durable as wfsdk's journal records.

What each side does per call (every call writes a new value, so every write changes a row):

* raw psycopg: one connection opened before timing; ``UPDATE post_workflow_stage SET
  status = %s WHERE id = %s`` then ``COMMIT`` (psycopg sends ``BEGIN`` first: three
  statements, one WAL flush).
* wfsdk, kernel only: ``kernel.host.update("post_workflow_stage", {"id": 2},
  {"status": ...}, actor=..., reason=...)`` with one in-process policy that allows every
  write and no plugin that listens for outcomes (so no write-ahead record): guard, access
  and contract checks, the preview (``BEGIN READ ONLY`` / preview SELECT / ``COMMIT``), the
  vote, the write transaction (``BEGIN`` / ``SELECT ... FOR UPDATE`` / ``UPDATE ...
  RETURNING`` / ``COMMIT``), the change record.
* wfsdk with wfsdk-audit and wfsdk-backup: the same, plus the kernel's write-ahead record
  (one fsynced line) before ``before_commit``, the backup document and its status lines and
  the audit line (written at once, synced by the kernel every 256 writes: that cost is
  inside the timings).
* wfsdk with all three policy plugins: the same, with wfsdk-approval in rules mode instead
  of the in-process policy (one more fsynced line per write).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from common import psycopg_conninfo, race

import wfsdk
from wfsdk.errors import PluginError
from wfsdk.plugins import load_plugins
from wfsdk.values import Declaration, Vote, WriteIntent

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "docs" / "database" / "schema.md"
TABLE = "post_workflow_stage"
ROW_ID = 2
POLICIES = ("wfsdk-audit", "wfsdk-backup", "wfsdk-approval")
HOST = Declaration(module="host", reads={TABLE}, writes={TABLE: {"status"}})
RULES = """
[[rule]]
name = "benchmark status updates"
tables = ["post_workflow_stage"]
operations = ["update"]
columns = ["status"]
"""


class AllowAll:
    """The smallest policy there is: allows every write, keeps no record."""

    def __init__(self) -> None:
        # pluggy registers a host's plugin object under its __name__.
        self.__name__ = "bench-allow-all"

    @wfsdk.hookimpl
    def before_write(self, intent: WriteIntent) -> Vote:
        return Vote.allow("benchmark")


def run(url: str, *, rounds: int = 10, batch: int = 30) -> dict[str, Any]:
    counter = itertools.count()
    stack: list[Any] = []
    saved = {k: os.environ.get(k) for k in ("WFSDK_APPROVAL_MODE", "WFSDK_APPROVAL_RULES")}
    with tempfile.TemporaryDirectory(prefix="wfsdk-bench-") as tmp:
        rules = Path(tmp) / "rules.toml"
        rules.write_text(RULES)
        os.environ["WFSDK_APPROVAL_MODE"] = "rules"
        os.environ["WFSDK_APPROVAL_RULES"] = str(rules)
        try:
            raw = psycopg.connect(psycopg_conninfo(url))
            stack.append(raw)

            def raw_update() -> None:
                raw.execute(
                    "UPDATE post_workflow_stage SET status = %s WHERE id = %s",
                    (f"raw-{next(counter)}", ROW_ID),
                )
                raw.commit()

            def kernel_with(name: str, plugins: list[str], extra: list[object]) -> wfsdk.Kernel:
                kernel = wfsdk.connect(
                    url,
                    plugins=plugins,
                    extra_plugins=extra,
                    contract=CONTRACT,
                    host_access=HOST,
                    state_dir=Path(tmp) / name,
                )
                stack.append(kernel)
                return kernel

            def updater(kernel: wfsdk.Kernel, prefix: str) -> Callable[[], object]:
                def update() -> object:
                    return kernel.host.update(
                        TABLE,
                        {"id": ROW_ID},
                        {"status": f"{prefix}-{next(counter)}"},
                        actor="bench",
                        reason="benchmark",
                    )

                return update

            contenders: dict[str, Callable[[], object]] = {
                "raw psycopg": raw_update,
                "wfsdk, kernel only": updater(kernel_with("kernel", [], [AllowAll()]), "k"),
            }
            missing = _missing_plugins()
            if not missing:
                contenders["wfsdk + audit + backup"] = updater(
                    kernel_with("audit-backup", ["wfsdk-audit", "wfsdk-backup"], [AllowAll()]),
                    "ab",
                )
                everything = kernel_with("all", list(POLICIES), [])
                contenders["wfsdk + audit + backup + approval"] = updater(everything, "all")
            for name, action in contenders.items():
                outcome = action()
                # Every wfsdk contender must really commit, or the race would time refusals.
                assert name.startswith("raw") or getattr(outcome, "change", None), name
            timings = race(contenders, rounds=rounds, batch=batch)
            where = (
                None
                if missing
                else breakdown(everything, contenders["wfsdk + audit + backup + approval"])
            )
            fsync = _server_setting(raw, "fsync"), _server_setting(raw, "synchronous_commit")
        finally:
            for item in reversed(stack):
                (item.dispose if isinstance(item, sa.Engine) else item.close)()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return {
        "timings": timings,
        "where_the_time_goes": where,
        "server_fsync": fsync[0],
        "synchronous_commit": fsync[1],
        "plugins_missing": missing,
    }


def breakdown(kernel: wfsdk.Kernel, update: Callable[[], object], count: int = 100) -> Any:
    """Where a write's time goes: each plugin hook's share, and the journal's fsyncs.

    Every hook implementation and ``os.fsync`` are wrapped in a timer for ``count``
    writes, then put back; the rest of the time is the kernel's and the database's.
    """
    spent: defaultdict[str, float] = defaultdict(float)
    hooks = kernel.plugins.manager.hook
    wrapped = []

    def timer(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - start
                spent[f"{label} calls"] += 1

        return timed

    for name in ("before_write", "before_commit", "after_write", "after_rollback"):
        for impl in getattr(hooks, name).get_hookimpls():
            if impl.plugin_name in POLICIES:
                wrapped.append((impl, impl.function))
                impl.function = timer(f"{impl.plugin_name} {name}", impl.function)
    real_fsync = os.fsync
    os.fsync = timer("os.fsync", real_fsync)
    try:
        start = time.perf_counter()
        for _ in range(count):
            update()
        total = time.perf_counter() - start
    finally:
        os.fsync = real_fsync
        for impl, function in wrapped:
            impl.function = function
    per_write = {
        label: value / count * (1 if label.endswith(" calls") else 1e6)
        for label, value in sorted(spent.items())
    }
    return {"writes": count, "mean_us": total / count * 1e6, "per_write": per_write}


def _missing_plugins() -> str | None:
    """Why the policy plugins cannot be loaded here, or ``None`` when they can."""
    try:
        load_plugins(list(POLICIES), [])
    except PluginError as exc:
        return f"{exc} (install plugins/*: pip install -e plugins/wfsdk-audit ...)"
    return None


def _server_setting(conn: psycopg.Connection[Any], name: str) -> str:
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", (name,))
        row = cursor.fetchone()
    conn.commit()
    return str(row[0]) if row else "?"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: bench_write.py DATABASE_URL (a wfsdk demo database)", file=sys.stderr)
        return 2
    print(json.dumps(run(argv[1]), indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
