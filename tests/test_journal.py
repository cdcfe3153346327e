"""The journal on a real filesystem: concurrent writers, readers meanwhile, damage, exact values."""

from __future__ import annotations

import datetime as dt
import decimal
import errno
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wfsdk.journal import Journal, JournalError, JournalProblem, decode, encode

PROCESSES = 4
LINES_PER_PROCESS = 500


def _append_many(directory: str, writer: int, count: int) -> None:
    journal = Journal(directory)
    for n in range(count):
        # Sizes up to several pages, so that unlocked writes would interleave.
        size = (n * 7919 + writer * 104729) % 12000
        journal.append("load", {"writer": writer, "n": n, "pad": "x" * size})


def test_concurrent_appends_from_several_processes_are_whole_and_counted(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_append_many, args=(str(journal.directory), w, LINES_PER_PROCESS))
        for w in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    # Read while they write: every read sees whole records, and never fewer than before.
    seen = 0
    reads = 0
    while any(w.is_alive() for w in workers):
        problems: list[JournalProblem] = []
        count = sum(1 for _ in journal.records("load", problems))
        assert count >= seen
        assert all(p.message == "incomplete last line skipped" for p in problems), problems
        seen = count
        reads += 1
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0

    problems = []
    records = list(journal.records("load", problems))
    assert not problems
    assert len(records) == PROCESSES * LINES_PER_PROCESS
    for writer in range(PROCESSES):
        mine = [r["n"] for r in records if r["writer"] == writer]
        # Each writer's lines appear complete and in the order it wrote them.
        assert mine == list(range(LINES_PER_PROCESS))
    for record in records:
        size = (record["n"] * 7919 + record["writer"] * 104729) % 12000
        assert record["pad"] == "x" * size
    assert reads > 0


