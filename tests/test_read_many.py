"""Several guarded reads in one read-only transaction: ``Gateway.reading()`` and its users.

Proofs run on real databases: the PostgreSQL server's own statement log and
``pg_stat_activity`` show one transaction on one backend; a change committed by
another connection between two reads of a block stays invisible to the block (one
snapshot), on PostgreSQL and on SQLite; on SQLite without WAL, a writer cannot even
commit while the block is open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsdk
from wfsdk import errors
from wfsdk.demo import data
from wfsdk.modules.core import CoreApi
from wfsdk.modules.llm import LlmApi
from wfsdk.modules.workflow import (
    WorkflowApi,
    WorkflowTree,
    build_tree,
)
from wfsdk.values import Declaration, ReadEvent

from conftest import PgLog
from kernel_support import SHIPPED_CONTRACT, Recorder, raw
from pgcluster import HARNESS_APPLICATION_NAME

# The statements tree() sends, word for word.
STAGES = (
    "SELECT id, name, description, stage_order FROM workflow_stage_entity ORDER BY stage_order, id"
)
SUB_STAGES = (
    "SELECT id, stage_id, name, description, sub_stage_order "
    "FROM workflow_sub_stage_entity ORDER BY sub_stage_order, id"
)
STEPS = (
    "SELECT st.id, st.sub_stage_id, st.name, st.description, st.step_order, st.config, "
    "st.field_name, st.order_index FROM workflow_step_entity AS st ORDER BY st.step_order, st.id"
)
TREE_TABLES = ["workflow_stage_entity", "workflow_sub_stage_entity", "workflow_step_entity"]
# What the host may read in these tests: not llm_provider, so that an access refusal exists.
HOST = Declaration(
    module="host",
    reads=frozenset(
        {*TREE_TABLES, "post", "post_development", "post_workflow_stage", "llm_action"}
    ),
)


@pytest.fixture
def demo_url(db_url: str) -> str:
    data.build(db_url).dispose()
    return db_url


def open_kernel(target: Any, *plugins: object, **kw: Any) -> wfsdk.Kernel:
    kw.setdefault("host_access", HOST)
    return wfsdk.connect(
        target, plugins=[], contract=SHIPPED_CONTRACT, extra_plugins=list(plugins), **kw
    )


def checked_out(kernel: wfsdk.Kernel) -> int:
    """Connections of the kernel's pool in use right now (the pool, reached on purpose)."""
    return int(kernel._target.engine.pool.checkedout())  # type: ignore[attr-defined]


def dbname(url: str) -> str:
    return url.rsplit("/", 1)[1]


def conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def tree_in_three_transactions(read: Callable[[str], Sequence[Mapping[str, Any]]]) -> WorkflowTree:
    """The tree as ``tree()`` built it before: three reads, each its own transaction."""
    return build_tree(read(STAGES), read(SUB_STAGES), read(STEPS))


def transactions_in_log(pg_log: PgLog, url: str) -> list[tuple[int, str]]:
    """(backend pid, statement) of everything the code under test sent to this database."""
    return [
        (entry.pid, entry.statement)
        for entry in pg_log.entries()
        if entry.statement is not None and entry.database == dbname(url)
    ]


def kinds(sent: list[tuple[int, str]]) -> list[str]:
    """Each statement reduced to its first word (BEGIN, SELECT, COMMIT, ROLLBACK)."""
    return [sql.split(None, 1)[0].upper() for _, sql in sent]


# -- the same results ----------------------------------------------------------------------


def test_tree_equals_the_tree_of_three_transactions(demo_url: str) -> None:
    recorder = Recorder()
    with open_kernel(demo_url, recorder) as kernel:
        tree = kernel.api(WorkflowApi).tree()
        assert len(recorder.reads) == 3
        assert tree == tree_in_three_transactions(kernel.host.read)
    assert [e.tables for e in recorder.reads[:3]] == [{t} for t in TREE_TABLES]
    assert all(e.caller == "workflow" for e in recorder.reads[:3])
    assert [e.statement for e in recorder.reads[:3]] == [STAGES, SUB_STAGES, STEPS]


