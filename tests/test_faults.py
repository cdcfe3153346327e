"""Crash safety and faults: a writer killed anywhere, lost connections, timeouts, the contract.

A writer process is killed with SIGKILL at a point of the write path that
Hypothesis picks (``wfsdk.faults``): the database then holds the whole change
or none of it, and the journal never claims more than the database holds. The
connection dropped mid-transaction, the server stopped and restarted, and a
statement timeout each give the caller a clear error, reach ``on_error``,
change nothing, and leave the next call working. The contract is read from
disk afresh at every check.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wfsdk_backup
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from policy_support import POLICIES

import wfsdk
from wfsdk import errors, faults
from wfsdk.demo import data
from wfsdk.journal import Journal
from wfsdk.values import Declaration, Vote, WriteIntent

from kernel_support import SHIPPED_CONTRACT, Recorder, Voter, checksum, raw, run_child
from pgcluster import HARNESS_APPLICATION_NAME, PgCluster

TESTS = Path(__file__).resolve().parent
TABLE = "post_workflow_stage"
HOST = Declaration(module="host", reads={TABLE}, writes={TABLE: {"status"}})
RULES = """
[[rule]]
name = "crash tests"
actors = ["writer", "restorer"]
tables = ["post_workflow_stage"]
operations = ["update"]
columns = ["status"]
"""
# Post 1 has two status rows (stages 1 and 2): one write changes both, or neither.
UPDATE = "UPDATE post_workflow_stage SET status = %s WHERE post_id = %s"
COMMITTED_AT = frozenset({"after_commit", "after_after_write"})


@pytest.fixture
def demo_pg(pg_url: str) -> str:
    data.build(pg_url).dispose()
    return pg_url


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    monkeypatch.setenv("WFSDK_APPROVAL_MODE", "rules")
    monkeypatch.setenv("WFSDK_APPROVAL_RULES", str(path))
    return path


def statuses(url: str, post_id: int) -> list[str]:
    rows = raw(url, f"SELECT status FROM {TABLE} WHERE post_id = :p ORDER BY id", {"p": post_id})
    return [str(r[0]) for r in rows]


def put_back(url: str, post_id: int, wanted: list[str]) -> None:
    """Fixture work, outside wfsdk: the post's status rows as they were."""
    ids = [
        r[0]
        for r in raw(url, f"SELECT id FROM {TABLE} WHERE post_id = :p ORDER BY id", {"p": post_id})
    ]
    for row_id, status in zip(ids, wanted, strict=True):
        raw(url, f"UPDATE {TABLE} SET status = :s WHERE id = :i", {"s": status, "i": row_id})


def records(journal: Journal, stream: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in journal.records(stream) if all(r.get(k) == v for k, v in match.items())]


# -- a writer killed at any point of the write path -------------------------------------


def child(argv: list[str]) -> None:
    """The writer process: one guarded write with every policy plugin on, then exit 0.

    Armed by ``WFSDK_FAULT_POINT``, it never gets to the end.
    """
    url, state, status, post_id = argv
    with wfsdk.connect(
        url, contract=SHIPPED_CONTRACT, plugins=POLICIES, host_access=HOST, state_dir=state
    ) as kernel:
        kernel.execute_query(UPDATE, (status, int(post_id)), actor="writer", reason="crash test")
    print("survived")


def run_writer(url: str, state: Path, status: str, post_id: int, point: str | None) -> int:
    return run_child("test_faults", [url, str(state), status, str(post_id)], point)


def the_vote(journal: Journal) -> str | None:
    """The change id of the one write the journal heard of (its approval is recorded first)."""
    votes = records(journal, "approvals")
    assert len(votes) <= 1, votes
    return str(votes[0]["change_id"]) if votes else None


_examples = itertools.count()
# PostgreSQL text holds no NUL; the status column is VARCHAR(32); the journal holds the rest.
new_statuses = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), min_size=1, max_size=20
)


