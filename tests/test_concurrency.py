"""Many writer processes, overlapping on the same rows, every policy plugin on.

N processes each make M guarded writes to a handful of shared rows at once.
Afterwards, for every row, the committed changes form one unbroken chain from
the starting value to the value the row holds (each change's before-image is
the previous one's after-image): nothing committed was lost, nothing was
applied twice. Every committed change is in the audit log exactly once and in
a committed backup; every refused write was refused as changed since its
preview, and is in neither. Restoring every backup in reverse order gives back
the starting table.

It runs at the issue's size, 8 processes x 200 writes (about 35 s on two cores);
``WFSDK_LOAD_SIZE=4x25`` runs a smaller load while working on the code.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import wfsdk_backup
from policy_support import POLICIES

import wfsdk
from wfsdk import errors
from wfsdk.demo import data
from wfsdk.journal import Journal
from wfsdk.values import Declaration

from kernel_support import SHIPPED_CONTRACT, checksum, raw

TESTS = Path(__file__).resolve().parent
TABLE = "post_workflow_stage"
HOST = Declaration(module="host", reads={TABLE}, writes={TABLE: {"status"}})
RULES = """
[[rule]]
name = "load test"
actors = ["writer", "restorer"]
tables = ["post_workflow_stage"]
operations = ["update"]
columns = ["status"]
"""
PROCESSES, WRITES = (int(n) for n in os.environ.get("WFSDK_LOAD_SIZE", "8x200").split("x"))
# Few rows for many writers: most writes race another one for the same row.
EXTRA_ROWS = [(10, 2, 3, "new"), (11, 2, 2, "new"), (12, 3, 1, "new")]
START_TIMEOUT = 120.0


def worker(argv: list[str]) -> None:
    """One writer process: wait for the start signal, then make its writes; log each outcome."""
    url, state, number, writes, rows_text, go, out = argv
    rows = [int(r) for r in rows_text.split(",")]
    pick = random.Random(int(number))
    with (
        wfsdk.connect(
            url, contract=SHIPPED_CONTRACT, plugins=POLICIES, host_access=HOST, state_dir=state
        ) as kernel,
        open(out, "w", encoding="utf-8") as log,
    ):
        Path(f"{out}.ready").touch()
        deadline = time.monotonic() + START_TIMEOUT
        while not Path(go).exists():
            if time.monotonic() > deadline:
                raise SystemExit("no start signal")
            time.sleep(0.005)
        for index in range(int(writes)):
            row = pick.choice(rows)
            value = f"w{number}-{index}"
            entry: dict[str, Any] = {"row": row, "value": value}
            try:
                result = kernel.host.update(
                    TABLE, {"id": row}, {"status": value}, actor="writer", reason="load"
                )
            except errors.ChangedSincePreviewError as exc:
                entry.update(outcome="changed", message=str(exc))
            except errors.WfsdkError as exc:
                entry.update(outcome="error", message=f"{type(exc).__name__}: {exc}")
            else:
                assert result.change is not None
                (change,) = result.change.rows
                assert change.before is not None
                entry.update(
                    outcome="committed",
                    change_id=result.change.change_id,
                    before=change.before["status"],
                )
            log.write(json.dumps(entry) + "\n")
            log.flush()


def start_workers(
    url: str, tmp: Path, state: Path, rows: list[int]
) -> tuple[list[subprocess.Popen[str]], Path]:
    go = tmp / "go"
    code = (
        f"import sys; sys.path[:0] = [{str(TESTS)!r}]; "
        "import test_concurrency; test_concurrency.worker(sys.argv[1:])"
    )
    workers = []
    for number in range(PROCESSES):
        out = tmp / f"worker-{number}.jsonl"
        argv = [
            url,
            str(state),
            str(number),
            str(WRITES),
            ",".join(map(str, rows)),
            str(go),
            str(out),
        ]
        workers.append(
            subprocess.Popen(
                [sys.executable, "-c", code, *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return workers, go


def wait_for(workers: list[subprocess.Popen[str]], tmp: Path, go: Path) -> None:
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while len(list(tmp.glob("worker-*.jsonl.ready"))) < len(workers):
            assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.02)
        go.touch()  # all at once: the writes overlap from the first one
        for w in workers:
            _out, err = w.communicate(timeout=600)
            assert w.returncode == 0, err
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()


def chain(start: str, changes: list[dict[str, Any]], final: str) -> list[dict[str, Any]]:
    """The committed changes of one row in commit order: each one starts where the last ended."""
    by_before: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        by_before.setdefault(change["before"], []).append(change)
    ordered = []
    current = start
    while by_before.get(current):
        (step,) = by_before.pop(current)  # two changes from one value: one was lost
        ordered.append(step)
        current = step["value"]
    assert not by_before, f"changes not in the chain (lost or applied twice): {by_before}"
    assert current == final, f"the row holds {final!r}, its last committed change left {current!r}"
    return ordered


@pytest.fixture
def load_db(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    data.build(pg_url).dispose()
    for row_id, post_id, stage_id, status in EXTRA_ROWS:
        raw(
            pg_url,
            f"INSERT INTO {TABLE} (id, post_id, stage_id, status) VALUES (:i, :p, :s, :v)",
            {"i": row_id, "p": post_id, "s": stage_id, "v": status},
        )
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    monkeypatch.setenv("WFSDK_APPROVAL_MODE", "rules")
    monkeypatch.setenv("WFSDK_APPROVAL_RULES", str(rules))
    return pg_url


def test_writers_racing_for_the_same_rows_lose_nothing(load_db: str, tmp_path: Path) -> None:
    url = load_db
    start = {int(r[0]): str(r[1]) for r in raw(url, f"SELECT id, status FROM {TABLE}")}
    start_sum = checksum(url, [TABLE])
    state = tmp_path / "state"
    began = time.monotonic()
    workers, go = start_workers(url, tmp_path, state, sorted(start))
    wait_for(workers, tmp_path, go)
    elapsed = time.monotonic() - began

    outcomes = [
        json.loads(line)
        for path in sorted(tmp_path.glob("worker-*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert len(outcomes) == PROCESSES * WRITES
    unexpected = [o for o in outcomes if o["outcome"] == "error"]
    assert not unexpected, unexpected[:5]
    committed = [o for o in outcomes if o["outcome"] == "committed"]
    refused = [o for o in outcomes if o["outcome"] == "changed"]
    assert committed and refused, "the writes did not overlap; nothing was tested"
    assert all("no longer what the preview" in o["message"] for o in refused)

    final = {int(r[0]): str(r[1]) for r in raw(url, f"SELECT id, status FROM {TABLE}")}
    order: list[str] = []
    for row, value in start.items():
        changes = [o for o in committed if o["row"] == row]
        order += [c["change_id"] for c in chain(value, changes, final[row])]

    journal = Journal(state)
    audited = Counter(r["change_id"] for r in journal.records("audit") if r["kind"] == "change")
    ids = {o["change_id"] for o in committed}
    assert set(audited) == ids and set(audited.values()) == {1}
    backups = {b.change_id: b for b in wfsdk_backup.list_backups(journal)}
    assert all(backups[i].status == wfsdk_backup.COMMITTED for i in ids)
    assert not [b for i, b in backups.items() if i not in ids and b.status == "committed"]

    with wfsdk.connect(
        url, contract=SHIPPED_CONTRACT, plugins=POLICIES, host_access=HOST, state_dir=state
    ) as kernel:
        for change_id in reversed(order):
            wfsdk_backup.restore(kernel, change_id, actor="restorer")
    assert checksum(url, [TABLE]) == start_sum
    print(
        f"\n{PROCESSES} processes x {WRITES} writes: {len(committed)} committed, "
        f"{len(refused)} refused as changed since preview, in {elapsed:.1f} s; "
        f"{len(order)} restores"
    )