def test_tree_of_the_blog_dump_equals_the_tree_of_three_transactions(
    blog_url: str, pg_log: PgLog
) -> None:
    with open_kernel(blog_url, host_access=None) as kernel:
        pg_log.mark()
        tree = kernel.api(WorkflowApi).tree()
        sent = transactions_in_log(pg_log, blog_url)
        assert tree == tree_in_three_transactions(kernel.host.read)
    assert tree.steps() and kinds(sent) == ["BEGIN", "SELECT", "SELECT", "SELECT", "COMMIT"]


def test_reads_in_a_block_return_what_single_reads_return(demo_url: str) -> None:
    statements: list[tuple[str, Any]] = [
        ("SELECT id, title FROM post ORDER BY id", None),
        ("SELECT id, name FROM workflow_sub_stage_entity WHERE stage_id = %s ORDER BY id", (1,)),
        ("SELECT id FROM workflow_step_entity WHERE sub_stage_id = :sub ORDER BY id", {"sub": 2}),
        ("SELECT id FROM post WHERE id = %(id)s", {"id": 99}),
    ]
    with open_kernel(demo_url) as kernel:
        single = [kernel.host.read(sql, params) for sql, params in statements]
        with kernel.host.reading() as reads:
            together = [reads.read(sql, params) for sql, params in statements]
            assert checked_out(kernel) == 1
        assert checked_out(kernel) == 0
    assert together == single and together[0] and together[-1] == ()


# -- one transaction -------------------------------------------------------------------------


def test_the_tree_is_one_transaction_on_the_server(pg_url: str, pg_log: PgLog) -> None:
    data.build(pg_url).dispose()
    with open_kernel(pg_url) as kernel:
        workflow = kernel.api(WorkflowApi)
        workflow.tree()  # statements prepared, caches warm: the steady state
        pg_log.mark()
        workflow.tree()
        sent = transactions_in_log(pg_log, pg_url)
    assert kinds(sent) == ["BEGIN", "SELECT", "SELECT", "SELECT", "COMMIT"], sent
    assert sent[0][1] == "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    assert len({pid for pid, _ in sent}) == 1  # one backend: one pooled connection


