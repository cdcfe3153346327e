"""wfsdk-backup and the kernel's redeliveries: settled once, however often told; cheap probing.

The hooks are called directly with journal objects and the values the kernel
would pass, the way the kernel's start-up recovery calls them; the last tests
kill a real writer and let the next ``connect`` deliver what it missed.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import attrs
import pytest
import wfsdk_backup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_support import TABLES, build_demo, count_stream_reads, kill_writer, open_kernel, records
from wfsdk_backup import load_backup

from wfsdk.journal import Journal, encode
from wfsdk.testing import strategies as wst
from wfsdk.values import (
    RECOVERED,
    ChangeRecord,
    Decision,
    Operation,
    Receipt,
    RowChange,
    Vote,
    WriteIntent,
)

from kernel_support import Voter, checksum, raw

TESTS = Path(__file__).resolve().parents[3] / "tests"
STARTED = "2025-07-01T10:00:00"


def a_write(
    change_id: str = "18ee2821aa-4ecf-c0ff802d",
    operation: Operation = Operation.UPDATE,
    rows: tuple[RowChange, ...] | None = None,
) -> tuple[WriteIntent, ChangeRecord]:
    """The intent and the committed change of one write, as the kernel passes them."""
    if rows is None:
        before = {"id": 2, "status": "in_progress", "started_at": dt.datetime(2025, 7, 1, 10)}
        rows = (RowChange(key={"id": 2}, before=before, after={**before, "status": "review"}),)
    intent = WriteIntent(
        change_id=change_id,
        caller="host",
        actor="ann",
        reason="ready",
        table="post_workflow_stage",
        operation=operation,
        statement="UPDATE post_workflow_stage SET status = :v0 WHERE id = :k0",
        parameters={"v0": "review", "k0": 2},
        rows=rows,
    )
    change = ChangeRecord(
        change_id=change_id,
        caller=intent.caller,
        actor=intent.actor,
        reason=intent.reason,
        table=intent.table,
        operation=operation,
        statement=intent.statement,
        rows=rows,
        votes=(Vote.allow("ok", voter="approver"),),
        receipts=(Receipt(plugin="wfsdk-backup", kind="backup", reference=change_id),),
        committed_at="2026-03-01T12:00:00+00:00",
    )
    return intent, change


def recovered(change: ChangeRecord) -> ChangeRecord:
    """The same change as the next start delivers it: no receipts, ``recovered`` set."""
    return attrs.evolve(
        change, receipts=(), committed_at="2026-03-01T12:05:00+00:00", recovered=True
    )


RECOVERED_ROLLBACK = f"{RECOVERED}: the writing process ended before it committed (test)"


def statuses(journal: Journal, change_id: str) -> list[str]:
    return [r["status"] for r in records(journal, "backup-status", change_id=change_id)]


def on_disk(journal: Journal) -> dict[str, bytes]:
    """Every file of the journal with its bytes: what a redelivery must leave alone."""
    return {
        str(p.relative_to(journal.directory)): p.read_bytes()
        for p in sorted(journal.directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "state")


def test_a_start_up_rollback_is_told_by_the_kernels_own_words() -> None:
    assert wfsdk_backup.RECOVERED == RECOVERED


# -- records are written at once, not fsynced one by one --------------------------------


def test_records_are_written_unsynced_and_left_for_the_journal_to_sync(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent, change = a_write()
    assert wfsdk_backup.before_write(intent, journal) is None  # creates the directories
    synced: list[int] = []
    real_fsync = os.fsync

    def counting(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting)
    wfsdk_backup.before_commit(intent, journal)
    wfsdk_backup.after_write(change, journal)
    assert synced == []
    # On disk at once (a killed process loses nothing), durable at the kernel's sync.
    assert load_backup(journal, change.change_id).status == "committed"
    journal.sync()
    assert len(synced) >= 2  # the document and the status stream, then their directories


# -- a commit delivered again ------------------------------------------------------------


def test_a_redelivered_commit_of_a_committed_backup_changes_nothing(journal: Journal) -> None:
    intent, change = a_write()
    wfsdk_backup.before_commit(intent, journal)
    wfsdk_backup.after_write(change, journal)
    before = on_disk(journal)
    for _ in range(3):
        wfsdk_backup.after_write(recovered(change), journal)
    assert on_disk(journal) == before
    assert statuses(journal, change.change_id) == ["prepared", "committed"]


def test_a_redelivered_commit_of_a_prepared_backup_marks_it_committed_once(
    journal: Journal,
) -> None:
    intent, change = a_write()
    wfsdk_backup.before_commit(intent, journal)  # the writer died before after_write
    document = (journal.directory / "backups" / f"{change.change_id}.json").read_bytes()
    for _ in range(2):
        wfsdk_backup.after_write(recovered(change), journal)
    assert statuses(journal, change.change_id) == ["prepared", "committed"]
    (committed,) = records(journal, "backup-status", status="committed")
    assert committed["recovered"] is True
    assert committed["rows"] == [{"key": {"id": 2}, "after": dict(change.rows[0].after or {})}]
    # The document made before the commit is the one kept.
    assert (journal.directory / "backups" / f"{change.change_id}.json").read_bytes() == document
    assert load_backup(journal, change.change_id).status == "committed"


def test_a_redelivered_commit_whose_backup_was_lost_writes_it_again(journal: Journal) -> None:
    intent, change = a_write()
    wfsdk_backup.before_commit(intent, journal)
    # A power failure before the journal was synced took the document and the status lines.
    (journal.directory / "backups" / f"{change.change_id}.json").unlink()
    journal.stream_path("backup-status").unlink()
    wfsdk_backup.after_write(recovered(change), journal)
    backup = load_backup(journal, change.change_id)
    assert backup.status == "committed"
    assert backup.rows == change.rows
    assert (backup.table, backup.operation, backup.key_columns) == (
        "post_workflow_stage",
        Operation.UPDATE,
        ("id",),
    )
    assert (backup.actor, backup.reason, backup.caller) == ("ann", "ready", "host")
    assert journal.read_document("backups", change.change_id)["recovered"] is True
    again = on_disk(journal)
    wfsdk_backup.after_write(recovered(change), journal)
    assert on_disk(journal) == again


def test_a_damaged_document_is_set_aside_and_written_again(journal: Journal) -> None:
    intent, change = a_write()
    wfsdk_backup.before_commit(intent, journal)
    path = journal.directory / "backups" / f"{change.change_id}.json"
    path.write_bytes(b"")  # what an unsynced file can come back as after a power failure
    wfsdk_backup.after_write(recovered(change), journal)
    assert load_backup(journal, change.change_id).rows == change.rows
    assert path.with_name(path.name + ".damaged").read_bytes() == b""
    assert journal.documents("backups") == [change.change_id]


def test_a_redelivered_insert_keeps_the_keys_the_database_gave(journal: Journal) -> None:
    preview = (RowChange(key={}, before=None, after={"body": "x"}),)
    intent, _ = a_write(operation=Operation.INSERT, rows=preview)
    _, change = a_write(
        operation=Operation.INSERT,
        rows=(RowChange(key={"id": 7}, before=None, after={"id": 7, "body": "x"}),),
    )
    wfsdk_backup.before_commit(intent, journal)
    wfsdk_backup.after_write(recovered(change), journal)
    backup = load_backup(journal, change.change_id)
    assert backup.committed_rows is not None
    assert [dict(r.key) for r in backup.committed_rows] == [{"id": 7}]


# -- a rollback delivered again ----------------------------------------------------------


def test_a_redelivered_rollback_marks_a_prepared_backup_once(journal: Journal) -> None:
    intent, _ = a_write()
    wfsdk_backup.before_commit(intent, journal)
    for _ in range(3):
        wfsdk_backup.after_rollback(intent, RECOVERED_ROLLBACK, journal)
    assert statuses(journal, intent.change_id) == ["prepared", "rolled-back"]
    (rolled_back,) = records(journal, "backup-status", status="rolled-back")
    assert rolled_back["recovered"] is True and rolled_back["reason"] == RECOVERED_ROLLBACK
    assert load_backup(journal, intent.change_id).status == "rolled-back"


def test_a_redelivered_rollback_of_a_rolled_back_backup_changes_nothing(
    journal: Journal,
) -> None:
    intent, _ = a_write()
    wfsdk_backup.before_commit(intent, journal)
    wfsdk_backup.after_rollback(intent, "injected failure", journal)
    before = on_disk(journal)
    wfsdk_backup.after_rollback(intent, RECOVERED_ROLLBACK, journal)
    assert on_disk(journal) == before


def test_a_redelivered_rollback_without_a_backup_writes_nothing(journal: Journal) -> None:
    intent, _ = a_write()
    wfsdk_backup.after_rollback(intent, RECOVERED_ROLLBACK, journal)
    assert not journal.directory.exists()


def test_a_redelivered_rollback_never_overrules_a_recorded_commit(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    intent, change = a_write()
    wfsdk_backup.before_commit(intent, journal)
    wfsdk_backup.after_write(change, journal)
    before = on_disk(journal)
    wfsdk_backup.after_rollback(intent, RECOVERED_ROLLBACK, journal)
    assert on_disk(journal) == before
    assert any(
        r.name == "wfsdk.backup" and "recorded as committed" in r.getMessage()
        for r in caplog.records
    )


def test_redeliveries_read_the_status_stream_once(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = [a_write(f"18ee2821{n:02x}-4ecf-c0ff802d") for n in range(5)]
    for intent, _ in writes:
        wfsdk_backup.before_commit(intent, journal)
    reads = count_stream_reads(monkeypatch)
    for _, change in writes:
        wfsdk_backup.after_write(recovered(change), journal)
    assert reads == ["backup-status"]
    # A write that is not a redelivery never reads it, and drops what was kept.
    intent, change = a_write("18ee2821ff-4ecf-c0ff802d")
    wfsdk_backup.before_commit(intent, journal)
    wfsdk_backup.after_write(change, journal)
    assert reads == ["backup-status"]
    monkeypatch.undo()
    assert all(statuses(journal, c.change_id) == ["prepared", "committed"] for _, c in writes)


def test_a_status_another_process_appended_meanwhile_is_seen(journal: Journal) -> None:
    first, second = a_write("18ee282101-4ecf-c0ff802d"), a_write("18ee282102-4ecf-c0ff802d")
    for intent, _ in (first, second):
        wfsdk_backup.before_commit(intent, journal)
    wfsdk_backup.after_write(recovered(first[1]), journal)
    # Another process (its own Journal object) records the second commit meanwhile.
    wfsdk_backup.after_write(second[1], Journal(journal.directory))
    wfsdk_backup.after_write(recovered(second[1]), journal)
    assert statuses(journal, second[1].change_id) == ["prepared", "committed"]


# -- any order, any number of deliveries -------------------------------------------------

DELIVERIES = st.lists(
    st.sampled_from(["recovered commit", "lose the document", "lose the statuses"]),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    rows=wst.row_sets(Operation.UPDATE),
    heard=st.booleans(),
    deliveries=DELIVERIES.filter(lambda d: "recovered commit" in d),
)
def test_any_redeliveries_of_a_commit_leave_one_committed_backup(
    rows: tuple[RowChange, ...], heard: bool, deliveries: list[str]
) -> None:
    intent, change = a_write(rows=rows)
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(tmp)
        wfsdk_backup.before_commit(intent, journal)
        if heard:
            wfsdk_backup.after_write(change, journal)
        for step in deliveries:
            if step == "recovered commit":
                wfsdk_backup.after_write(recovered(change), journal)
            elif step == "lose the document":
                (journal.directory / "backups" / f"{change.change_id}.json").unlink(missing_ok=True)
            else:
                journal.stream_path("backup-status").unlink(missing_ok=True)
        if deliveries[-1] != "recovered commit":
            wfsdk_backup.after_write(recovered(change), journal)
        assert statuses(journal, change.change_id).count("committed") == 1
        backup = load_backup(journal, change.change_id)
        assert backup.status == "committed"
        assert len(backup.rows) == len(rows)
        committed_keys = [encode(r.key) for r in backup.committed_rows or ()]
        assert committed_keys == [encode(r.key) for r in rows]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    intent=wst.write_intents(),
    prepared=st.booleans(),
    heard=st.booleans(),
    times=st.integers(min_value=1, max_value=3),
)
def test_any_redeliveries_of_a_rollback_leave_at_most_one_rolled_back(
    intent: WriteIntent, prepared: bool, heard: bool, times: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(tmp)
        made = False
        if prepared:
            try:
                wfsdk_backup.before_commit(intent, journal)
                made = True
            except Exception:
                pass  # a change id the journal cannot name: the write is refused there
        if heard:
            wfsdk_backup.after_rollback(intent, "injected failure", journal)
        for _ in range(times):
            wfsdk_backup.after_rollback(intent, RECOVERED_ROLLBACK, journal)
        rolled_back = [r for r in journal.records("backup-status") if r["status"] == "rolled-back"]
        assert len(rolled_back) == (1 if made else 0)
        if made:
            assert load_backup(journal, intent.change_id).status == "rolled-back"
        else:
            assert journal.documents("backups") == []


# -- the cheap probe still refuses -------------------------------------------------------


def test_the_directory_is_proven_writable_once_per_interval(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes: list[Path] = []
    real = wfsdk_backup._probe

    def counting(directory: Path) -> None:
        probes.append(directory)
        real(directory)

    monkeypatch.setattr(wfsdk_backup, "_probe", counting)
    intent, _ = a_write()
    for _ in range(20):
        assert wfsdk_backup.before_write(intent, journal) is None
    assert probes == [journal.directory / "backups"]
    monkeypatch.setattr(wfsdk_backup, "PROBE_INTERVAL_S", 0.0)
    assert wfsdk_backup.before_write(intent, journal) is None
    assert len(probes) == 2
    # No file is left behind by a probe.
    assert list((journal.directory / "backups").iterdir()) == []


def test_a_state_directory_replaced_after_the_proof_is_refused(journal: Journal) -> None:
    intent, _ = a_write()
    assert wfsdk_backup.before_write(intent, journal) is None
    shutil.rmtree(journal.directory)
    journal.directory.write_text("")  # a regular file blocks everyone, root included
    vote = wfsdk_backup.before_write(intent, journal)
    assert vote is not None and vote.decision is Decision.DENY
    assert "cannot back up: the state directory" in vote.reason
    assert "Not a directory" in vote.reason or "File exists" in vote.reason
    # Repaired, the next write is allowed again.
    journal.directory.unlink()
    assert wfsdk_backup.before_write(intent, journal) is None


def test_a_full_disk_after_the_proof_is_refused(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent, _ = a_write()
    assert wfsdk_backup.before_write(intent, journal) is None
    real = os.statvfs

    def full(path: str | os.PathLike[str]) -> os.statvfs_result:
        figures = list(real(path))
        figures[3] = figures[4] = 0  # f_bfree, f_bavail
        return os.statvfs_result(figures)

    monkeypatch.setattr(os, "statvfs", full)
    vote = wfsdk_backup.before_write(intent, journal)
    assert vote is not None and vote.decision is Decision.DENY and "is full" in vote.reason


MACHINE = """
import subprocess, sys
sys.path[:0] = [sys.argv[3], sys.argv[4]]
import wfsdk_backup
from test_backup_redelivery import a_write
from wfsdk.journal import Journal, encode

