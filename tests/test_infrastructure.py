"""The test harness itself: the private PostgreSQL cluster, fresh databases, the dump, the log."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

import pgcluster
from conftest import (
    MISSING_POSTGRES_REASON,
    PgLog,
    missing_postgres_outcome,
    require_postgres_binaries,
    shared_dir,
)
from pgcluster import ClusterError, PgCluster, PostgresNotFound, find_binaries, parse_log

BLOG_TABLE_COUNT = 42


def _public_tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _scalar(url: str, statement: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(statement)).scalar_one()
    finally:
        engine.dispose()


# -- the cluster ----------------------------------------------------------------------------


def test_cluster_runs_on_loopback_with_a_statement_log(pg_cluster: PgCluster) -> None:
    assert pg_cluster.running
    assert pg_cluster.host == "127.0.0.1"
    rows = pg_cluster.execute(
        "SELECT current_setting('listen_addresses'), current_setting('log_statement'),"
        " current_setting('fsync'), current_setting('server_encoding')"
    )
    assert rows == [("127.0.0.1", "all", "off", "UTF8")]
    assert pg_cluster.log_path.is_file()
    assert str(pg_cluster.socket_dir).startswith(str(pg_cluster.root))


def test_fresh_database_is_empty_and_reachable_through_sqlalchemy(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert _scalar(pg_url, "SELECT 1") == 1
    assert _public_tables(pg_url) == set()


def test_each_test_gets_its_own_database(pg_url: str, pg_cluster: PgCluster) -> None:
    name = pg_url.rsplit("/", 1)[1]
    assert name != "postgres"
    assert _scalar(pg_url, "SELECT current_database()") == name


def test_drop_database_disconnects_leftover_connections(pg_cluster: PgCluster) -> None:
    name = pg_cluster.create_database(pg_cluster.unique_database_name("leak"))
    engine = sa.create_engine(pg_cluster.url(name))
    conn = engine.connect()  # left open on purpose, like a forgotten pool
    try:
        conn.execute(sa.text("SELECT 1"))
        pg_cluster.drop_database(name)
        rows = pg_cluster.execute(f"SELECT count(*) FROM pg_database WHERE datname = '{name}'")
        assert rows == [(0,)]
    finally:
        conn.invalidate()
        engine.dispose()


def test_load_sql_file_reports_the_failing_statement(pg_cluster: PgCluster, tmp_path: Path) -> None:
    script = tmp_path / "broken.sql"
    script.write_text("SELECT 1;\nSELECT * FROM no_such_table;\n", encoding="utf-8")
    name = pg_cluster.create_database(pg_cluster.unique_database_name("load"))
    try:
        with pytest.raises(ClusterError, match="no_such_table"):
            pg_cluster.load_sql_file(name, script)
    finally:
        pg_cluster.drop_database(name)


@pytest.mark.postgres
def test_private_cluster_with_fsync_survives_a_crash_restart(tmp_path: Path) -> None:
    require_postgres_binaries()
    cluster = PgCluster(fsync=True)
    with cluster:
        root = cluster.root
        port = cluster.port
        assert cluster.execute("SHOW fsync") == [("on",)]
        name = cluster.create_database("crashme")
        cluster.execute("CREATE TABLE kept (v int)", name)
        cluster.execute("INSERT INTO kept VALUES (42)", name)
        cluster.restart(mode="immediate")  # no shutdown checkpoint: recovery replays the WAL
        assert cluster.port == port
        assert cluster.execute("SELECT v FROM kept", name) == [(42,)]
        assert "database system was interrupted" in cluster.read_log()
    assert not root.exists()
    assert not cluster.running


# -- SQLite and both engines ----------------------------------------------------------------


def test_sqlite_url_points_at_a_fresh_file(sqlite_url: str, tmp_path: Path) -> None:
    assert sqlite_url == f"sqlite:///{tmp_path.as_posix()}/test.db"
    assert not (tmp_path / "test.db").exists()
    assert _public_tables(sqlite_url) == set()


def test_db_url_runs_on_both_engines(db_url: str, request: pytest.FixtureRequest) -> None:
    engine_id = request.node.callspec.params["db_url"]
    assert sa.make_url(db_url).get_backend_name() == engine_id
    assert _scalar(db_url, "SELECT 1") == 1
    assert _public_tables(db_url) == set()


# -- the server log -------------------------------------------------------------------------


def test_log_captures_what_the_code_under_test_sent(pg_log: PgLog, pg_url: str) -> None:
    marker = f"probe-{uuid.uuid4().hex}"
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"SELECT '{marker}' AS simple"))
            conn.execute(sa.text("SELECT :value AS bound,\n  2 AS two"), {"value": marker})
    finally:
        engine.dispose()

    statements = pg_log.statements(dbname=pg_url.rsplit("/", 1)[1])
    assert f"SELECT '{marker}' AS simple" in statements
    # Bound parameters appear as placeholders; a multi-line statement comes back whole.
    assert any(
        s.startswith("SELECT $1") and s.endswith("AS bound,\n  2 AS two") for s in statements
    )
    assert any(marker in line for line in pg_log.since_start())


def test_log_leaves_out_the_harness_unless_asked(pg_log: PgLog, pg_url: str) -> None:
    name = pg_url.rsplit("/", 1)[1]
    created = f'CREATE DATABASE "{name}"'
    assert created not in pg_log.statements()
    assert not any(created in line for line in pg_log.since_start())
    assert created in pg_log.statements(include_harness=True)
    assert any(created in line for line in pg_log.since_start(include_harness=True))


def test_parse_log_joins_continuation_lines_and_keeps_background_messages() -> None:
    text = (
        "2025-07-19 10:00:00.000 UTC [10] LOG:  checkpoint starting: time\n"
        "2025-07-19 10:00:01.000 UTC [11] db=blog user=postgres app=[] "
        "LOG:  execute <unnamed>: UPDATE post\n"
        "\tSET title = $1\n"
        "2025-07-19 10:00:01.000 UTC [11] db=blog user=postgres app=[[unknown]] "
        "DETAIL:  parameters: $1 = 'x'\n"
    )
    background, update, detail = parse_log(text)
    assert background.database is None and background.statement is None
    assert update.database == "blog" and update.pid == 11
    assert update.statement == "UPDATE post\nSET title = $1"
    assert update.raw == (
        "2025-07-19 10:00:01.000 UTC [11] db=blog user=postgres app=[] "
        "LOG:  execute <unnamed>: UPDATE post",
        "\tSET title = $1",
    )
    assert detail.level == "DETAIL" and detail.statement is None
    assert detail.application == "[unknown]"


# -- the blog dump --------------------------------------------------------------------------


def test_blog_template_holds_the_whole_dump(blog_url: str) -> None:
    tables = _public_tables(blog_url)
    assert len(tables) == BLOG_TABLE_COUNT
    assert {
        "workflow_stage_entity",
        "workflow_sub_stage_entity",
        "workflow_step_entity",
        "post",
        "post_development",
        "post_workflow_stage",
        "llm_action",
    } <= tables


def test_blog_copies_are_independent(
    blog_url: str, blog_template: str, pg_cluster: PgCluster
) -> None:
    engine = sa.create_engine(blog_url)
    try:
        with engine.begin() as conn:
            before = conn.execute(sa.text("SELECT count(*) FROM post")).scalar_one()
            assert before > 0
            conn.execute(sa.text("DELETE FROM post_workflow_stage"))
            conn.execute(sa.text("CREATE TABLE only_in_this_copy (id int)"))
    finally:
        engine.dispose()

    other = pg_cluster.create_database(pg_cluster.unique_database_name("blog"), blog_template)
    try:
        other_url = pg_cluster.url(other)
        assert len(_public_tables(other_url)) == BLOG_TABLE_COUNT
        assert _scalar(other_url, "SELECT count(*) FROM post") == before
        assert _scalar(other_url, "SELECT count(*) FROM post_workflow_stage") != 0
    finally:
        pg_cluster.drop_database(other)


def test_blog_template_refuses_direct_connections(
    pg_cluster: PgCluster, blog_template: str
) -> None:
    rows = pg_cluster.execute(
        f"SELECT datallowconn FROM pg_database WHERE datname = '{blog_template}'"
    )
    assert rows == [(False,)]


# -- the skip/fail switch and lookups (no server needed) ------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "skip"),
        ({"WFSDK_REQUIRE_POSTGRES": ""}, "skip"),
        ({"WFSDK_REQUIRE_POSTGRES": "0"}, "skip"),
        ({"WFSDK_REQUIRE_POSTGRES": "1"}, "fail"),
        ({"WFSDK_REQUIRE_POSTGRES": "true"}, "fail"),
    ],
)
def test_missing_postgres_skips_unless_required(env: dict[str, str], expected: str) -> None:
    action, reason = missing_postgres_outcome(env)
    assert action == expected
    assert "initdb/pg_ctl" in reason and "/usr/lib/postgresql/*/bin" in reason
    if expected == "skip":
        assert reason == MISSING_POSTGRES_REASON
    else:
        assert "WFSDK_REQUIRE_POSTGRES" in reason and "skipped" not in reason


def test_shared_dir_defaults_beside_the_repository_and_can_be_moved(tmp_path: Path) -> None:
    repo_root = Path(__file__).resolve().parent.parent
    assert shared_dir({}) == repo_root.parent / "shared"
    assert shared_dir({"WFSDK_SHARED_DIR": str(tmp_path)}) == tmp_path.resolve()


def _fake_install(bindir: Path) -> None:
    bindir.mkdir(parents=True)
    for name in ("initdb", "pg_ctl", "postgres"):
        program = bindir / name
        program.write_text("#!/bin/sh\nexit 0\n")
        program.chmod(program.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_find_binaries_prefers_the_highest_installed_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in ("9.6", "15", "10"):
        _fake_install(tmp_path / version / "bin")
    monkeypatch.setattr(pgcluster, "VERSIONED_BIN_GLOB", str(tmp_path / "*" / "bin"))
    found = find_binaries(search_path=str(tmp_path / "empty"))
    assert found.bindir == tmp_path / "15" / "bin"


def test_find_binaries_prefers_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_install(tmp_path / "15" / "bin")
    _fake_install(tmp_path / "onpath")
    monkeypatch.setattr(pgcluster, "VERSIONED_BIN_GLOB", str(tmp_path / "*" / "bin"))
    assert find_binaries(search_path=str(tmp_path / "onpath")).bindir == tmp_path / "onpath"


def test_find_binaries_reports_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgcluster, "VERSIONED_BIN_GLOB", str(tmp_path / "*" / "bin"))
    with pytest.raises(PostgresNotFound, match="initdb, pg_ctl, postgres"):
        find_binaries(search_path=str(tmp_path))