class ActivityProbe:
    """At every read, what ``pg_stat_activity`` says about the other backends of the database."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(
            conninfo(url), autocommit=True, application_name=HARNESS_APPLICATION_NAME
        )
        self.seen: list[list[tuple[Any, ...]]] = []

    @wfsdk.hookimpl
    def on_read(self, event: ReadEvent) -> None:
        rows = self.conn.execute(
            "SELECT pid, state, xact_start FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state LIKE 'idle in transaction%'"
        ).fetchall()
        self.seen.append([tuple(r) for r in rows])


def test_every_read_of_the_tree_sees_the_same_open_transaction(pg_url: str) -> None:
    data.build(pg_url).dispose()
    probe = ActivityProbe(pg_url)
    try:
        with open_kernel(pg_url, probe) as kernel:
            kernel.api(WorkflowApi).tree()
            during = list(probe.seen)
            kernel.host.read(STAGES)  # a single read: observed after its commit
            after = probe.seen[-1]
    finally:
        probe.conn.close()
    assert len(during) == 3
    assert all(len(rows) == 1 for rows in during), during
    assert len({rows[0] for rows in during}) == 1  # same backend, same xact_start
    assert after == []


@pytest.mark.parametrize(
    ("api", "call", "selects"),
    [
        (CoreApi, lambda a: a.problems(), 2),
        (WorkflowApi, lambda a: a.problems(), 14),
        (LlmApi, lambda a: a.actions(), 3),
        (LlmApi, lambda a: a.action(1), 3),
        (LlmApi, lambda a: a.render_prompt(1, 1), 2),
    ],
    ids=["core.problems", "workflow.problems", "llm.actions", "llm.action", "llm.render_prompt"],
)
def test_module_answers_made_of_several_reads_are_one_transaction(
    pg_url: str, pg_log: PgLog, api: type[Any], call: Callable[[Any], object], selects: int
) -> None:
    data.build(pg_url).dispose()
    recorder = Recorder()
    with open_kernel(pg_url, recorder, host_access=None) as kernel:
        pg_log.mark()
        call(kernel.api(api))
        sent = transactions_in_log(pg_log, pg_url)
    assert kinds(sent) == ["BEGIN", *["SELECT"] * selects, "COMMIT"], sent
    assert len(recorder.reads) == selects and not recorder.errors


def test_save_output_checks_in_one_transaction_before_its_write(pg_url: str, pg_log: PgLog) -> None:
    data.build(pg_url).dispose()
    with open_kernel(pg_url, host_access=None) as kernel:
        pg_log.mark()
        result = kernel.api(LlmApi).save_output(1, 1, "text", actor="a", reason="r", dry_run=True)
        sent = transactions_in_log(pg_log, pg_url)
        assert checked_out(kernel) == 0
    assert result.preview is not None and result.preview.rows
    # The action and the post's row in one transaction; then the preview in its own.
    assert kinds(sent)[:4] == ["BEGIN", "SELECT", "SELECT", "COMMIT"], sent
    assert any('FROM "post_development"' in sql for _, sql in sent[4:]), sent


# -- one snapshot ------------------------------------------------------------------------------


class WriterBetweenReads:
    """After the first read, another connection commits a change (fixture work, outside wfsdk)."""

    def __init__(self, write: Callable[[], None]) -> None:
        self.write = write
        self.armed = False
        self.failure: BaseException | None = None

    @wfsdk.hookimpl
    def on_read(self, event: ReadEvent) -> None:
        if self.armed:
            self.armed = False
            try:
                self.write()
            except Exception as exc:  # what the writer met is the finding
                self.failure = exc


def add_sub_stage_and_step(url: str) -> None:
    raw(
        url,
        "INSERT INTO workflow_sub_stage_entity (id, stage_id, name, sub_stage_order) "
        "VALUES (90, 1, 'Added meanwhile', 9)",
    )
    raw(
        url,
        "INSERT INTO workflow_step_entity (id, sub_stage_id, name, step_order, config) "
        "VALUES (900, 90, 'Added meanwhile', 1, '{}')",
    )


def kernel_targets(url: str) -> dict[str, Callable[[], Any]]:
    """The ways a host hands wfsdk its database: each takes a different path to the driver."""

    def instrumented() -> sa.Engine:
        engine = sa.create_engine(url)
        sa.event.listen(engine, "after_cursor_execute", lambda *_: None)
        return engine

    targets: dict[str, Callable[[], Any]] = {
        "dsn": lambda: url,
        "host engine": lambda: sa.create_engine(url),
        "instrumented host engine": instrumented,
    }
    if url.startswith("postgresql"):
        targets["autocommit factory"] = lambda: (
            lambda: psycopg.connect(conninfo(url), autocommit=True)
        )
        targets["serializable host engine"] = lambda: sa.create_engine(
            url, isolation_level="SERIALIZABLE"
        )
    return targets


def tree_while_a_writer_commits(url: str, kind: str) -> None:
    if url.startswith("sqlite"):
        # WAL lets a writer commit while a reader is open; the reader keeps its snapshot.
        with sqlite3.connect(sqlite_path(url)) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
    writer = WriterBetweenReads(lambda: add_sub_stage_and_step(url))
    target = kernel_targets(url)[kind]()
    try:
        with open_kernel(target, writer) as kernel:
            workflow = kernel.api(WorkflowApi)
            before = workflow.tree()
            writer.armed = True
            during = workflow.tree()
            after = workflow.tree()
            single_reads_would_see = tree_in_three_transactions(kernel.host.read)
    finally:
        if isinstance(target, sa.Engine):
            target.dispose()
    assert writer.failure is None, writer.failure
    assert not writer.armed  # the change was committed after the tree's first read
    assert during == before
    assert 900 in {s.id for s in after.steps()} and 900 not in {s.id for s in during.steps()}
    assert after == single_reads_would_see


@pytest.mark.parametrize("kind", ["dsn", "host engine", "instrumented host engine"])
def test_a_change_committed_between_the_reads_is_not_half_seen(demo_url: str, kind: str) -> None:
    tree_while_a_writer_commits(demo_url, kind)


@pytest.mark.parametrize("kind", ["autocommit factory", "serializable host engine"])
def test_postgresql_connections_of_any_setting_read_one_snapshot(pg_url: str, kind: str) -> None:
    data.build(pg_url).dispose()
    tree_while_a_writer_commits(pg_url, kind)


def test_sqlite_writers_wait_for_the_block_to_end(sqlite_url: str) -> None:
    """Without WAL, a reader's transaction holds SQLite's shared lock from read to read."""
    data.build(sqlite_url).dispose()

    def write() -> None:
        conn = sqlite3.connect(sqlite_path(sqlite_url), timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE post SET title = 'meanwhile' WHERE id = 1")
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()

    writer = WriterBetweenReads(write)
    with open_kernel(sqlite_url, writer) as kernel:
        writer.armed = True
        with kernel.host.reading() as reads:
            first = reads.read("SELECT id, title FROM post ORDER BY id")
            second = reads.read("SELECT id, title FROM post ORDER BY id")
        assert isinstance(writer.failure, sqlite3.OperationalError)
        assert "locked" in str(writer.failure)
        assert first == second
        write()  # and once the block has ended, it commits at once
        assert kernel.host.read("SELECT title FROM post WHERE id = 1") == ({"title": "meanwhile"},)


def test_the_connection_gets_its_own_settings_back(pg_url: str, pg_log: PgLog) -> None:
    data.build(pg_url).dispose()
    serializable = sa.create_engine(pg_url, isolation_level="SERIALIZABLE")
    try:
        for target, begin in ((pg_url, "REPEATABLE READ"), (serializable, "SERIALIZABLE")):
            with open_kernel(target) as kernel:
                pg_log.mark()
                with kernel.host.reading() as reads:
                    reads.read(STAGES)
                kernel.host.read(STAGES)
                sent = transactions_in_log(pg_log, pg_url)
            assert [sql for _, sql in sent if sql.startswith("BEGIN")] == [
                f"BEGIN ISOLATION LEVEL {begin} READ ONLY",
                # The single read after it: the connection's own level again.
                "BEGIN READ ONLY"
                if target is pg_url
                else "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY",
            ], sent
        with serializable.connect() as conn:
            assert conn.connection.driver_connection.read_only is not True  # type: ignore[union-attr]
            assert conn.get_isolation_level() == "SERIALIZABLE"
    finally:
        serializable.dispose()


# -- errors: refused, failed, rolled back, reported ------------------------------------------


REFUSED = [
    ("DELETE FROM post WHERE id = 1", errors.StatementRefusedError),
    ("UPDATE post SET title = 'x' WHERE id = 1", errors.StatementRefusedError),
    ("DROP TABLE post", errors.StatementRefusedError),
    ("SELECT 1 AS a; SELECT 2 AS b", errors.StatementRefusedError),
    ("SELECT id FROM llm_provider", errors.AccessDeniedError),
    ("SELECT no_such_column FROM post", errors.UnknownColumnError),
    ("SELECT id FROM no_such_table", errors.AccessDeniedError),
]
# A read the guard lets through and the database fails while running it.
FAILING = {
    "sqlite": "SELECT json_extract(name, '$') AS j FROM workflow_stage_entity",
    "postgresql": "SELECT 1 / (id - id) AS x FROM workflow_stage_entity",
}


def no_transaction_left(kernel: wfsdk.Kernel, url: str) -> None:
    """Nothing of a block is left: no connection checked out, no transaction open, no lock."""
    assert checked_out(kernel) == 0
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url), timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")  # refused while any reader holds a lock
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    else:
        with psycopg.connect(
            conninfo(url), autocommit=True, application_name=HARNESS_APPLICATION_NAME
        ) as conn:
            (open_transactions,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'"
            ).fetchone() or (None,)
        assert open_transactions == 0


@pytest.mark.parametrize(("sql", "error"), REFUSED, ids=[s for s, _ in REFUSED])
def test_a_refused_statement_ends_the_block_and_is_reported(
    demo_url: str, sql: str, error: type[Exception]
) -> None:
    recorder = Recorder()
    with open_kernel(demo_url, recorder) as kernel:
        with kernel.host.reading() as reads:
            assert reads.read(STAGES)
            with pytest.raises(error):
                reads.read(sql)
            no_transaction_left(kernel, demo_url)  # rolled back at once
            with pytest.raises(errors.WfsdkError, match="has ended") as later:
                reads.read(STAGES)
            assert type(later.value) is errors.WfsdkError
        assert kernel.host.read(STAGES)  # the kernel itself goes on
        no_transaction_left(kernel, demo_url)
    assert len(recorder.errors) == 1 and recorder.errors[0].error_type == error.__name__
    assert recorder.errors[0].phase in {"guard", "access"}
    assert len(recorder.reads) == 2


def test_refused_statements_never_reach_the_server(pg_url: str, pg_log: PgLog) -> None:
    data.build(pg_url).dispose()
    with open_kernel(pg_url) as kernel:
        pg_log.mark()
        with kernel.host.reading() as reads:
            reads.read(STAGES)
            with pytest.raises(errors.StatementRefusedError):
                reads.read("DELETE FROM post WHERE id = 1")
        sent = transactions_in_log(pg_log, pg_url)
    assert kinds(sent) == ["BEGIN", "SELECT", "ROLLBACK"], sent


@pytest.mark.parametrize("kind", ["dsn", "instrumented host engine"])
def test_a_database_error_rolls_back_and_reaches_on_error(demo_url: str, kind: str) -> None:
    dialect = "postgresql" if demo_url.startswith("postgresql") else "sqlite"
    recorder = Recorder()
    target = kernel_targets(demo_url)[kind]()
    try:
        with open_kernel(target, recorder) as kernel:
            with kernel.host.reading() as reads:
                reads.read(STAGES)
                with pytest.raises(errors.DatabaseError, match="rolled back"):
                    reads.read(FAILING[dialect])
                no_transaction_left(kernel, demo_url)
                with pytest.raises(errors.WfsdkError, match="has ended"):
                    reads.read(STAGES)
            # The connection went back to the pool clean: the next block works on it.
            with kernel.host.reading() as reads:
                assert reads.read(STAGES)
            no_transaction_left(kernel, demo_url)
    finally:
        if isinstance(target, sa.Engine):
            target.dispose()
    (error,) = recorder.errors
    assert error.phase == "read" and error.transaction_state == "rolled back"
    assert error.statement is not None and "workflow_stage_entity" in error.statement
    assert len(recorder.reads) == 2


def test_a_kernel_closed_during_a_block_refuses_its_reads(demo_url: str) -> None:
    kernel = open_kernel(demo_url)
    with kernel.host.reading() as reads:
        assert reads.read(STAGES)
        kernel.close()
        with pytest.raises(errors.WfsdkError, match="closed"):
            reads.read(STAGES)
        with pytest.raises(errors.WfsdkError, match="has ended"):
            reads.read(STAGES)


def test_a_database_error_is_followed_by_a_rollback_on_the_server(
    pg_url: str, pg_log: PgLog
) -> None:
    data.build(pg_url).dispose()
    with open_kernel(pg_url) as kernel:
        pg_log.mark()
        with kernel.host.reading() as reads, pytest.raises(errors.DatabaseError):
            reads.read(FAILING["postgresql"])
        sent = transactions_in_log(pg_log, pg_url)
    assert kinds(sent) == ["BEGIN", "SELECT", "ROLLBACK"], sent


def test_an_exception_in_the_block_rolls_back_and_is_the_callers(demo_url: str) -> None:
    recorder = Recorder()
    with open_kernel(demo_url, recorder) as kernel:
        with pytest.raises(ZeroDivisionError), kernel.host.reading() as reads:
            reads.read(STAGES)
            _ = 1 / 0
        no_transaction_left(kernel, demo_url)
    assert recorder.errors == [] and len(recorder.reads) == 1


class FailingObserver:
    @wfsdk.hookimpl
    def on_read(self, event: ReadEvent) -> None:
        raise RuntimeError("observer broke")


def test_a_failing_on_read_ends_the_block(demo_url: str) -> None:
    recorder = Recorder()
    with open_kernel(demo_url, recorder, FailingObserver()) as kernel:
        with kernel.host.reading() as reads:
            with pytest.raises(errors.PluginHookError, match="observer broke"):
                reads.read(STAGES)
            with pytest.raises(errors.WfsdkError, match="has ended"):
                reads.read(STAGES)
        no_transaction_left(kernel, demo_url)
    assert [e.phase for e in recorder.errors] == ["on_read"]


def test_a_block_is_used_once_and_only_inside_with(demo_url: str) -> None:
    with open_kernel(demo_url) as kernel:
        reads = kernel.host.reading()
        with pytest.raises(errors.WfsdkError, match="inside `with"):
            reads.read(STAGES)
        with reads:
            assert reads.read(STAGES)
        with pytest.raises(errors.WfsdkError, match="has ended"):
            reads.read(STAGES)
        with pytest.raises(errors.WfsdkError, match="runs once"), reads:
            pass
        # Blocks can nest: each holds its own connection and transaction.
        with kernel.host.reading() as outer, kernel.host.reading() as inner:
            assert outer.read(STAGES) == inner.read(STAGES)
            assert checked_out(kernel) == 2
        assert checked_out(kernel) == 0
        assert repr(outer).endswith("ended>")
    with pytest.raises(errors.WfsdkError, match="closed"), kernel.host.reading():
        pass


@pytest.mark.parametrize("bad", [["SELECT 1"], b"SELECT id FROM post", None, 5])
def test_bad_arguments_are_refused_as_a_single_read_refuses_them(demo_url: str, bad: Any) -> None:
    with open_kernel(demo_url) as kernel:
        with pytest.raises(errors.ConfigurationError, match="must be a string") as single:
            kernel.host.read(bad)
        with kernel.host.reading() as reads:
            with pytest.raises(errors.ConfigurationError) as inside:
                reads.read(bad)
            with pytest.raises(errors.WfsdkError, match="has ended"):
                reads.read(STAGES)
        assert str(inside.value) == str(single.value)
        no_transaction_left(kernel, demo_url)


def test_module_gateways_read_only_what_they_declared(demo_url: str) -> None:
    with open_kernel(demo_url) as kernel:
        gateway = kernel.api(CoreApi)._gateway  # the module's own door, reached on purpose
        with gateway.reading() as reads, pytest.raises(errors.AccessDeniedError):
            reads.read("SELECT id FROM post")


# -- any sequence of allowed and refused statements ---------------------------------------------


ALLOWED = [
    ("SELECT id, name FROM workflow_stage_entity ORDER BY id", lambda: st.none()),
    ("SELECT id, title FROM post WHERE id = :id", lambda: st.fixed_dictionaries({"id": IDS})),
    (
        "SELECT id, stage_id FROM workflow_sub_stage_entity WHERE stage_id = %s ORDER BY id",
        lambda: st.tuples(IDS),
    ),
    ("SELECT id, sub_stage_id FROM workflow_step_entity ORDER BY id", lambda: st.none()),
]
IDS = st.integers(min_value=-1, max_value=4)

Statement = tuple[str, Any, type[Exception] | None]


@st.composite
def statements(draw: st.DrawFn) -> Statement:
    if draw(st.booleans()):
        sql, params = draw(st.sampled_from(ALLOWED))
        return sql, draw(params()), None
    sql, error = draw(st.sampled_from(REFUSED))
    return sql, None, error


def test_any_sequence_of_reads_and_refusals(demo_url: str) -> None:
    recorder = Recorder()
    with open_kernel(demo_url, recorder) as kernel:

        @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
        @given(st.lists(statements(), max_size=6))
        def check(sequence: list[Statement]) -> None:
            expected = [None if e else kernel.host.read(sql, p) for sql, p, e in sequence]
            recorder.reads.clear()
            recorder.errors.clear()
            refused = next((i for i, (_, _, e) in enumerate(sequence) if e), None)
            with kernel.host.reading() as reads:
                for index, (sql, params, error) in enumerate(sequence):
                    if refused is None or index < refused:
                        assert reads.read(sql, params) == expected[index]
                    elif index == refused:
                        assert error is not None
                        with pytest.raises(error):
                            reads.read(sql, params)
                    else:
                        with pytest.raises(errors.WfsdkError, match="has ended"):
                            reads.read(sql, params)
            no_transaction_left(kernel, demo_url)
            ran = len(sequence) if refused is None else refused
            assert len(recorder.reads) == ran
            assert len(recorder.errors) == (0 if refused is None else 1)

        check()
