"""wfsdk-audit and the kernel's redeliveries: one 'change' record per change; redaction kept.

The hooks are called directly with journal objects and the values the kernel
would pass, the way its start-up recovery calls them; the last test kills a
real writer and lets the next ``connect`` deliver what it missed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import wfsdk_audit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_support import build_demo, count_stream_reads, kill_writer, open_kernel, records

from wfsdk.journal import Journal
from wfsdk.redact import MASK, is_secret_name
from wfsdk.testing import strategies as wst
from wfsdk.values import ChangeRecord, ErrorEvent, Operation, Receipt, RowChange, Vote

from kernel_support import Voter

TESTS = Path(__file__).resolve().parents[3] / "tests"


def a_change(change_id: str = "18ee2821aa-4ecf-c0ff802d", **kw: Any) -> ChangeRecord:
    before = {"id": 2, "status": "in_progress", "started_at": dt.datetime(2025, 7, 1, 10)}
    fields: dict[str, Any] = {
        "change_id": change_id,
        "caller": "host",
        "actor": "ann",
        "reason": "ready",
        "table": "post_workflow_stage",
        "operation": Operation.UPDATE,
        "statement": "UPDATE post_workflow_stage SET status = :v0 WHERE id = :k0",
        "rows": (RowChange(key={"id": 2}, before=before, after={**before, "status": "review"}),),
        "votes": (Vote.allow("ok", voter="approver"),),
        "receipts": (Receipt(plugin="wfsdk-backup", kind="backup", reference=change_id),),
        "committed_at": "2026-03-01T12:00:00+00:00",
    }
    fields.update(kw)
    return ChangeRecord(**fields)


def recovered(change: ChangeRecord) -> ChangeRecord:
    """The same change as the next start delivers it: no receipts, ``recovered`` set."""
    return attrs.evolve(
        change, receipts=(), committed_at="2026-03-01T12:05:00+00:00", recovered=True
    )


def changes(journal: Journal, change_id: str) -> list[dict[str, Any]]:
    return records(journal, "audit", kind="change", change_id=change_id)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "state")


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return count_stream_reads(monkeypatch)


# -- changes are written at once, not fsynced one by one; the rest still is ---------------


def test_a_change_is_left_for_the_journal_to_sync_and_errors_are_fsynced(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal.directory.mkdir()
    synced: list[int] = []
    real_fsync = os.fsync

    def counting(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting)
    wfsdk_audit.after_write(a_change(), journal)
    assert synced == []
    assert len(changes(journal, a_change().change_id)) == 1  # on disk at once
    wfsdk_audit.on_error(
        ErrorEvent(error_type="RuntimeError", message="boom", phase="write"), journal
    )
    assert len(synced) == 1
    journal.sync()
    assert len(synced) >= 2


# -- a change delivered again ----------------------------------------------------------


def test_a_redelivered_change_already_recorded_adds_nothing(journal: Journal) -> None:
    change = a_change()
    wfsdk_audit.after_write(change, journal)
    before = journal.stream_path("audit").read_bytes()
    for _ in range(3):
        wfsdk_audit.after_write(recovered(change), journal)
    assert journal.stream_path("audit").read_bytes() == before


def test_a_redelivered_change_missing_from_the_log_is_recorded_once(journal: Journal) -> None:
    change = a_change()
    for _ in range(3):
        wfsdk_audit.after_write(recovered(change), journal)
    (record,) = changes(journal, change.change_id)
    assert record["recovered"] is True and record["receipts"] == []
    assert record["backup_id"] is None
    assert record["rows"][0]["changed"] == ["status"]
    assert record["votes"] == [{"voter": "approver", "decision": "allow", "reason": "ok"}]


def test_only_change_records_count_as_holding_a_change(journal: Journal) -> None:
    change = a_change()
    # An error naming the change is not its change record.
    wfsdk_audit.on_error(
        ErrorEvent(
            error_type="PluginHookError",
            message="x",
            phase="after_write",
            change_id=change.change_id,
        ),
        journal,
    )
    wfsdk_audit.after_write(recovered(change), journal)
    assert len(changes(journal, change.change_id)) == 1


def test_redeliveries_read_the_log_once_and_normal_writes_never(
    journal: Journal, counted_reads: list[str]
) -> None:
    for n in range(5):
        wfsdk_audit.after_write(a_change(f"18ee2821{n:02x}-4ecf-c0ff802d"), journal)
    assert counted_reads == []
    for n in range(8):
        wfsdk_audit.after_write(recovered(a_change(f"18ee2821{n:02x}-4ecf-c0ff802d")), journal)
    assert counted_reads == ["audit"]
    for n in range(8):
        assert len(changes(journal, f"18ee2821{n:02x}-4ecf-c0ff802d")) == 1


def test_a_change_another_process_recorded_meanwhile_is_seen(journal: Journal) -> None:
    first, second = a_change("18ee282101-4ecf-c0ff802d"), a_change("18ee282102-4ecf-c0ff802d")
    wfsdk_audit.after_write(recovered(first), journal)
    wfsdk_audit.after_write(second, Journal(journal.directory))  # another process, meanwhile
    wfsdk_audit.after_write(recovered(second), journal)
    assert len(changes(journal, second.change_id)) == 1


def test_a_damaged_log_records_the_redelivered_change_anyway(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    change = a_change()
    wfsdk_audit.after_write(a_change("18ee2821ff-4ecf-c0ff802d"), journal)
    path = journal.stream_path("audit")
    path.write_bytes(b"{broken\n" + path.read_bytes())
    wfsdk_audit.after_write(recovered(change), journal)
    assert path.read_bytes().count(change.change_id.encode()) == 1
    assert any("unreadable" in r.getMessage() for r in caplog.records if r.name == "wfsdk.audit")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    change=wst.change_records(),
    heard=st.booleans(),
    times=st.integers(min_value=1, max_value=3),
    others=st.lists(st.integers(min_value=0, max_value=50), max_size=5),
)
def test_any_redeliveries_leave_exactly_one_change_record(
    change: ChangeRecord, heard: bool, times: int, others: list[int]
) -> None:
    change = attrs.evolve(change, recovered=False)  # the first delivery, from the writer
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(tmp)
        for n in others:  # other changes around it, some redelivered too
            wfsdk_audit.after_write(a_change(f"other-{n}"), journal)
        if heard:
            wfsdk_audit.after_write(change, journal)
        for _ in range(times):
            wfsdk_audit.after_write(recovered(change), journal)
            wfsdk_audit.after_write(recovered(a_change("other-0")), journal)
        mine = changes(journal, change.change_id)
        assert len(mine) == 1
        assert bool(mine[0].get("recovered")) is not heard


# -- redaction: as strict as before, and cheaper -----------------------------------------

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@/\s]+(?=@)", re.I)
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?:'[^']*'|\S+)", re.I)


def reference_redact(value: Any) -> Any:
    """wfsdk-audit's redaction as it was first written: every text searched, every key."""
    if isinstance(value, str):
        value = _URL_PASSWORD.sub(rf"\g<head>{MASK}", value)
        return _KEYWORD_PASSWORD.sub(rf"\g<head>{MASK}", value)
    if isinstance(value, Mapping):
        return {
            str(k): MASK if is_secret_name(str(k)) and v is not None else reference_redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [reference_redact(v) for v in value]
    return value


SECRETISH_TEXT = st.one_of(
    st.text(max_size=40),
    st.builds(
        "{}{}://{}:{}@{}{}".format,
        st.text(max_size=8),
        st.sampled_from(["postgresql", "postgresql+psycopg", "https", "x"]),
        st.text(alphabet="abc:/@ ", max_size=6),
        st.text(max_size=8),
        st.text(max_size=8),
        st.text(max_size=8),
    ),
    st.builds(
        "{}{}{}={}{}".format,
        st.text(max_size=8),
        st.sampled_from(["password", "PassWord", "xpassword", "password "]),
        st.sampled_from(["", " ", "\t"]),
        st.sampled_from(["'s e c'", "hunter2", "", " x"]),
        st.text(max_size=8),
    ),
)
NESTED = st.recursive(
    st.one_of(SECRETISH_TEXT, wst.column_values()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.one_of(wst.column_names(), SECRETISH_TEXT), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=NESTED)
def test_redaction_masks_exactly_what_it_always_did(value: Any) -> None:
    assert repr(wfsdk_audit.redact(value)) == repr(reference_redact(value))


def test_redaction_still_masks_the_examples_of_the_documentation() -> None:
    assert wfsdk_audit.redact({"auth_token": "t", "password": None, "x": 1}) == {
        "auth_token": "***",
        "password": None,
        "x": 1,
    }
    assert wfsdk_audit.redact("host=db password='s e c' user=x") == "host=db password=*** user=x"
    assert wfsdk_audit.redact(("postgresql+psycopg://u:p%40ss@h:5432/d", b"x")) == [
        "postgresql+psycopg://u:***@h:5432/d",
        b"x",
    ]


def test_a_change_with_credentials_is_masked(journal: Journal) -> None:
    row = RowChange(
        key={"id": 1},
        before={"api_key": "sk-old", "note": "see postgresql://bob:hunter2@db/blog"},
        after={"api_key": "sk-new", "note": "password=swordfish"},
    )
    wfsdk_audit.after_write(recovered(a_change(rows=(row,))), journal)
    text = journal.stream_path("audit").read_text()
    for secret in ("sk-old", "sk-new", "hunter2", "swordfish"):
        assert secret not in text
    (record,) = records(journal, "audit", kind="change")
    assert record["rows"][0]["before"] == {
        "api_key": MASK,
        "note": "see postgresql://bob:***@db/blog",
    }


# -- a real writer killed, and the next start --------------------------------------------


@pytest.mark.parametrize(
    ("point", "committed"), [("after_before_commit", False), ("after_commit", True)]
)
def test_the_next_start_records_the_change_of_a_killed_writer_once(
    db_url: str, tmp_path: Path, point: str, committed: bool
) -> None:
    contract = build_demo(db_url, tmp_path)
    state = tmp_path / "killed"
    kill_writer(db_url, contract, state, "wfsdk-audit", point)
    journal = Journal(state)
    assert not records(journal, "audit", kind="change")
    for _ in range(2):  # the second start has nothing left to deliver
        with open_kernel(
            db_url, contract, plugins=["wfsdk-audit"], extra=[Voter(Vote.allow())], state_dir=state
        ):
            pass
    audited = records(journal, "audit", kind="change")
    if committed:
        (record,) = audited
        assert record["recovered"] is True and record["actor"] == "a"
        assert record["rows"][0]["after"]["status"] == "x"
    else:
        assert audited == []
