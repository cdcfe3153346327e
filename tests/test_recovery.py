"""The kernel's write-ahead record and the start-up that settles a dead writer's changes.

A writer process is killed at a point of the write path; the next ``connect``
on the same state directory tells every plugin how the change ended
(``after_write`` with ``recovered=True``, or ``after_rollback``), decided from
the database: PostgreSQL's transaction status, or SQLite's rows. Nothing is
written to the database by the start-up, a live writer's changes are left
alone, and rows that match neither image are reported and kept for later.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsdk
from wfsdk import engine, errors, recovery, writelog
from wfsdk.demo import data
from wfsdk.journal import Journal
from wfsdk.values import Declaration, Vote

from kernel_support import SHIPPED_CONTRACT, Recorder, Voter, checksum, raw, run_child

TESTS = Path(__file__).resolve().parent
TABLE = "post_workflow_stage"
HOST = Declaration(module="host", reads={TABLE}, writes={TABLE: {"status"}})
# Post 1 has two status rows: one write changes both, or neither.
UPDATE = "UPDATE post_workflow_stage SET status = %s WHERE post_id = %s"


@pytest.fixture
def demo_url(db_url: str) -> str:
    data.build(db_url).dispose()
    return db_url


def open_kernel(url: str, state: Path, *plugins: object) -> wfsdk.Kernel:
    return wfsdk.connect(
        url,
        contract=SHIPPED_CONTRACT,
        plugins=[],
        extra_plugins=[Voter(Vote.allow("test")), *plugins],
        host_access=HOST,
        state_dir=state,
    )


def child(argv: list[str]) -> None:
    url, state, status = argv
    # A plugin that listens for outcomes: without one, no write-ahead record is kept.
    with open_kernel(url, Path(state), Recorder()) as kernel:
        kernel.execute_query(UPDATE, (status, 1), actor="writer", reason="crash test")


def run_writer(url: str, state: Path, status: str, point: str | None) -> int:
    return run_child("test_recovery", [url, str(state), status], point)


def statuses(url: str) -> list[str]:
    rows = raw(url, f"SELECT status FROM {TABLE} WHERE post_id = 1 ORDER BY id")
    return [str(r[0]) for r in rows]


def writer_files(state: Path) -> list[Path]:
    return sorted((state / writelog.DIRECTORY).glob("*.jsonl"))


@pytest.mark.parametrize(
    ("point", "outcome"),
    [
        ("after_verify", None),
        ("after_before_commit", "rolled back"),
        ("after_commit", "committed"),
        ("after_after_write", None),
    ],
)
def test_the_next_start_tells_every_plugin_how_a_dead_writers_change_ended(
    demo_url: str, tmp_path: Path, point: str, outcome: str | None
) -> None:
    state = tmp_path / "state"
    before = statuses(demo_url)
    assert run_writer(demo_url, state, "crashed", point) == -signal.SIGKILL
    after = statuses(demo_url)
    assert after == (["crashed"] * 2 if point in {"after_commit", "after_after_write"} else before)
    held = checksum(demo_url, [TABLE])

    recorder = Recorder()
    with open_kernel(demo_url, state, recorder) as kernel:
        report = kernel.recovery
        # The start-up only reads: the table is as the dead writer left it.
        assert checksum(demo_url, [TABLE]) == held
    if outcome == "committed":
        assert len(recorder.changes) == 1 and not recorder.rollbacks
        change = recorder.changes[0]
        assert change.recovered and change.receipts == ()
        assert [r.after["status"] for r in change.rows if r.after] == ["crashed", "crashed"]
        assert [r.before["status"] for r in change.rows if r.before] == before
        assert report.committed == (change.change_id,) and not report.rolled_back
    elif outcome == "rolled back":
        assert len(recorder.rollbacks) == 1 and not recorder.changes
        intent, reason = recorder.rollbacks[0]
        assert reason.startswith(writelog.RECOVERED)
        assert intent.actor == "writer" and intent.table == TABLE
        assert report.rolled_back == (intent.change_id,) and not report.committed
    else:
        assert not recorder.changes and not recorder.rollbacks and not report
    assert not report.unsettled and not recorder.errors
    # Settled once: the files are gone, and a further start hears nothing more.
    assert writer_files(state) == []
    again = Recorder()
    with open_kernel(demo_url, state, again) as kernel:
        assert not kernel.recovery
    assert not again.changes and not again.rollbacks


def test_a_live_writers_record_is_left_alone(demo_url: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with open_kernel(demo_url, state) as writer:
        # A change the live writer has made durable but not yet committed.
        writer.write_log.pending(
            {"change_id": "live-1", "table": TABLE, "operation": "update", "rows": []}
        )
        recorder = Recorder()
        with open_kernel(demo_url, state, recorder) as other:
            assert not other.recovery
        assert not recorder.changes and not recorder.rollbacks
        assert writer.write_log.path is not None and writer.write_log.path.exists()
        writer.write_log.settled("live-1")
    # Closed with everything settled: nothing is left for anyone to settle.
    assert writer_files(state) == []


def test_rows_that_match_neither_image_are_reported_and_kept(
    sqlite_url: str, tmp_path: Path
) -> None:
    # SQLite decides by the rows (PostgreSQL by the transaction status, which is never ambiguous).
    data.build(sqlite_url).dispose()
    state = tmp_path / "state"
    before = statuses(sqlite_url)
    assert run_writer(sqlite_url, state, "crashed", "after_before_commit") == -signal.SIGKILL
    raw(sqlite_url, f"UPDATE {TABLE} SET status = 'someone else' WHERE post_id = 1")

    recorder = Recorder()
    with open_kernel(sqlite_url, state, recorder) as kernel:
        (unsettled,) = kernel.recovery.unsettled
    assert unsettled.table == TABLE and "neither" in unsettled.reason
    assert not recorder.changes and not recorder.rollbacks
    assert [e.phase for e in recorder.errors] == ["recovery"]
    assert recorder.errors[0].error_type == "RecoveryError"
    assert len(writer_files(state)) == 1

    # Once the rows are back as they were, the next start settles it as rolled back.
    ids = [r[0] for r in raw(sqlite_url, f"SELECT id FROM {TABLE} WHERE post_id = 1 ORDER BY id")]
    for row_id, status in zip(ids, before, strict=True):
        raw(sqlite_url, f"UPDATE {TABLE} SET status = :s WHERE id = :i", {"s": status, "i": row_id})
    assert statuses(sqlite_url) == before
    recorder = Recorder()
    with open_kernel(sqlite_url, state, recorder) as kernel:
        assert kernel.recovery.rolled_back and not kernel.recovery.unsettled
    assert len(recorder.rollbacks) == 1 and writer_files(state) == []


def test_settled_records_are_forgotten_and_the_journal_synced(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data.build(sqlite_url).dispose()
    monkeypatch.setattr(writelog, "CHECKPOINT_EVERY", 5)
    synced: list[int] = []
    state = tmp_path / "state"
    real_sync = Journal.sync

    def counting_sync(journal: Journal) -> None:
        synced.append(1)
        real_sync(journal)

    monkeypatch.setattr(Journal, "sync", counting_sync)
    with open_kernel(sqlite_url, state, Recorder()) as kernel:
        sizes = []
        for number in range(12):
            kernel.execute_query(UPDATE, (f"s{number}", 1), actor="a", reason="r")
            assert kernel.write_log.path is not None
            sizes.append(kernel.write_log.path.stat().st_size)
        # Emptied at every fifth settled change, after the journal was synced.
        assert sizes[4] == 0 and sizes[9] == 0 and sizes[5] > 0
        assert len(synced) == 2
    assert writer_files(state) == [] and len(synced) == 3  # and once more at close


def _record(table: str, key: int, before: str, after: str) -> dict[str, Any]:
    return {
        "change_id": f"c-{key}",
        "caller": "host",
        "actor": "a",
        "reason": "r",
        "table": table,
        "operation": "update",
        "statement": "UPDATE ...",
        "rows": [
            {
                "key": {"id": key},
                "before": {"id": key, "status": before},
                "after": {"id": key, "status": after},
            }
        ],
        "assigned": ["status"],
        "txid": None,
    }


statuses_st = st.sampled_from(["pending", "review", "done", "x", "y"])


@pytest.fixture
def sqlite_kernel(sqlite_url: str, tmp_path: Path) -> Any:
    data.build(sqlite_url).dispose()
    with open_kernel(sqlite_url, tmp_path / "state") as kernel:
        yield sqlite_url, kernel


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=statuses_st, after=statuses_st, current=statuses_st)
def test_the_rows_decide_exactly_when_they_can(
    sqlite_kernel: tuple[str, wfsdk.Kernel], before: str, after: str, current: str
) -> None:
    url, kernel = sqlite_kernel
    raw(url, f"UPDATE {TABLE} SET status = :s WHERE id = 2", {"s": current})
    outcome, _why = recovery.decide(kernel, _record(TABLE, 2, before, after))
    if before == after:
        # A change that changes nothing: the rows equal its after-image whatever happened.
        assert outcome == (recovery.COMMITTED if current == after else None)
    elif current == after:
        assert outcome == recovery.COMMITTED
    elif current == before:
        assert outcome == recovery.ROLLED_BACK
    else:
        assert outcome is None


def test_no_write_ahead_record_when_no_plugin_listens_for_outcomes(
    sqlite_url: str, tmp_path: Path
) -> None:
    data.build(sqlite_url).dispose()
    state = tmp_path / "state"
    with open_kernel(sqlite_url, state) as kernel:
        kernel.execute_query(UPDATE, ("quiet", 1), actor="a", reason="r")
        assert kernel.write_log.path is None
    assert writer_files(state) == []


@pytest.mark.parametrize("server_committed", [True, False])
def test_a_commit_that_raises_is_decided_before_the_caller_hears(
    demo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_committed: bool
) -> None:
    """The connection lost during COMMIT: the server may or may not have committed."""
    real_commit = engine.DriverSession.commit

    def lost_commit(session: engine.DriverSession) -> None:
        if session._read_only:  # the preview's and the decision's reads end as always
            return real_commit(session)
        if server_committed:
            real_commit(session)
        raise sa.exc.OperationalError("COMMIT", {}, ConnectionError("connection lost"))

    before = statuses(demo_url)
    recorder = Recorder()
    with open_kernel(demo_url, tmp_path / "state", recorder) as kernel:
        monkeypatch.setattr(engine.DriverSession, "commit", lost_commit)
        if server_committed:
            result = kernel.execute_query(UPDATE, ("lost", 1), actor="a", reason="r")
            assert result.change is not None
            assert [c.change_id for c in recorder.changes] == [result.change.change_id]
            assert not recorder.rollbacks
        else:
            with pytest.raises(errors.DatabaseError):
                kernel.execute_query(UPDATE, ("lost", 1), actor="a", reason="r")
            assert len(recorder.rollbacks) == 1 and not recorder.changes
        monkeypatch.undo()
    assert statuses(demo_url) == (["lost", "lost"] if server_committed else before)
    assert writer_files(tmp_path / "state") == []
