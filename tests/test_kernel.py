"""The kernel on real databases: connecting, the guard in front of everything, the write path."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

import wfsdk
from wfsdk import errors
from wfsdk.access import PROTECTED_TABLES
from wfsdk.demo import data
from wfsdk.values import Decision, Declaration, Operation, Vote

from kernel_support import (
    SHIPPED_CONTRACT,
    STATUS_WRITER,
    Recorder,
    Voter,
    checksum,
    contract_with,
    raw,
)

ALL_DEMO_TABLES = sorted(data.schema.metadata.tables)


@pytest.fixture
def demo_url(db_url: str) -> str:
    data.build(db_url).dispose()
    return db_url


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def open_kernel(
    url: str, *plugins: object, host: Declaration | None = STATUS_WRITER, **kw: object
) -> wfsdk.Kernel:
    kw.setdefault("contract", SHIPPED_CONTRACT)
    return wfsdk.connect(
        url,
        plugins=[],
        extra_plugins=list(plugins),
        host_access=host,
        **kw,  # type: ignore[arg-type]
    )


# -- connecting ------------------------------------------------------------------------


def test_connect_accepts_dsn_engine_and_factory(demo_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(demo_url)
    targets: list[object] = [demo_url, engine]
    if demo_url.startswith("sqlite"):
        path = demo_url.removeprefix("sqlite:///")
        targets.append(lambda: sqlite3.connect(path))
    else:
        import psycopg

        conninfo = demo_url.replace("postgresql+psycopg://", "postgresql://")
        targets.append(lambda: psycopg.connect(conninfo))
        targets.append(conninfo)
    for target in targets:
        with wfsdk.connect(target, plugins=[], contract=SHIPPED_CONTRACT) as kernel:  # type: ignore[arg-type]
            rows = kernel.execute_query("SELECT name FROM workflow_stage_entity ORDER BY id")
            assert [r["name"] for r in rows] == ["Planning", "Writing", "Publishing"]
    # The host's own engine is left as it was: no gatekeeper on it.
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()


def test_unsupported_targets_are_clear_errors() -> None:
    with pytest.raises(errors.ConfigurationError, match="not supported"):
        wfsdk.connect("mysql://x@y/z", plugins=[])
    with pytest.raises(errors.ConfigurationError, match="psycopg 3"):
        wfsdk.connect("postgresql+psycopg2://x@y/z", plugins=[])
    with pytest.raises(errors.ConfigurationError):
        wfsdk.connect(42, plugins=[])  # type: ignore[arg-type]


def test_password_never_leaks(pg_url: str, recorder: Recorder) -> None:
    secret = "Sup3r-s3cret-pw"
    url = pg_url.replace("postgres@", f"postgres:{secret}@")
    data.build(pg_url).dispose()
    kernel = open_kernel(url, recorder)
    with kernel:
        assert secret not in repr(kernel) and secret not in kernel.url
        with pytest.raises(errors.DatabaseError) as raised:
            kernel.execute_query("SELECT 1 / 0 AS x FROM post")
        assert secret not in str(raised.value)
        with pytest.raises(errors.StatementRefusedError):
            kernel.execute_query(f"SELECT '{secret}' AS p; DROP TABLE post")
    assert recorder.errors
    for event in recorder.errors:
        assert secret not in repr(event)


def test_closed_kernel_refuses(demo_url: str) -> None:
    kernel = open_kernel(demo_url)
    kernel.close()
    with pytest.raises(errors.WfsdkError, match="closed"):
        kernel.execute_query("SELECT 1 AS one FROM post")


# -- reads -----------------------------------------------------------------------------


def test_guide_style_read_with_positional_params(demo_url: str, recorder: Recorder) -> None:
    with open_kernel(demo_url, recorder) as kernel:
        rows = kernel.execute_query(
            """
            SELECT * FROM workflow_step_entity
            WHERE sub_stage_id IN (
                SELECT id FROM workflow_sub_stage_entity WHERE stage_id = %s
            )
            ORDER BY step_order
            """,
            (1,),
        )
    assert {r["name"] for r in rows} == {"Basic Idea", "Provisional Title", "Interesting Facts"}
    (event,) = recorder.reads
    assert event.tables == {"workflow_step_entity", "workflow_sub_stage_entity"}
    assert event.row_count == 3 and event.caller == "host" and event.duration_s >= 0


def test_undeclared_read_is_refused(demo_url: str, recorder: Recorder) -> None:
    host = Declaration(module="host", reads={"post"})
    with open_kernel(demo_url, recorder, host=host) as kernel:
        assert len(kernel.execute_query("SELECT id FROM post")) == 2
        with pytest.raises(errors.AccessDeniedError, match="llm_provider"):
            kernel.execute_query("SELECT p.id FROM post p JOIN llm_provider l ON l.id = p.id")
    assert recorder.errors[-1].error_type == "AccessDeniedError"


def test_reads_cannot_write_even_through_functions(pg_url: str) -> None:
    data.build(pg_url).dispose()
    raw(
        pg_url,
        "CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS "
        "$$ UPDATE post SET title = 'changed' RETURNING 1 $$",
    )
    before = checksum(pg_url, ["post"])
    with open_kernel(pg_url) as kernel, pytest.raises(errors.DatabaseError, match="read-only"):
        kernel.execute_query("SELECT sneaky() AS s FROM post")
    assert checksum(pg_url, ["post"]) == before


def test_sqlite_reads_run_query_only(sqlite_url: str) -> None:
    data.build(sqlite_url).dispose()
    with open_kernel(sqlite_url) as kernel:
        assert len(kernel.execute_query("SELECT id FROM post")) == 2
        # query_only is switched off again for the next write transaction
        result = kernel.execute_query(
            "UPDATE post_workflow_stage SET status = 'x' WHERE id = 2",
            actor="t",
            reason="t",
            dry_run=True,
        )
        assert result.preview is not None and len(result.preview.rows) == 1


# -- the guard in front of everything --------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE post",
        "CREATE TABLE x (id int)",
        "CREATE TEMP TABLE x (id int)",
        "ALTER TABLE post ADD COLUMN x int",
        "TRUNCATE post",
        "SELECT * INTO post_copy FROM post",
        "SELECT 1 AS a; DROP TABLE post",
        "SELECT * FROM post FOR UPDATE",
        "this is not sql at all (",
    ],
)
def test_refused_statements_never_reach_the_server(
    pg_url: str, pg_log: object, sql: str, recorder: Recorder
) -> None:
    data.build(pg_url).dispose()
    before = checksum(pg_url, ALL_DEMO_TABLES)
    pg_log.mark()  # type: ignore[attr-defined]
    with open_kernel(pg_url, recorder) as kernel, pytest.raises(errors.StatementRefusedError):
        kernel.execute_query(sql)
    sent = pg_log.statements(include_harness=True)  # type: ignore[attr-defined]
    ddl = re.compile(r"^\s*(drop|create|alter|truncate|select \* into)\b", re.I)
    assert not [s for s in sent if ddl.match(s) or sql[:12].lower() in s.lower()], sent
    assert checksum(pg_url, ALL_DEMO_TABLES) == before
    assert recorder.errors and recorder.errors[-1].phase == "guard"


def test_unguarded_statements_are_stopped_at_the_driver(demo_url: str) -> None:
    with open_kernel(demo_url) as kernel:
        engine = kernel._target.engine  # the kernel's own engine, reached on purpose
        with engine.connect() as conn, pytest.raises(errors.StatementRefusedError, match="guard"):
            conn.exec_driver_sql("DELETE FROM post")
    assert len(raw(demo_url, "SELECT id FROM post")) == 2


@pytest.mark.parametrize("table", sorted(PROTECTED_TABLES))
def test_protected_tables_refuse_writes_whoever_asks(demo_url: str, table: str) -> None:
    host = Declaration(
        module="host",
        reads=PROTECTED_TABLES,
        writes={t: {"name", "field_name", "prompt_template"} for t in PROTECTED_TABLES},
        deletes=PROTECTED_TABLES,
    )
    before = checksum(demo_url, [table])
    with open_kernel(demo_url, Voter(Vote.allow()), host=host) as kernel:
        for sql in (
            f"DELETE FROM {table} WHERE id = 1",
            f'UPDATE "public"."{table}" SET name = \'x\' WHERE id = 1',
            f"WITH gone AS (DELETE FROM {table.upper()} RETURNING id) SELECT * FROM gone",
        ):
            if demo_url.startswith("sqlite") and "public" in sql:
                sql = sql.replace('"public".', "")
            with pytest.raises(errors.ReadOnlyViolationError):
                kernel.execute_query(sql, actor="t", reason="t")
    assert checksum(demo_url, [table]) == before


def test_owner_read_only_rule_cannot_be_overridden_by_another_plugin(demo_url: str) -> None:
    class Greedy:
        @wfsdk.hookimpl
        def declare_access(self) -> Declaration:
            return Declaration(
                module="greedy",
                reads={"post_workflow_stage"},
                writes={"post_workflow_stage": {"input_field"}},
            )

    host = Declaration(
        module="host",
        reads={"post_workflow_stage"},
        writes={"post_workflow_stage": {"input_field"}},
    )
    with open_kernel(demo_url, Greedy(), Voter(Vote.allow()), host=host) as kernel:
        with pytest.raises(errors.ReadOnlyViolationError, match="input_field"):
            kernel.execute_query(
                "UPDATE post_workflow_stage SET input_field = 'x' WHERE id = 1",
                actor="t",
                reason="t",
            )


def test_undeclared_write_is_refused(demo_url: str) -> None:
    host = Declaration(module="host", reads={"post_workflow_stage"})
    with open_kernel(demo_url, Voter(Vote.allow()), host=host) as kernel:
        with pytest.raises(errors.AccessDeniedError, match="did not declare"):
            kernel.execute_query(
                "UPDATE post_workflow_stage SET status = 'x' WHERE id = 1", actor="t", reason="t"
            )


# -- the write path --------------------------------------------------------------------

UPDATE = "UPDATE post_workflow_stage SET status = %s WHERE post_id = %s AND stage_id = %s"


def status_of(url: str, row_id: int) -> str:
    return str(
        raw(url, "SELECT status FROM post_workflow_stage WHERE id = :i", {"i": row_id})[0][0]
    )


def test_default_deny(demo_url: str, recorder: Recorder) -> None:
    with open_kernel(demo_url, recorder, Voter(None)) as kernel:
        with pytest.raises(errors.WriteDeniedError, match="default-deny"):
            kernel.execute_query(UPDATE, ("review", 1, 2), actor="ann", reason="test")
    assert status_of(demo_url, 2) == "in_progress"
    assert not recorder.changes and recorder.errors[-1].error_type == "WriteDeniedError"


def test_deny_wins_and_every_reason_is_reported(demo_url: str) -> None:
    plugins = (
        Voter(Vote.allow("fine")),
        Voter(Vote.deny("not on Sundays")),
        Voter(Vote.deny("no")),
    )
    with open_kernel(demo_url, *plugins) as kernel:
        with pytest.raises(errors.WriteDeniedError) as raised:
            kernel.execute_query(UPDATE, ("review", 1, 2), actor="ann", reason="test")
    assert len(raised.value.reasons) == 2
    assert any("not on Sundays" in r for r in raised.value.reasons)
    assert status_of(demo_url, 2) == "in_progress"


def test_a_raising_policy_refuses_and_reaches_on_error(demo_url: str, recorder: Recorder) -> None:
    plugins = (recorder, Voter(Vote.allow()), Voter(None, raises=RuntimeError("policy broke")))
    with open_kernel(demo_url, *plugins) as kernel:
        with pytest.raises(errors.WriteDeniedError, match="policy broke"):
            kernel.execute_query(UPDATE, ("review", 1, 2), actor="ann", reason="test")
    assert status_of(demo_url, 2) == "in_progress"
    assert any(e.phase == "before_write" and "policy broke" in e.message for e in recorder.errors)


def test_actor_and_reason_are_required(demo_url: str) -> None:
    with open_kernel(demo_url, Voter(Vote.allow())) as kernel:
        with pytest.raises(errors.ConfigurationError, match="actor"):
            kernel.execute_query(UPDATE, ("review", 1, 2))


def test_dry_run_returns_preview_and_votes_and_changes_nothing(demo_url: str) -> None:
    before = checksum(demo_url, ALL_DEMO_TABLES)
    voter = Voter(Vote.allow("ok"))
    with open_kernel(demo_url, voter) as kernel:
        result = kernel.execute_query(
            UPDATE, ("review", 1, 2), actor="ann", reason="try", dry_run=True
        )
    assert result.change is None and result.would_commit
    assert result.preview is not None and result.preview.dry_run
    (row,) = result.preview.rows
    assert row.before is not None and row.after is not None
    assert row.before["status"] == "in_progress" and row.after["status"] == "review"
    assert row.changed_columns() == ("status",)
    assert [v.decision for v in result.votes] == [Decision.ALLOW]
    assert checksum(demo_url, ALL_DEMO_TABLES) == before


def test_committed_write_and_after_write_sees_it_committed(demo_url: str) -> None:
    seen_from_outside: list[str] = []

    class Checker:
        @wfsdk.hookimpl
        def after_write(self, change: object) -> None:
            # A separate connection sees the new value only once the change committed.
            seen_from_outside.append(status_of(demo_url, 2))

    recorder = Recorder()
    with open_kernel(demo_url, recorder, Checker(), Voter(Vote.allow("ok"))) as kernel:
        result = kernel.execute_query(UPDATE, ("review", 1, 2), actor="ann", reason="ready")
    change = result.change
    assert change is not None and change.operation is Operation.UPDATE
    assert change.actor == "ann" and change.reason == "ready"
    assert change.rows[0].key == {"id": 2}
    assert seen_from_outside == ["review"]
    assert recorder.changes == [change]
    assert status_of(demo_url, 2) == "review"


NOTE_CONTRACT = """
## Table: note