@settings(
    # Every point once (the explicit examples), then a few of Hypothesis's own choosing.
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(point=st.sampled_from(faults.POINTS), status=new_statuses)
@example(point="after_preview", status="one")
@example(point="after_votes", status="two")
@example(point="after_lock", status="three")
@example(point="after_before_commit", status="four")
@example(point="after_execute", status="five")
@example(point="after_verify", status="six")
@example(point="after_commit", status="seven")
@example(point="after_after_write", status="eight")
def test_a_writer_killed_anywhere_leaves_all_or_nothing(
    demo_pg: str, rules: Path, tmp_path: Path, point: str, status: str
) -> None:
    url = demo_pg
    before = statuses(url, 1)
    if status in before:
        status += "!"
    state = tmp_path / f"killed-{next(_examples)}"
    assert run_writer(url, state, status, 1, point) == -signal.SIGKILL

    after = statuses(url, 1)
    committed = point in COMMITTED_AT
    assert after == ([status] * len(before) if committed else before), (point, after)

    journal = Journal(state)
    change_id = the_vote(journal)
    if point == "after_preview":
        # Killed before the vote: nothing at all was recorded, and nothing needs to be.
        assert change_id is None
        assert not journal.documents("backups") and not records(journal, "audit", kind="change")
    else:
        assert change_id is not None
        audited = records(journal, "audit", kind="change", change_id=change_id)
        backup = (
            wfsdk_backup.load_backup(journal, change_id)
            if change_id in journal.documents("backups")
            else None
        )
        if committed:
            # Whatever the journal lost with the writer, the rows before the change are on disk.
            assert backup is not None
            assert [r.before["status"] for r in backup.rows if r.before] == before
        else:
            assert not audited
            assert backup is None or backup.status != wfsdk_backup.COMMITTED
        if point == "after_after_write":
            assert len(audited) == 1 and backup is not None
            assert backup.status == wfsdk_backup.COMMITTED

    # The next start: nothing is repaired or restored by itself, and writing works again.
    with wfsdk.connect(
        url, contract=SHIPPED_CONTRACT, plugins=POLICIES, host_access=HOST, state_dir=state
    ) as kernel:
        assert statuses(url, 1) == after
        if committed:
            assert change_id is not None
            wfsdk_backup.restore(kernel, change_id, actor="restorer")
            assert statuses(url, 1) == before
        else:
            again = kernel.execute_query(UPDATE, (status, 1), actor="writer", reason="again")
            assert again.change is not None
    put_back(url, 1, before)


def test_every_point_is_reached_by_a_committing_write(
    demo_pg: str, rules: Path, tmp_path: Path
) -> None:
    # Unarmed, the same writer commits: so an armed one dies at its point, never before it.
    assert run_writer(demo_pg, tmp_path / "state", "review", 1, None) == 0
    assert statuses(demo_pg, 1) == ["review", "review"]


@pytest.mark.parametrize(
    ("point", "expected"),
    [("after_before_commit", wfsdk_backup.ROLLED_BACK), ("after_commit", wfsdk_backup.COMMITTED)],
)
def test_the_next_start_settles_backups_of_a_killed_writer(
    demo_pg: str, rules: Path, tmp_path: Path, point: str, expected: str
) -> None:
    state = tmp_path / "state"
    before = statuses(demo_pg, 1)
    assert run_writer(demo_pg, state, "review", 1, point) == -signal.SIGKILL
    for _ in range(2):  # the second start finds nothing left to settle
        with wfsdk.connect(
            demo_pg, contract=SHIPPED_CONTRACT, plugins=POLICIES, host_access=HOST, state_dir=state
        ) as kernel:
            kernel.execute_query(f"SELECT status FROM {TABLE} WHERE post_id = %s", (1,))
            journal = kernel.journal
            change_id = the_vote(journal)
            assert change_id is not None
            backup = wfsdk_backup.load_backup(journal, change_id)
            assert backup.status == expected
            assert [h["status"] for h in backup.history] == [wfsdk_backup.PREPARED, expected]
            audited = records(journal, "audit", kind="change", change_id=change_id)
            if expected == wfsdk_backup.COMMITTED:
                (change,) = audited
                assert change["recovered"] is True
                assert [r["after"]["status"] for r in change["rows"]] == ["review", "review"]
            else:
                assert audited == []
    # Settled, never restored: the rows are what the killed writer left.
    assert statuses(demo_pg, 1) == (
        ["review", "review"] if expected == wfsdk_backup.COMMITTED else before
    )


# -- the connection dropped, the server restarted, a statement timed out -----------------


def open_kernel(url: str, *plugins: object, **kw: Any) -> wfsdk.Kernel:
    kw.setdefault("contract", SHIPPED_CONTRACT)
    return wfsdk.connect(
        url,
        plugins=kw.pop("policies", []),
        extra_plugins=list(plugins),
        host_access=HOST,
        **kw,
    )


def terminate_backends(cluster: PgCluster, url: str) -> int:
    """End every session of the test's database except the harness's own: a dropped connection."""
    dbname = url.rsplit("/", 1)[1].split("?", 1)[0]
    rows = cluster.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid() "
        f"AND application_name <> '{HARNESS_APPLICATION_NAME}'"
    )
    return int(rows[0][0])


