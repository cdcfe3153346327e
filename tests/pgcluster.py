"""A throwaway PostgreSQL cluster for the test suite.

The suite never talks to a PostgreSQL server it did not start itself: a fresh cluster is made
with ``initdb`` in a temporary directory, started with ``pg_ctl`` on a free loopback port, and
removed at the end. Every statement the server receives is written to a log file
(``log_statement=all``) so tests can assert on exactly what wfsdk sent.

PostgreSQL refuses to run as root, so when the suite runs as root (CI does) the server-side
programs run as the ``postgres`` user. ``psql`` and the psycopg admin connection are clients
that log in over TCP as the ``postgres`` role with ``trust`` authentication; they run as the
current user, so they can read any file the current user can read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
VERSIONED_BIN_GLOB = "/usr/lib/postgresql/*/bin"

# The harness's own connections carry this application_name so that log readers can tell
# them apart from the connections opened by the code under test.
HARNESS_APPLICATION_NAME = "wfsdk-test-harness"

# Timestamp (3 tokens: date, time, zone), pid, then - only for session processes, thanks to
# %q - database, user and application name. Parsed by LOG_LINE_RE below; keep them in step.
LOG_LINE_PREFIX = "%m [%p] %qdb=%d user=%u app=[%a] "
LOG_LINE_RE = re.compile(
    r"^(?P<timestamp>\S+ \S+ \S+) \[(?P<pid>\d+)\] "
    # The application name may itself hold brackets ("[unknown]" before authentication).
    r"(?:db=(?P<database>\S*) user=(?P<user>\S*) app=\[(?P<application>.*?)\] )?"
    r"(?P<level>[A-Z0-9]+):  (?P<message>.*)$"
)
# log_statement output: simple protocol logs "statement: ...", the extended protocol (psycopg
# with parameters, prepared statements) logs "execute <name>: ...".
STATEMENT_RE = re.compile(r"^(?:statement|execute [^:]*): (?P<sql>.*)$", re.DOTALL)

# Variables libpq reads would silently redirect initdb, pg_ctl and psql to another server or
# data directory.
_LIBPQ_ENV = (
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGDATA",
    "PGSSLMODE",
    "PGTZ",
    "PGCLIENTENCODING",
)


class PostgresNotFound(RuntimeError):
    """The PostgreSQL server programs are not installed where we look for them."""


class ClusterError(RuntimeError):
    """The throwaway cluster could not be created, started, stopped or used."""


@dataclasses.dataclass(frozen=True)
class PgBinaries:
    initdb: Path
    pg_ctl: Path
    postgres: Path

    @property
    def bindir(self) -> Path:
        return self.pg_ctl.parent


@dataclasses.dataclass(frozen=True)
class LogEntry:
    """One server log message; continuation lines of a multi-line message are joined in."""

    timestamp: str
    pid: int
    database: str | None
    user: str | None
    application: str | None
    level: str
    message: str
    raw: tuple[str, ...] = ()

    @property
    def statement(self) -> str | None:
        """The SQL text when this entry is a ``log_statement`` record, else None."""
        if self.level != "LOG":
            return None
        match = STATEMENT_RE.match(self.message)
        return match.group("sql") if match else None

    @property
    def from_harness(self) -> bool:
        return self.application == HARNESS_APPLICATION_NAME


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin: compare versions numerically, so 9.6 < 10 < 15.
    parts = re.findall(r"\d+", path.parent.name)
    return tuple(int(p) for p in parts) if parts else (-1,)


def find_binaries(search_path: str | None = None) -> PgBinaries:
    """Locate initdb, pg_ctl and postgres: PATH first, then the highest /usr/lib/postgresql/*.

    The three must come from one installation: mixing major versions gives a data directory
    that the server refuses to open.
    """
    on_path = [shutil.which(name, path=search_path) for name in SERVER_PROGRAMS]
    if all(on_path):
        # PATH entries are often symlinks (Debian's /usr/local/bin -> /usr/lib/postgresql/N);
        # resolve them so the three are checked and reported from their real directory.
        paths = [Path(p).resolve() for p in on_path if p]
        if len({p.parent for p in paths}) == 1:
            return PgBinaries(*paths)
    candidates = sorted(
        (Path(p) for p in glob.glob(VERSIONED_BIN_GLOB)), key=_version_key, reverse=True
    )
    for bindir in candidates:
        paths = [bindir / name for name in SERVER_PROGRAMS]
        if all(p.is_file() and os.access(p, os.X_OK) for p in paths):
            return PgBinaries(*paths)
    if all(on_path):
        # Spread over several directories but nothing better exists: let initdb/pg_ctl tell.
        return PgBinaries(*(Path(p) for p in on_path if p))
    raise PostgresNotFound(
        "PostgreSQL server programs (initdb, pg_ctl, postgres) not found on PATH or in "
        f"{VERSIONED_BIN_GLOB}"
    )


def find_psql(binaries: PgBinaries | None = None) -> Path:
    for candidate in (
        binaries.bindir / "psql" if binaries else None,
        shutil.which("psql"),
        "/usr/bin/psql",
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise PostgresNotFound("psql not found next to pg_ctl, on PATH or at /usr/bin/psql")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LIBPQ_ENV}
    # English, untranslated messages: tests and error reports match on them.
    env["LC_MESSAGES"] = "C"
    env.pop("LANGUAGE", None)
    return env


class PgCluster:
    """A private PostgreSQL cluster in a temporary directory.

    Use as a context manager, or call :meth:`start` and, at the end, :meth:`cleanup`.
    """

    def __init__(
        self,
        *,
        fsync: bool = False,
        base_dir: str | os.PathLike[str] | None = None,
        binaries: PgBinaries | None = None,
        os_user: str = "postgres",
        extra_settings: dict[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.binaries = binaries or find_binaries()
        self.psql = find_psql(self.binaries)
        self.fsync = fsync
        self.extra_settings = dict(extra_settings or {})
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.superuser = "postgres"
        self.port: int | None = None
        self._base_dir = base_dir
        self._as_root = os.geteuid() == 0
        self._os_user = os_user
        self._root: Path | None = None
        self._running = False
        self._server_version: int | None = None

    # -- layout --------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        if self._root is None:
            raise ClusterError("cluster has not been created yet (call start())")
        return self._root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log_path(self) -> Path:
        """The server log: every statement received (log_statement=all), errors, startup."""
        return self.root / "server.log"

    @property
    def running(self) -> bool:
        return self._running

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> PgCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def start(self) -> None:
        """Create the cluster on first use, then start the server and wait until it accepts."""
        if self._running:
            return
        if self._root is None:
            self._create()
        first_start = self.port is None
        # A port picked by free_port() can be taken by someone else before the server binds
        # it; on a first start, simply pick another. A restart must keep its port because
        # open URLs point at it.
        attempts = 3 if first_start else 1
        for attempt in range(attempts):
            if first_start:
                self.port = free_port(self.host)
            self._write_port_setting()
            try:
                self._pg_ctl_start()
                break
            except ClusterError as exc:
                if attempt + 1 < attempts and "could not bind" in str(exc):
                    continue
                raise
        self._running = True
        self._wait_until_ready()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server, keeping the data directory so that :meth:`start` can resume.

        ``mode="immediate"`` stops without a shutdown checkpoint, the way a crash would: the
        next start runs crash recovery.
        """
        if not self._running:
            return
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown pg_ctl stop mode {mode!r}")
        self._run_server_program(
            [str(self.binaries.pg_ctl), "stop", "-D", str(self.data_dir), "-m", mode, "-w"],
            what=f"pg_ctl stop -m {mode}",
        )
        self._running = False

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port and data directory."""
        self.stop(mode)
        self.start()

    def cleanup(self) -> None:
        """Stop the server if it runs and delete everything it wrote. Safe to call twice."""
        try:
            if self._running:
                try:
                    self.stop("fast")
                except ClusterError:
                    # The directory must go whatever happened; a server that will not stop
                    # politely is stopped the crash way before its files are deleted.
                    with contextlib.suppress(ClusterError):
                        self.stop("immediate")
        finally:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None
                self._running = False

    # -- SQL helpers ---------------------------------------------------------------------

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL for ``dbname`` (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.superuser}@{self.host}:{self._port()}/{dbname}"

    def conninfo(self, dbname: str = "postgres", application_name: str | None = None) -> str:
        parts = [
            f"host={self.host}",
            f"port={self._port()}",
            f"user={self.superuser}",
            f"dbname={dbname}",
            f"application_name={application_name or HARNESS_APPLICATION_NAME}",
        ]
        return " ".join(parts)

    @contextlib.contextmanager
    def connect(self, dbname: str = "postgres") -> Iterator[psycopg.Connection[Any]]:
        """An autocommit harness connection (marked so log readers can leave it out)."""
        with psycopg.connect(self.conninfo(dbname), autocommit=True, connect_timeout=10) as conn:
            yield conn

    def execute(self, statement: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement as the superuser, autocommit; return its rows (if any)."""
        with self.connect(dbname) as conn, conn.cursor() as cur:
            cur.execute(statement.encode())
            return list(cur.fetchall()) if cur.description else []

    @property
    def server_version(self) -> int:
        if self._server_version is None:
            with self.connect() as conn:
                self._server_version = conn.info.server_version
        return self._server_version

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE ``name`` (optionally as a copy of ``template``); returns the name."""
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
        try:
            with self.connect() as conn:
                conn.execute(stmt)
        except psycopg.Error as exc:
            raise ClusterError(
                f"CREATE DATABASE {name}"
                + (f" TEMPLATE {template}" if template else "")
                + f" failed: {exc}"
                + (
                    " (a template cannot be copied while anything is connected to it)"
                    if template
                    else ""
                )
                + self._log_tail_text()
            ) from exc
        return name

    def drop_database(self, name: str, *, missing_ok: bool = True) -> None:
        """DROP DATABASE, disconnecting whatever still holds a connection to it.

        Code under test may leave a pooled connection open; that must not turn into a
        "database is being accessed by other users" error in an unrelated teardown.
        """
        stmt = sql.SQL("DROP DATABASE {}{}").format(
            sql.SQL("IF EXISTS ") if missing_ok else sql.SQL(""), sql.Identifier(name)
        )
        if self.server_version >= 130000:
            stmt = sql.SQL("{} WITH (FORCE)").format(stmt)
        try:
            with self.connect() as conn:
                conn.execute(stmt)
        except psycopg.Error as exc:
            raise ClusterError(f"DROP DATABASE {name} failed: {exc}") from exc

    def unique_database_name(self, prefix: str = "t") -> str:
        return f"{prefix}_{uuid.uuid4().hex[:12]}"

    def load_sql_file(self, dbname: str, path: str | os.PathLike[str]) -> None:
        """Run a SQL script with psql, stopping at its first error."""
        script = Path(path)
        if not script.is_file():
            raise ClusterError(f"SQL file not found: {script}")
        cmd = [
            str(self.psql),
            "-X",  # a developer's ~/.psqlrc must not change what the script does
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-h",
            self.host,
            "-p",
            str(self._port()),
            "-U",
            self.superuser,
            "-d",
            dbname,
            "-f",
            str(script),
        ]
        env = _clean_env()
        env["PGAPPNAME"] = HARNESS_APPLICATION_NAME
        env["PGCONNECT_TIMEOUT"] = "10"
        proc = subprocess.run(
            cmd,
            env=env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        if proc.returncode != 0:
            raise ClusterError(
                f"loading {script} into database {dbname!r} failed "
                f"(psql exit {proc.returncode}):\n{proc.stderr.strip() or proc.stdout.strip()}"
                + self._log_tail_text()
            )

    # -- the server log ------------------------------------------------------------------

    def log_position(self) -> int:
        """An opaque bookmark: pass it to :meth:`read_log` to get what was logged after it."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def read_log(self, since: int = 0) -> str:
        """Complete log lines written after the ``since`` bookmark."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(since)
                data = fh.read()
        except FileNotFoundError:
            return ""
        # A backend may be half-way through writing a line; only whole lines are reported.
        end = data.rfind(b"\n")
        return data[: end + 1].decode("utf-8", errors="replace") if end >= 0 else ""

    def log_entries(self, since: int = 0) -> list[LogEntry]:
        return parse_log(self.read_log(since))

    def statements_logged_since(
        self,
        since: int,
        *,
        dbname: str | None = None,
        include_harness: bool = False,
    ) -> list[str]:
        """SQL texts the server received after the bookmark, in arrival order."""
        out = []
        for entry in self.log_entries(since):
            if entry.statement is None:
                continue
            if dbname is not None and entry.database != dbname:
                continue
            if entry.from_harness and not include_harness:
                continue
            out.append(entry.statement)
        return out

    def log_tail(self, lines: int = 40) -> str:
        text = self.read_log(0) if self._root is not None else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- internals -----------------------------------------------------------------------

    def _port(self) -> int:
        if self.port is None:
            raise ClusterError("cluster has not been started yet (call start())")
        return self.port

    def _log_tail_text(self) -> str:
        tail = self.log_tail()
        return f"\n--- server log tail ({self.log_path}) ---\n{tail}" if tail else ""

    def _create(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="wfsdk-pg-", dir=self._base_dir))
        self._root = root
        try:
            self.socket_dir.mkdir()
            if self._as_root:
                self._hand_over_to_os_user(root)
            self._run_server_program(
                [
                    str(self.binaries.initdb),
                    "-D",
                    str(self.data_dir),
                    "-A",
                    "trust",
                    "-U",
                    self.superuser,
                    "-E",
                    "UTF8",
                    # C collation: the same ordering on every machine, whatever its locales.
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                what="initdb",
            )
            self._write_settings()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            self._root = None
            raise

    def _hand_over_to_os_user(self, root: Path) -> None:
        try:
            pw = pwd.getpwnam(self._os_user)
        except KeyError:
            raise ClusterError(
                f"running as root, and PostgreSQL refuses to run as root, but there is no "
                f"{self._os_user!r} user to run it as; create one (the Debian 'postgresql' "
                f"package does, or: useradd --system {self._os_user})"
            ) from None
        for path in (root, self.socket_dir):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        # The server user must be able to reach the directory; a TMPDIR under /root is not.
        probe = subprocess.run(
            [*self._as_os_user(), "test", "-w", str(root)],
            capture_output=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if probe.returncode != 0:
            raise ClusterError(
                f"the {self._os_user!r} user cannot write to {root}: one of its parent "
                f"directories is not accessible to it; pass base_dir= or set TMPDIR to a "
                f"world-accessible directory such as /tmp"
            )

    def _as_os_user(self) -> list[str]:
        if not self._as_root:
            return []
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        if not os.access(runuser, os.X_OK):
            raise ClusterError(
                "running as root: PostgreSQL must run as another user, and runuser "
                "(util-linux) was not found to switch to it"
            )
        return [runuser, "-u", self._os_user, "--"]

    def _settings(self) -> dict[str, str]:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "log_destination": "'stderr'",
            "logging_collector": "off",
            "log_statement": "'all'",
            "log_line_prefix": f"'{LOG_LINE_PREFIX}'",
            "log_timezone": "'UTC'",
            "timezone": "'UTC'",
            "lc_messages": "'C'",
            "max_connections": "100",
        }
        if self.fsync:
            settings.update(fsync="on", synchronous_commit="on", full_page_writes="on")
        else:
            # Nothing here must survive a power cut; crash tests pass fsync=True.
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        settings.update(self.extra_settings)
        return settings

    def _write_settings(self) -> None:
        conf = self.data_dir / "postgresql.conf"
        lines = ["", "# throwaway test cluster"]
        lines += [f"{key} = {value}" for key, value in self._settings().items()]
        with conf.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    def _write_port_setting(self) -> None:
        # The port line is kept last and replaced on each start, so that a retry after a
        # failed bind does not pile up settings.
        conf = self.data_dir / "postgresql.conf"
        text = conf.read_text(encoding="utf-8")
        marker = "# test cluster port\n"
        head = text.split(marker, 1)[0]
        conf.write_text(f"{head}{marker}port = {self._port()}\n", encoding="utf-8")

    def _pg_ctl_start(self) -> None:
        self._run_server_program(
            [
                str(self.binaries.pg_ctl),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                str(int(self.start_timeout)),
            ],
            what=f"pg_ctl start (port {self.port})",
        )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with self.connect() as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.05)
        raise ClusterError(
            f"server on {self.host}:{self.port} did not accept connections within "
            f"{self.start_timeout:.0f}s: {last_error}" + self._log_tail_text()
        )

    def _run_server_program(self, cmd: Sequence[str], *, what: str) -> None:
        full = [*self._as_os_user(), *cmd]
        try:
            proc = subprocess.run(
                full,
                env=_clean_env(),
                # The server user may not be allowed into the caller's working directory.
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.start_timeout + 30,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(
                f"{what} did not finish within {exc.timeout:.0f}s: {' '.join(full)}"
                + self._log_tail_text()
            ) from exc
        if proc.returncode != 0:
            output = "\n".join(s.strip() for s in (proc.stdout, proc.stderr) if s.strip())
            raise ClusterError(
                f"{what} failed (exit {proc.returncode}): {' '.join(full)}\n{output}"
                + self._log_tail_text()
            )


def parse_log(text: str) -> list[LogEntry]:
    """Split server log text into messages, joining multi-line statements back together."""
    entries: list[LogEntry] = []
    current: dict[str, Any] | None = None
    lines: list[str] = []
    raw_lines: list[str] = []

    def flush() -> None:
        if current is not None:
            entries.append(LogEntry(message="\n".join(lines), raw=tuple(raw_lines), **current))

    for raw in text.splitlines():
        match = LOG_LINE_RE.match(raw)
        if match is None:
            # Statements spanning several lines continue without a prefix (tab-indented).
            if current is not None:
                lines.append(raw[1:] if raw.startswith("\t") else raw)
                raw_lines.append(raw)
            continue
        flush()
        current = {
            "timestamp": match["timestamp"],
            "pid": int(match["pid"]),
            "database": match["database"],
            "user": match["user"],
            "application": match["application"],
            "level": match["level"],
        }
        lines = [match["message"]]
        raw_lines = [raw]
    flush()
    return entries