def test_threads_in_one_process_append_whole_lines(tmp_path: Path) -> None:
    journal = Journal(tmp_path)

    def run(writer: int) -> None:
        for n in range(200):
            journal.append("threads", {"writer": writer, "n": n, "pad": "y" * 5000})

    threads = [threading.Thread(target=run, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(list(journal.records("threads"))) == 800


def test_truncated_last_line_is_reported_and_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append("audit", {"n": 1})
    journal.append("audit", {"n": 2})
    with journal.stream_path("audit").open("ab") as handle:
        handle.write(b'{"n": 3, "half')
    problems: list[JournalProblem] = []
    assert [r["n"] for r in journal.records("audit", problems)] == [1, 2]
    (problem,) = problems
    assert problem.line == 3 and "incomplete" in problem.message
    assert problem.path == str(journal.stream_path("audit"))


def test_corrupt_last_line_is_reported_and_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append("audit", {"n": 1})
    with journal.stream_path("audit").open("ab") as handle:
        handle.write(b"\x00\x00garbage\n")
    problems: list[JournalProblem] = []
    assert [r["n"] for r in journal.records("audit", problems)] == [1]
    assert [p.line for p in problems] == [2]
    assert "corrupt" in problems[0].message


def test_corrupt_line_in_the_middle_raises_naming_file_and_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append("audit", {"n": 1})
    with journal.stream_path("audit").open("ab") as handle:
        handle.write(b"not json\n")
    journal.append("audit", {"n": 3})
    with pytest.raises(JournalError, match=rf"{journal.stream_path('audit')}:2: corrupt"):
        list(journal.records("audit"))


def test_a_line_that_is_not_an_object_or_has_a_bad_tag_is_corrupt(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    path = journal.stream_path("odd")
    tmp_path.joinpath(path.name).write_text(
        '[1, 2]\n{"d": {"$wfsdk": "datetime", "value": "yesterday"}}\n{"n": 1}\n'
    )
    with pytest.raises(JournalError, match=r"odd.jsonl:1: .*JSON object"):
        list(journal.records("odd"))
    path.write_text('{"d": {"$wfsdk": "datetime", "value": "yesterday"}}\n{"n": 1}\n')
    with pytest.raises(JournalError, match=r"odd.jsonl:1: .*yesterday"):
        list(journal.records("odd"))


def test_an_append_after_a_crashed_writer_keeps_the_stream_readable(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append("audit", {"n": 1})
    with journal.stream_path("audit").open("ab") as handle:
        handle.write(b'{"n": 2, "torn by a crash')
    journal.append("audit", {"n": 3})
    problems: list[JournalProblem] = []
    assert [r["n"] for r in journal.records("audit", problems)] == [1, 3]
    assert not problems
    # The fragment is set aside, not thrown away.
    torn = tmp_path / "audit.jsonl.torn"
    assert torn.read_bytes() == b'{"n": 2, "torn by a crash\n'


def test_reading_a_missing_stream_gives_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "never-created")
    assert list(journal.records("audit")) == []
    assert journal.documents("backups") == []
    assert not journal.directory.exists()


def test_state_directory_that_cannot_be_created_is_a_journal_error(tmp_path: Path) -> None:
    # chmod does not stop root; a path below a regular file fails for everyone.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    journal = Journal(blocker / "state")
    with pytest.raises(JournalError, match="cannot create the state directory"):
        journal.append("audit", {"n": 1})
    with pytest.raises(JournalError, match="cannot create the state directory"):
        journal.write_document("backups", "b-1", {"n": 1})


def test_stream_that_cannot_be_opened_is_a_journal_error(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.stream_path("audit").mkdir()
    with pytest.raises(JournalError, match=r"cannot open .*audit\.jsonl"):
        journal.append("audit", {"n": 1})


def test_disk_full_leaves_no_partial_record(tmp_path: Path) -> None:
    # /dev/full answers every write with ENOSPC: a real full device, no mount needed.
    journal = Journal(tmp_path)
    journal.stream_path("audit").symlink_to("/dev/full")
    with pytest.raises(JournalError, match="No space left"):
        journal.append("audit", {"n": 1})


def test_failed_fsync_cuts_the_record_back_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path)
    journal.append("audit", {"n": 1})

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(JournalError, match="No space left"):
        journal.append("audit", {"n": 2})
    with pytest.raises(JournalError, match="No space left"):
        journal.write_document("backups", "b-1", {"n": 2})
    monkeypatch.undo()
    assert [r["n"] for r in journal.records("audit")] == [1]
    assert journal.documents("backups") == []
    assert not list((tmp_path / "backups").iterdir())


def _run_in_private_mount(
    tmp_path: Path, setup: str, code: str
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` where ``tmp_path/mnt`` is a tiny tmpfs (mount namespace of its own)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    shell = (
        f"mount -t tmpfs -o size=64k tmpfs {mount} && {setup} && "
        f"exec {sys.executable} {script} {mount}"
    )
    result = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", shell],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode == 97 or "unshare:" in result.stderr or "mount:" in result.stderr:
        pytest.skip(f"cannot make a private mount here: {result.stderr.strip()}")
    return result


PROBE = """
import sys
from wfsdk.journal import Journal, JournalError
journal = Journal(sys.argv[1] + "/state")
try:
    for n in range(100_000):
        journal.append("audit", {"n": n, "pad": "z" * 1000})
except JournalError as exc:
    print("ERROR", exc)
print("READ", len(list(journal.records("audit"))))
"""


def test_a_really_full_filesystem(tmp_path: Path) -> None:
    result = _run_in_private_mount(tmp_path, "true", PROBE)
    assert result.returncode == 0, result.stderr
    error, read = result.stdout.strip().splitlines()
    assert error.startswith("ERROR") and "No space left" in error
    # Every record that was acknowledged can be read back, nothing half-written.
    assert read.startswith("READ ") and int(read.split()[1]) > 10


def test_a_really_read_only_filesystem_stops_root_too(tmp_path: Path) -> None:
    result = _run_in_private_mount(tmp_path, f"mount -o remount,ro {tmp_path / 'mnt'}", PROBE)
    assert result.returncode == 0, result.stderr
    assert "Read-only file system" in result.stdout
    assert "READ 0" in result.stdout


# -- documents -------------------------------------------------------------------------


def test_documents_are_written_once_and_listed(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.write_document("backups", "0002-b", {"n": 2})
    journal.write_document("backups", "0001-a", {"n": 1})
    assert journal.documents("backups") == ["0001-a", "0002-b"]
    assert journal.read_document("backups", "0001-a") == {"n": 1}
    with pytest.raises(JournalError, match="never replaced"):
        journal.write_document("backups", "0001-a", {"n": 3})
    assert journal.read_document("backups", "0001-a") == {"n": 1}
    # No temporary file is left behind, whatever happened.
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == [
        "0001-a.json",
        "0002-b.json",
    ]


def test_missing_or_damaged_document_is_a_journal_error(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    with pytest.raises(JournalError, match="no backups named 'nope'"):
        journal.read_document("backups", "nope")
    journal.write_document("backups", "b", {"n": 1})
    (tmp_path / "backups" / "b.json").write_text('{"n": ')
    with pytest.raises(JournalError, match=r"cannot read .*b\.json"):
        journal.read_document("backups", "b")


@pytest.mark.parametrize("name", ["../escape", "Upper", "", "a/b", ".hidden", "x" * 200])
def test_names_cannot_leave_the_directory(tmp_path: Path, name: str) -> None:
    journal = Journal(tmp_path)
    with pytest.raises(JournalError, match="invalid journal"):
        journal.append(name, {"n": 1})
    with pytest.raises(JournalError, match="invalid journal"):
        journal.write_document("backups", name, {"n": 1})


# -- exact values ----------------------------------------------------------------------

# Whole seconds: no database has sub-second UTC offsets, and Python 3.11 reads an offset of
# a few microseconds alone as UTC.
offsets = st.builds(
    lambda seconds: dt.timezone(dt.timedelta(seconds=seconds)), st.integers(-86399, 86399)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.characters(categories=["Cs", "Lu"]), max_size=5),  # lone surrogates
    st.datetimes(),
    st.datetimes(timezones=offsets),
    st.dates(),
    st.times(),
    st.times(timezones=offsets),
    st.decimals(allow_nan=False),
    st.binary(),
    st.uuids(),
)
keys = st.one_of(st.text(max_size=8), st.sampled_from(["$wfsdk", "value", "before", "after"]))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


def same_exactly(a: Any, b: Any) -> bool:
    """Equal, of the same type, and for floats and decimals the same bits or digits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, decimal.Decimal):
        return bool(a.as_tuple() == b.as_tuple())
    if isinstance(a, dt.datetime | dt.time):
        return bool(a == b and a.utcoffset() == b.utcoffset())
    if isinstance(a, list):
        return len(a) == len(b) and all(same_exactly(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_exactly(a[k], b[k]) for k in a)
    return bool(a == b)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
def test_values_round_trip_exactly_through_streams_and_documents(
    tmp_path: Path, value: Any
) -> None:
    assert same_exactly(decode(encode(value)), value)
    journal = Journal(tmp_path)
    journal.append("values", {"v": value})
    *_, last = journal.records("values")
    assert same_exactly(last["v"], value)
    name = uuid.uuid4().hex
    journal.write_document("values", name, {"v": value})
    assert same_exactly(journal.read_document("values", name)["v"], value)


def test_known_values_round_trip() -> None:
    row = {
        "at": dt.datetime(2026, 3, 1, 9, 30, 0, 123456),
        "aware": dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "day": dt.date(2026, 3, 1),
        "price": decimal.Decimal("10.50"),
        "big": decimal.Decimal("1E+30"),
        "blob": b"\x00\xff",
        "ratio": 0.1,
        "nan": float("nan"),
        "json": {"$wfsdk": "datetime", "value": "not a date, just data"},
        "text": "déjà vu ✓",
    }
    assert same_exactly(decode(encode(row)), row)


@pytest.mark.parametrize("unnamed_files", [True, False])
def test_documents_are_whole_and_never_replaced_with_or_without_unnamed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unnamed_files: bool
) -> None:
    # Without O_TMPFILE (other systems, some filesystems) a temporary name is used instead.
    from wfsdk import journal as journal_module

    if not unnamed_files:
        monkeypatch.setattr(journal_module, "_TMPFILE", None)
    journal = Journal(tmp_path)
    for sync in (True, False):
        name = f"doc-{str(sync).lower()}"
        path = journal.write_document("kind", name, {"value": [1, "two"]}, sync=sync)
        assert journal.read_document("kind", name) == {"value": [1, "two"]}
        with pytest.raises(JournalError, match="never replaced"):
            journal.write_document("kind", name, {"value": "other"}, sync=sync)
        assert journal.read_document("kind", name) == {"value": [1, "two"]}
        assert path.stat().st_mode & 0o777 == 0o600  # as mkstemp makes them
    journal.sync()
    # No temporary file is ever left behind.
    assert sorted(p.name for p in (tmp_path / "kind").iterdir()) == [
        "doc-false.json",
        "doc-true.json",
    ]