class Dropper:
    """Drops the kernel's connection inside the write transaction, once the backup is made."""

    def __init__(self, cluster: PgCluster, url: str) -> None:
        self.cluster = cluster
        self.url = url
        self.armed = True

    @wfsdk.hookimpl(trylast=True)
    def before_commit(self, intent: WriteIntent) -> None:
        if self.armed:
            self.armed = False
            assert terminate_backends(self.cluster, self.url) >= 1


def test_connection_dropped_mid_transaction(
    demo_pg: str, pg_cluster: PgCluster, rules: Path, tmp_path: Path
) -> None:
    recorder = Recorder()
    before = checksum(demo_pg, [TABLE])
    state = tmp_path / "state"
    kernel = open_kernel(
        demo_pg, recorder, Dropper(pg_cluster, demo_pg), policies=POLICIES, state_dir=state
    )
    with kernel:
        with pytest.raises(errors.DatabaseError, match=r"terminat|closed|connection") as raised:
            kernel.execute_query(UPDATE, ("review", 1), actor="writer", reason="dropped")
        assert "nothing was changed" in str(raised.value)
        assert checksum(demo_pg, [TABLE]) == before
        assert any(e.phase == "write" and e.error_type for e in recorder.errors)
        ((intent, _why),) = recorder.rollbacks
        backup = wfsdk_backup.load_backup(kernel.journal, intent.change_id)
        assert backup.status == wfsdk_backup.ROLLED_BACK
        # The next call gets a new connection and works.
        result = kernel.execute_query(UPDATE, ("review", 1), actor="writer", reason="again")
        assert result.change is not None and statuses(demo_pg, 1) == ["review", "review"]


def test_idle_pooled_connection_dropped_between_calls(demo_pg: str, pg_cluster: PgCluster) -> None:
    recorder = Recorder()
    with open_kernel(demo_pg, recorder) as kernel:
        assert len(kernel.execute_query(f"SELECT id FROM {TABLE}")) == 3
        assert terminate_backends(pg_cluster, demo_pg) >= 1
        with pytest.raises(errors.DatabaseError):
            kernel.execute_query(f"SELECT id FROM {TABLE}")
        assert recorder.errors[-1].phase == "read"
        assert len(kernel.execute_query(f"SELECT id FROM {TABLE}")) == 3


@pytest.fixture
def restartable(pg_cluster: PgCluster) -> Iterator[PgCluster]:
    yield pg_cluster
    # Whatever the test did, the suite's server runs again afterwards.
    pg_cluster.start()


