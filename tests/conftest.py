"""Shared fixtures: a private PostgreSQL cluster, fresh databases on both engines, the blog dump.

PostgreSQL fixtures skip loudly where the server programs are missing, and fail instead when
``WFSDK_REQUIRE_POSTGRES=1`` (CI), so that a broken install can never pass as a green run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from pgcluster import ClusterError, LogEntry, PgCluster, PostgresNotFound, find_binaries

REPO_ROOT = Path(__file__).resolve().parent.parent
DUMP_NAME = "blog-2025-07-19.sql"
BLOG_TEMPLATE = "blog_template"

MISSING_POSTGRES = (
    "PostgreSQL binaries (initdb/pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin"
)
MISSING_POSTGRES_REASON = f"{MISSING_POSTGRES}: PostgreSQL tests skipped"

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    print_blob=True,
    # A fresh clone every run: an example database would never be read back.
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Shorter runs while editing; deadlines off because a database round trip has no stable time.
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def missing_postgres_outcome(env: Mapping[str, str]) -> tuple[str, str]:
    """What to do when the PostgreSQL server programs are missing: ("skip"|"fail", reason)."""
    if _truthy(env.get("WFSDK_REQUIRE_POSTGRES")):
        return "fail", (
            f"{MISSING_POSTGRES}, and WFSDK_REQUIRE_POSTGRES=1 forbids skipping the PostgreSQL "
            "tests: install the server (Debian: apt-get install postgresql)"
        )
    return "skip", MISSING_POSTGRES_REASON


def shared_dir(env: Mapping[str, str]) -> Path:
    """Where ``shared/`` lives: $WFSDK_SHARED_DIR, else beside the repository."""
    override = env.get("WFSDK_SHARED_DIR")
    return Path(override).expanduser().resolve() if override else REPO_ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_wfsdk_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts with no third-party plugin loaded and its own journal directory.

    The nox session installs the plugins under plugins/; a test that wants them
    says so (``connect(plugins=[...])`` or its own ``WFSDK_PLUGINS``).
    """
    for name in ("WFSDK_DSN", "WFSDK_CONTRACT", "WFSDK_DISABLE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WFSDK_PLUGINS", "")
    monkeypatch.setenv("WFSDK_STATE_DIR", str(tmp_path / "wfsdk-state"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Markers follow the fixtures, so "-m 'not postgres'" deselects every test that would
    # start a server, including ones whose authors forgot the marker.
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"pg_cluster", "pg_url", "blog_template", "blog_url", "pg_log"}:
            item.add_marker(pytest.mark.postgres)
        if names & {"blog_dump_path", "blog_template", "blog_url"}:
            item.add_marker(pytest.mark.fixture_dump)


def require_postgres_binaries() -> None:
    """Skip the calling test (or fail it, under WFSDK_REQUIRE_POSTGRES) without a server."""
    try:
        find_binaries()
        return
    except PostgresNotFound:
        pass
    # Decided outside the except block, so the report is the reason alone, not a traceback.
    action, reason = missing_postgres_outcome(os.environ)
    if action == "fail":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """The suite's own PostgreSQL server, started once per session and removed afterwards."""
    require_postgres_binaries()
    cluster = PgCluster()
    try:
        cluster.start()
    except BaseException:
        cluster.cleanup()
        raise
    try:
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """URL of a fresh, empty database; dropped after the test."""
    name = pg_cluster.create_database(pg_cluster.unique_database_name("t"))
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a SQLite database file that does not exist yet."""
    return f"sqlite:///{(tmp_path / 'test.db').as_posix()}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh empty database; every test using it runs once on each engine."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture(scope="session")
def blog_dump_path() -> Path:
    """The real blog CMS dump from shared/fixtures (read in place, never copied)."""
    directory = shared_dir(os.environ)
    path = directory / "fixtures" / DUMP_NAME
    if not path.is_file():
        reason = (
            f"blog dump not found at {path}: tests on the real database are skipped "
            "(it lives in shared/fixtures beside the repository; set WFSDK_SHARED_DIR "
            "to point elsewhere)"
        )
        if _truthy(os.environ.get("WFSDK_REQUIRE_DUMP")):
            pytest.fail(f"{reason} -- but WFSDK_REQUIRE_DUMP is set", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def blog_template(pg_cluster: PgCluster, blog_dump_path: Path) -> str:
    """Name of a database holding the dump, loaded once per session; copy it, don't use it."""
    pg_cluster.drop_database(BLOG_TEMPLATE)
    pg_cluster.create_database(BLOG_TEMPLATE)
    try:
        pg_cluster.load_sql_file(BLOG_TEMPLATE, blog_dump_path)
    except ClusterError:
        pg_cluster.drop_database(BLOG_TEMPLATE)
        raise
    # Nobody may connect to it: CREATE DATABASE ... TEMPLATE fails while anyone is connected,
    # and a test that wrote to it would leak into every later copy.
    pg_cluster.execute(f"ALTER DATABASE {BLOG_TEMPLATE} WITH ALLOW_CONNECTIONS false")
    return BLOG_TEMPLATE


@pytest.fixture
def blog_url(pg_cluster: PgCluster, blog_template: str) -> Iterator[str]:
    """URL of a private copy of the blog database; the test may write to it freely."""
    name = pg_cluster.create_database(pg_cluster.unique_database_name("blog"), blog_template)
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)


class PgLog:
    """The server log from the moment the test started.

    The suite's own housekeeping (creating and dropping databases, loading the dump) is left
    out unless asked for, so what remains is what the code under test sent.
    """

    def __init__(self, cluster: PgCluster) -> None:
        self.cluster = cluster
        self.start = cluster.log_position()

    def mark(self) -> None:
        """Move the start to now, to look only at what a later step sends."""
        self.start = self.cluster.log_position()

    def entries(self, *, include_harness: bool = False) -> list[LogEntry]:
        return [
            e for e in self.cluster.log_entries(self.start) if include_harness or not e.from_harness
        ]

    def since_start(self, *, include_harness: bool = False) -> list[str]:
        """Raw log lines (continuation lines of multi-line statements included)."""
        return [
            line for entry in self.entries(include_harness=include_harness) for line in entry.raw
        ]

    def statements(self, *, dbname: str | None = None, include_harness: bool = False) -> list[str]:
        """SQL texts received since the start, in order (parameters appear as $1, $2 ...)."""
        return self.cluster.statements_logged_since(
            self.start, dbname=dbname, include_harness=include_harness
        )

    def wait_for(self, text: str, timeout: float = 5.0) -> list[str]:
        """Lines since the start once one contains ``text``; for messages logged late."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.since_start(include_harness=True)
            if any(text in line for line in lines) or time.monotonic() >= deadline:
                return lines
            time.sleep(0.05)


@pytest.fixture
def pg_log(pg_cluster: PgCluster) -> PgLog:
    """What the server logged during this test: every statement it received, errors too."""
    return PgLog(pg_cluster)
