"""Importing a plugin in a fresh interpreter and reporting everything the import did.

A plugin is imported whenever wfsdk loads plugins: by the host application,
by ``wfsdk plugins``, by a batch job that only reads. Importing must therefore
do nothing but define things: no output, no files, no connections, no
threads, no changes to process-wide logging or signal handling. Work belongs
in hooks, which run when there is something to do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# Runs in the fresh interpreter; standard library only, so that what it imports
# before the plugin does is nothing the plugin could be blamed for.
_SCRIPT = r"""
import json, logging, signal, sys, threading
from importlib import metadata

def state():
    return {
        "threads": sorted(t.name for t in threading.enumerate()),
        "root logger handlers": [type(h).__name__ for h in logging.root.handlers],
        "root logger level": logging.getLevelName(logging.root.level),
        "logging disabled at": logging.root.manager.disable,
        "signal handlers": {
            s.name: repr(signal.getsignal(s))
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        },
        "sys.excepthook": repr(sys.excepthook),
    }

report, names = sys.argv[1], sys.argv[2:]
before = state()
failures = []
for name in names:
    try:
        metadata.EntryPoint(name="probe", value=name, group="wfsdk").load()
    except BaseException as exc:
        failures.append(f"importing {name!r} raised {type(exc).__name__}: {exc}")
after = state()
with open(report, "w", encoding="utf-8") as handle:
    json.dump({"failures": failures, "before": before, "after": after}, handle)
"""


def _listing(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*"))


def probe(
    import_names: Sequence[str],
    root: Path,
    settings: Mapping[str, str],
    timeout_s: float = 60.0,
) -> list[str]:
    """Import ``import_names`` in a new interpreter under ``root``; what it did, one per line."""
    cwd, home, tmp = root / "cwd", root / "home", root / "tmp"
    for directory in (cwd, home, tmp):
        directory.mkdir(parents=True, exist_ok=True)
    state_dir = root / "state"
    database = root / "probe.sqlite"
    report = root / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFSDK_")}
    env.pop("PGPASSWORD", None)
    env.update(
        # The interpreter sees exactly what this one imports from (--target sites included).
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
        PYTHONDONTWRITEBYTECODE="1",
        HOME=str(home),
        TMPDIR=str(tmp),
        WFSDK_STATE_DIR=str(state_dir),
        WFSDK_DSN=f"sqlite:///{database.as_posix()}",
    )
    env.update(settings)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _SCRIPT, str(report), *import_names],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return [f"importing did not finish within {timeout_s:g} s"]
    problems: list[str] = []
    if result.stdout:
        problems.append(f"printed to stdout: {result.stdout[:500]!r}")
    if result.stderr:
        problems.append(f"printed to stderr: {result.stderr[:500]!r}")
    if result.returncode != 0 or not report.exists():
        problems.append(f"the importing interpreter exited with status {result.returncode}")
        return problems
    outcome = json.loads(report.read_text(encoding="utf-8"))
    problems.extend(outcome["failures"])
    before, after = outcome["before"], outcome["after"]
    for key in before:
        if before[key] != after[key]:
            problems.append(f"changed {key}: {before[key]!r} -> {after[key]!r}")
    for label, directory in (
        ("the working directory", cwd),
        ("the home directory", home),
        ("the temporary directory", tmp),
    ):
        created = _listing(directory)
        if created:
            problems.append(f"created in {label}: {', '.join(created[:10])}")
    if state_dir.exists():
        problems.append(f"created the state directory (WFSDK_STATE_DIR): {_listing(state_dir)}")
    if database.exists():
        problems.append("opened the database named by WFSDK_DSN")
    return problems