def test_server_stopped_and_restarted(demo_pg: str, restartable: PgCluster) -> None:
    cluster = restartable
    recorder = Recorder()
    before = checksum(demo_pg, [TABLE])
    with open_kernel(demo_pg, recorder, Voter(Vote.allow())) as kernel:
        assert len(kernel.execute_query(f"SELECT id FROM {TABLE}")) == 3
        cluster.stop()
        for attempt in (
            lambda: kernel.execute_query(f"SELECT id FROM {TABLE}"),
            lambda: kernel.execute_query(UPDATE, ("review", 1), actor="writer", reason="down"),
            lambda: kernel.execute_query(f"SELECT id FROM {TABLE}"),
        ):
            with pytest.raises(errors.DatabaseError, match="nothing was changed"):
                attempt()
        assert len(recorder.errors) >= 3
        cluster.start()
        assert checksum(demo_pg, [TABLE]) == before
        assert len(kernel.execute_query(f"SELECT id FROM {TABLE}")) == 3
        # A restart between two calls: the pooled connection is stale, so one clear error,
        # then the next call connects afresh.
        cluster.restart()
        with pytest.raises(errors.DatabaseError):
            kernel.execute_query(f"SELECT id FROM {TABLE}")
        result = kernel.execute_query(UPDATE, ("review", 1), actor="writer", reason="back")
        assert result.change is not None
    assert statuses(demo_pg, 1) == ["review", "review"]


SLOW_READ = (
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000000000) "
    "SELECT count(*) AS c FROM r"
)


def test_statement_timeout(demo_pg: str, pg_cluster: PgCluster) -> None:
    recorder = Recorder()
    # The host sets the timeout the usual way, in the connection options.
    url = f"{demo_pg}?options=-c%20statement_timeout%3D300"
    before = checksum(demo_pg, [TABLE])
    with open_kernel(url, recorder, Voter(Vote.allow())) as kernel:
        with pytest.raises(errors.DatabaseError, match="statement timeout"):
            kernel.execute_query(SLOW_READ)
        assert recorder.errors[-1].phase == "read"
        # A write waiting on a row another session holds times out too, and changes nothing.
        dbname = demo_pg.rsplit("/", 1)[1]
        with pg_cluster.connect(dbname) as other:
            other.execute("BEGIN")
            other.execute(f"SELECT id FROM {TABLE} WHERE post_id = 1 FOR UPDATE")
            with pytest.raises(errors.DatabaseError, match="statement timeout"):
                kernel.execute_query(UPDATE, ("review", 1), actor="writer", reason="blocked")
            other.execute("ROLLBACK")
        assert recorder.errors[-1].transaction_state == "rolled back"
        assert checksum(demo_pg, [TABLE]) == before
        assert kernel.execute_query(UPDATE, ("review", 1), actor="writer", reason="free").change
    assert statuses(demo_pg, 1) == ["review", "review"]


# -- the contract changes on disk while the host runs ------------------------------------


def test_a_contract_changed_on_disk_is_seen_by_the_next_check(demo_pg: str, tmp_path: Path) -> None:
    contract = tmp_path / "schema.md"
    shipped = SHIPPED_CONTRACT.read_text()
    contract.write_text(shipped)
    read = f"SELECT id, status FROM {TABLE} WHERE post_id = %s"
    with open_kernel(demo_pg, contract=contract) as kernel:
        assert len(kernel.execute_query(read, (1,))) == 2  # vetted once, then remembered
        # A column dropped from the document: the next check still matches the database
        # (extra live columns are information), but statements naming it are refused now.
        contract.write_text(
            shipped.replace("| status | VARCHAR(32) | YES | | Stage status of the post |\n", "")
        )
        report = kernel.check_schema()
        assert report.ok
        with pytest.raises(errors.UnknownColumnError, match="status"):
            kernel.execute_query(read, (1,))
        # Put back, it is accepted again; then a type the database does not have stops it all.
        contract.write_text(shipped)
        assert kernel.check_schema().ok
        assert len(kernel.execute_query(read, (1,))) == 2
        contract.write_text(shipped.replace("| status | VARCHAR(32) |", "| status | INTEGER |"))
        with pytest.raises(errors.SchemaMismatchError):
            kernel.check_schema()
        with pytest.raises(errors.SchemaMismatchError):
            kernel.execute_query(read, (1,))
