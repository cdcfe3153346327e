"""The world a plugin under test lives in: a demo database, a journal, an empty home.

Every check runs in a fresh workspace (the first import of the plugin too, so
that whatever it does on import happens there): a copy of the demo SQLite database
(``WFSDK_DSN`` points at it, so a plugin that connects on its own reaches it
and nothing else), a journal directory (``WFSDK_STATE_DIR``), and empty
working, home and temporary directories, so that whatever a plugin writes
lands where the suite can see it and nowhere in the author's checkout.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import attrs
import pytest

from wfsdk.demo import data
from wfsdk.demo import schema as demo_schema
from wfsdk.journal import Journal
from wfsdk.values import Declaration

#: The schema document describing the demo database (shipped in the package).
DEMO_CONTRACT = Path(data.__file__).with_name("schema.md")
DATABASE_NAME = "blog-demo.sqlite"
_SIDECARS = ("-journal", "-wal", "-shm")

#: What the suite's own host code may do through the kernel: read everything, write workflow state.
HOST_ACCESS = Declaration(
    module="host",
    reads=frozenset(demo_schema.metadata.tables),
    writes={
        "post_workflow_stage": {"status", "started_at", "completed_at"},
        "post_development": {"basic_idea", "provisional_title"},
    },
)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.as_posix()}"


def build_template(directory: Path) -> Path:
    """The demo database, built once per run and copied for every check."""
    path = directory / DATABASE_NAME
    if not path.exists():
        data.build(sqlite_url(path)).dispose()
    return path


@attrs.frozen(repr=False)
class Workspace:
    root: Path
    database: Path
    journal_dir: Path
    cwd: Path
    home: Path
    tmp: Path

    def __repr__(self) -> str:
        return f"<wfsdk contract workspace {self.root}>"

    @property
    def url(self) -> str:
        return sqlite_url(self.database)

    def journal(self) -> Journal:
        return Journal(self.journal_dir)

    def fingerprint(self) -> str:
        """Every byte of the database file, and which side files exist.

        Bytes, not rows: an ``UPDATE`` that rewrites a row with its own values
        is still a write, and it changes the file.
        """
        digest = hashlib.sha256(self.database.read_bytes())
        for suffix in _SIDECARS:
            side = self.database.with_name(self.database.name + suffix)
            if side.exists():
                digest.update(suffix.encode())
                digest.update(side.read_bytes())
        return digest.hexdigest()

    def watched_directories(self) -> dict[str, Path]:
        return {
            "the journal directory": self.journal_dir,
            "the working directory": self.cwd,
            "the home directory": self.home,
            "the temporary directory": self.tmp,
        }


def create(root: Path, template: Path) -> Workspace:
    directories = {name: root / name for name in ("journal", "cwd", "home", "tmp")}
    for path in directories.values():
        path.mkdir(parents=True)
    database = root / DATABASE_NAME
    shutil.copyfile(template, database)
    return Workspace(
        root=root,
        database=database,
        journal_dir=directories["journal"],
        cwd=directories["cwd"],
        home=directories["home"],
        tmp=directories["tmp"],
    )


def enter(
    monkeypatch: pytest.MonkeyPatch,
    workspace: Workspace,
    *,
    plugins: str,
    settings: Mapping[str, str],
) -> None:
    """Point the process at the workspace; ``monkeypatch`` undoes it after the check."""
    for name in ("WFSDK_DISABLE_PLUGINS", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WFSDK_DSN", workspace.url)
    monkeypatch.setenv("WFSDK_CONTRACT", str(DEMO_CONTRACT))
    monkeypatch.setenv("WFSDK_STATE_DIR", str(workspace.journal_dir))
    monkeypatch.setenv("WFSDK_PLUGINS", plugins)
    monkeypatch.setenv("HOME", str(workspace.home))
    monkeypatch.setenv("TMPDIR", str(workspace.tmp))
    # tempfile caches the directory it chose first; make it choose again.
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.chdir(workspace.cwd)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