| Column | Type | Description |
| --- | --- | --- |
| id | SERIAL (PK) | Primary key |
| body | TEXT | |
| status | TEXT | |
"""


def test_typed_insert_update_delete(demo_url: str, tmp_path: Path) -> None:
    key = "integer PRIMARY KEY" if demo_url.startswith("sqlite") else "serial PRIMARY KEY"
    raw(demo_url, f"CREATE TABLE note (id {key}, body text, status text)")
    host = Declaration(
        module="host", reads={"note"}, writes={"note": {"body", "status"}}, deletes={"note"}
    )
    contract = contract_with(tmp_path, NOTE_CONTRACT)
    with open_kernel(demo_url, Voter(Vote.allow()), host=host, contract=contract) as kernel:
        gateway = kernel.host
        inserted = gateway.insert("note", {"body": "hello", "status": "new"}, actor="t", reason="t")
        assert inserted.change is not None
        (row,) = inserted.change.rows
        new_id = row.key["id"]
        assert row.after == {"body": "hello", "status": "new"}
        gateway.update("note", {"id": new_id}, {"status": "done"}, actor="t", reason="t")
        assert raw(demo_url, "SELECT status FROM note")[0][0] == "done"
        deleted = gateway.delete("note", {"id": new_id}, actor="t", reason="t")
        assert deleted.change is not None and deleted.change.rows[0].before is not None
    assert not raw(demo_url, "SELECT id FROM note")


def test_owner_column_rule_limits_inserts_too(demo_url: str) -> None:
    host = Declaration(
        module="host",
        reads={"post_workflow_stage"},
        writes={"post_workflow_stage": {"post_id", "stage_id", "status"}},
    )
    with open_kernel(demo_url, Voter(Vote.allow()), host=host) as kernel:
        with pytest.raises(errors.ReadOnlyViolationError, match="post_id, stage_id"):
            kernel.host.insert(
                "post_workflow_stage",
                {"post_id": 2, "stage_id": 2, "status": "x"},
                actor="t",
                reason="t",
            )


def test_concurrent_change_between_preview_and_execution(demo_url: str, recorder: Recorder) -> None:
    def meddle(_intent: object) -> None:
        raw(demo_url, "UPDATE post_workflow_stage SET status = 'someone else' WHERE id = 2")

    with open_kernel(demo_url, recorder, Voter(Vote.allow(), before=meddle)) as kernel:
        with pytest.raises(errors.ChangedSincePreviewError):
            kernel.execute_query(UPDATE, ("review", 1, 2), actor="ann", reason="t")
    assert status_of(demo_url, 2) == "someone else"
    assert not recorder.changes


def test_new_matching_row_between_preview_and_execution(demo_url: str) -> None:
    def meddle(_intent: object) -> None:
        raw(
            demo_url,
            "INSERT INTO post_workflow_stage (id, post_id, stage_id, status) VALUES (9, 2, 3, 'x')",
        )

    with open_kernel(demo_url, Voter(Vote.allow(), before=meddle)) as kernel:
        with pytest.raises(errors.ChangedSincePreviewError):
            kernel.execute_query(
                "UPDATE post_workflow_stage SET status = 'y' WHERE post_id = 2",
                actor="a",
                reason="r",
            )
    assert status_of(demo_url, 3) == "in_progress" and status_of(demo_url, 9) == "x"


def test_verification_failure_rolls_back(demo_url: str, recorder: Recorder) -> None:
    # A trigger that silently rewrites the value: the write must not pass as done.
    if demo_url.startswith("sqlite"):
        raw(
            demo_url,
            "CREATE TRIGGER rewrite AFTER UPDATE OF status ON post_workflow_stage "
            "BEGIN UPDATE post_workflow_stage SET status = 'rewritten' WHERE id = NEW.id; END",
        )
    else:
        raw(
            demo_url,
            "CREATE FUNCTION rewrite() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.status := 'rewritten'; RETURN NEW; END $$",
        )
        raw(
            demo_url,
            "CREATE TRIGGER rewrite BEFORE UPDATE ON post_workflow_stage "
            "FOR EACH ROW EXECUTE FUNCTION rewrite()",
        )
    with open_kernel(demo_url, recorder, Voter(Vote.allow())) as kernel:
        with pytest.raises(errors.VerificationFailedError, match="rewritten"):
            kernel.execute_query(UPDATE, ("review", 1, 2), actor="ann", reason="t")
    assert status_of(demo_url, 2) == "in_progress"
    assert not recorder.changes
    assert recorder.errors[-1].transaction_state == "rolled back"


def test_before_commit_failure_rolls_back_and_notifies(demo_url: str, recorder: Recorder) -> None:
    class BrokenBackup:
        @wfsdk.hookimpl
        def before_commit(self, intent: object) -> None:
            raise OSError("disk full")

    with open_kernel(demo_url, recorder, BrokenBackup(), Voter(Vote.allow())) as kernel:
        with pytest.raises(errors.WriteDeniedError, match="disk full"):
            kernel.execute_query(UPDATE, ("review", 1, 2), actor="ann", reason="t")
    assert status_of(demo_url, 2) == "in_progress"
    assert len(recorder.rollbacks) == 1 and "disk full" in recorder.rollbacks[0][1]


def test_receipts_reach_the_change_record(demo_url: str) -> None:
    from wfsdk.values import Receipt

    class Backup:
        @wfsdk.hookimpl
        def before_commit(self, intent: object) -> Receipt:
            return Receipt(plugin="backup", kind="backup", reference="b-1")

    with open_kernel(demo_url, Backup(), Voter(Vote.allow())) as kernel:
        result = kernel.execute_query(UPDATE, ("review", 1, 2), actor="ann", reason="t")
    assert result.change is not None and result.change.backup_id == "b-1"


def test_after_write_failure_is_reported_and_names_the_committed_change(
    demo_url: str, recorder: Recorder
) -> None:
    class BrokenAudit:
        @wfsdk.hookimpl
        def after_write(self, change: object) -> None:
            raise RuntimeError("audit unavailable")

    with open_kernel(demo_url, recorder, BrokenAudit(), Voter(Vote.allow())) as kernel:
        with pytest.raises(errors.PluginHookError, match="committed") as raised:
            kernel.execute_query(UPDATE, ("review", 1, 2), actor="ann", reason="t")
    assert raised.value.change_id
    assert status_of(demo_url, 2) == "review"
    assert recorder.errors[-1].phase == "after_write"


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE post_workflow_stage SET status = 'x'", "unbounded-where"),
        ("DELETE FROM post_workflow_stage", "unbounded-where"),
        (
            "WITH c AS (UPDATE post_workflow_stage SET status = 'x' WHERE id = 1 RETURNING id) "
            "SELECT * FROM c",
            "unpreviewable",
        ),
    ],
)
def test_unpreviewable_writes_are_refused(demo_url: str, sql: str, reason: str) -> None:
    host = Declaration(
        module="host",
        reads={"post_workflow_stage"},
        writes={"post_workflow_stage": {"status"}},
        deletes={"post_workflow_stage"},
    )
    before = checksum(demo_url, ["post_workflow_stage"])
    with open_kernel(demo_url, Voter(Vote.allow()), host=host) as kernel:
        with pytest.raises(errors.UnpreviewableWriteError) as raised:
            kernel.execute_query(sql, actor="a", reason="r")
    assert raised.value.reason == reason
    assert checksum(demo_url, ["post_workflow_stage"]) == before


def test_table_without_primary_key_is_refused(demo_url: str, tmp_path: Path) -> None:
    raw(demo_url, "CREATE TABLE loose (a integer, b text)")
    raw(demo_url, "INSERT INTO loose VALUES (1, 'x')")
    host = Declaration(module="host", reads={"loose"}, writes={"loose": {"b"}})
    contract = contract_with(
        tmp_path,
        "\n## Table: loose\n\n| Column | Type |\n| --- | --- |\n| a | INTEGER |\n| b | TEXT |\n",
    )
    with open_kernel(demo_url, Voter(Vote.allow()), host=host, contract=contract) as kernel:
        with pytest.raises(errors.UnpreviewableWriteError, match="no primary key"):
            kernel.execute_query("UPDATE loose SET b = 'y' WHERE a = 1", actor="a", reason="r")


def test_row_limit(demo_url: str) -> None:
    with open_kernel(demo_url, Voter(Vote.allow()), max_write_rows=1) as kernel:
        with pytest.raises(errors.UnpreviewableWriteError, match="limit"):
            kernel.execute_query(
                "UPDATE post_workflow_stage SET status = 'x' WHERE status = 'in_progress'",
                actor="a",
                reason="r",
            )