mount, case = sys.argv[1], sys.argv[2]
journal = Journal(mount + "/state")
intent, _ = a_write()

def vote():
    outcome = wfsdk_backup.before_write(intent, journal)
    return "allowed" if outcome is None else f"refused: {outcome.reason}"

print("FIRST", vote())
if case == "read-only":
    subprocess.run(["mount", "-o", "remount,ro", mount], check=True)
else:
    subprocess.run(f"cat /dev/zero > {mount}/filler 2>/dev/null; true", shell=True)
print("THEN", vote())
"""


@pytest.mark.parametrize(
    ("case", "refusal"), [("read-only", "Read-only file system"), ("full", "is full")]
)
def test_a_file_system_that_fails_after_the_proof_is_refused(
    tmp_path: Path, case: str, refusal: str
) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = tmp_path / "machine.py"
    script.write_text(textwrap.dedent(MACHINE))
    here = Path(__file__).resolve().parent
    shell = (
        f"mount -t tmpfs -o size=4m tmpfs {mount} && "
        f"exec {sys.executable} {script} {mount} {case} {here} {TESTS}"
    )
    result = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", shell],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "unshare:" in result.stderr or "mount:" in result.stderr:
        pytest.skip(f"cannot make a private mount here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    first, then = result.stdout.splitlines()[-2:]
    assert first == "FIRST allowed"
    assert then.startswith("THEN refused: cannot back up") and refusal in then, then


# -- a real writer killed, and the next start --------------------------------------------


@pytest.mark.parametrize(
    ("point", "expected"),
    [("after_before_commit", "rolled-back"), ("after_commit", "committed")],
)
def test_the_next_start_settles_the_backup_of_a_killed_writer(
    db_url: str, tmp_path: Path, point: str, expected: str
) -> None:
    contract = build_demo(db_url, tmp_path)
    state = tmp_path / "killed"
    kill_writer(db_url, contract, state, "wfsdk-backup", point)
    after_crash = checksum(db_url, TABLES)
    journal = Journal(state)
    (backup_id,) = journal.documents("backups")
    assert statuses(journal, backup_id) == ["prepared"]
    with open_kernel(
        db_url, contract, plugins=["wfsdk-backup"], extra=[Voter(Vote.allow())], state_dir=state
    ):
        pass  # the start-up alone settles it
    history = load_backup(journal, backup_id).history
    assert [h["status"] for h in history] == ["prepared", expected]
    assert history[-1]["recovered"] is True
    # Nothing was restored or written by the start-up.
    assert checksum(db_url, TABLES) == after_crash
    status = raw(db_url, "SELECT status FROM post_workflow_stage WHERE id = 2")[0][0]
    assert status == ("x" if expected == "committed" else "in_progress")
    # A second start has nothing left to settle.
    with open_kernel(
        db_url, contract, plugins=["wfsdk-backup"], extra=[Voter(Vote.allow())], state_dir=state
    ):
        pass
    assert len(load_backup(journal, backup_id).history) == 2
