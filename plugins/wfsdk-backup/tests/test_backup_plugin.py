"""wfsdk-backup as installed: durable before commit, marked after, restored through the door."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import wfsdk_backup
from click.testing import CliRunner
from policy_support import (
    ALLOW_EVERYTHING,
    TABLES,
    Faults,
    Observer,
    build_demo,
    open_kernel,
    records,
    write_rules,
)
from wfsdk_backup import BackupError, RestoreConflictError, load_backup, restore, restore_access

import wfsdk
from wfsdk import errors
from wfsdk.cli import cli
from wfsdk.journal import Journal
from wfsdk.plugins import load_plugins
from wfsdk.values import ChangeRecord, Declaration, Operation, Vote, WriteIntent

from kernel_support import Voter, checksum, raw

PLUGIN = ["wfsdk-backup"]
TESTS = Path(__file__).resolve().parents[3] / "tests"


@pytest.fixture
def demo(db_url: str, tmp_path: Path) -> tuple[str, Path]:
    return db_url, build_demo(db_url, tmp_path)


def backup_kernel(demo: tuple[str, Path], *extra: object, **kw: Any) -> wfsdk.Kernel:
    url, contract = demo
    return open_kernel(url, contract, plugins=PLUGIN, extra=[Voter(Vote.allow()), *extra], **kw)


def committed(result: wfsdk.QueryResult) -> str:
    assert result.change is not None
    return result.change.change_id


def statuses(journal: Journal, change_id: str) -> list[str]:
    return [r["status"] for r in records(journal, "backup-status", change_id=change_id)]


def test_found_through_its_entry_point() -> None:
    (info,) = [p for p in load_plugins(PLUGIN, []).plugins if not p.builtin]
    assert (info.name, info.distribution) == ("wfsdk-backup", "wfsdk-backup")
    assert set(info.hooks) == {
        "before_write",
        "before_commit",
        "after_write",
        "after_rollback",
        "register_commands",
    }


def test_disabled_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WFSDK_PLUGINS")
    monkeypatch.setenv("WFSDK_DISABLE_PLUGINS", "wfsdk-backup")
    assert "wfsdk-backup" not in {p.name for p in load_plugins().plugins}


class SeesTheBackup:
    """Runs after every other before_commit: the backup must already be on disk."""

    def __init__(self) -> None:
        self.seen: list[tuple[bool, list[str]]] = []

    @wfsdk.hookimpl(trylast=True)
    def before_commit(self, intent: WriteIntent, journal: Journal) -> None:
        on_disk = (journal.directory / "backups" / f"{intent.change_id}.json").is_file()
        self.seen.append((on_disk, statuses(journal, intent.change_id)))


def test_the_backup_is_on_disk_before_the_commit(demo: tuple[str, Path]) -> None:
    probe = SeesTheBackup()
    with backup_kernel(demo, probe) as kernel:
        result = kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"status": "review"}, actor="ann", reason="ready"
        )
        change = result.change
        assert change is not None
        assert probe.seen == [(True, ["prepared"])]
        assert change.backup_id == change.change_id
        assert statuses(kernel.journal, change.change_id) == ["prepared", "committed"]
        backup = load_backup(kernel.journal, change.change_id)
    assert backup.status == "committed" and backup.operation is Operation.UPDATE
    assert (backup.table, backup.key_columns) == ("post_workflow_stage", ("id",))
    assert (backup.actor, backup.reason, backup.caller) == ("ann", "ready", "host")
    (row,) = backup.rows
    assert row.before is not None and row.after is not None
    assert row.before["status"] == "in_progress" and row.after["status"] == "review"
    # The whole before-image, so a restore has every value it could need.
    assert set(row.before) == {
        "id",
        "post_id",
        "stage_id",
        "started_at",
        "completed_at",
        "status",
        "input_field",
        "output_field",
    }


def test_update_insert_delete_restored_in_reverse(demo: tuple[str, Path]) -> None:
    url, _ = demo
    start = checksum(url, TABLES)
    with backup_kernel(demo) as kernel:
        host = kernel.host
        ids: list[str] = []
        result = host.update(
            "post_development", {"id": 1}, {"main_title": "Balcony tomatoes"}, actor="a", reason="r"
        )
        ids.append(committed(result))
        inserted = host.insert("note", {"body": "one", "status": "new"}, actor="a", reason="r")
        assert inserted.change is not None
        ids.append(inserted.change.change_id)
        new_id = inserted.change.rows[0].key["id"]
        host.insert("note", {"body": "two"}, actor="a", reason="r")
        deleted = host.delete("note", {"id": new_id}, actor="a", reason="r")
        assert deleted.change is not None
        ids.append(deleted.change.change_id)
        when = dt.datetime(2026, 4, 1, 8, 0, 0, 250000)
        result = host.update(
            "post_workflow_stage",
            {"id": 3},
            {"completed_at": when, "status": "done"},
            actor="a",
            reason="r",
        )
        ids.append(committed(result))
        undone: list[str] = []
        for backup_id in reversed(ids):
            restored = restore(kernel, backup_id, actor="restorer")
            undone += restored.change_ids
    # The second insert was never restored: take it away by hand, then compare.
    raw(url, "DELETE FROM note WHERE body = 'two'")
    assert checksum(url, TABLES) == start
    assert len(undone) == 4


def test_restore_is_a_guarded_write_of_its_own(demo: tuple[str, Path]) -> None:
    observer = Observer()
    with backup_kernel(demo, observer) as kernel:
        first = kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"status": "review"}, actor="ann", reason="r"
        )
        assert first.change is not None
        result = restore(kernel, first.change.change_id, actor="ops")
        (change_id,) = result.change_ids
        journal = kernel.journal
    restoring: ChangeRecord = observer.changes[-1]
    assert restoring.actor == "ops" and restoring.reason == f"restore of {first.change.change_id}"
    assert restoring.backup_id == change_id
    assert [i.reason for i in observer.intents][-1] == f"restore of {first.change.change_id}"
    before = load_backup(journal, change_id).rows[0].before
    assert before is not None and before["status"] == "review"


def test_restore_refuses_when_the_rows_changed_since(demo: tuple[str, Path]) -> None:
    url, _ = demo
    with backup_kernel(demo) as kernel:
        result = kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"status": "review"}, actor="ann", reason="r"
        )
        assert result.change is not None
        backup_id = result.change.change_id
        raw(url, "UPDATE post_workflow_stage SET status = 'changed by hand' WHERE id = 2")
        with pytest.raises(RestoreConflictError, match="changed by hand") as raised:
            restore(kernel, backup_id, actor="ops")
        (difference,) = raised.value.differences
        assert (difference.column, difference.expected, difference.current) == (
            "status",
            "review",
            "changed by hand",
        )
        assert raw(url, "SELECT status FROM post_workflow_stage WHERE id = 2")[0][0] == (
            "changed by hand"
        )
        restore(kernel, backup_id, actor="ops", force=True)
    assert raw(url, "SELECT status FROM post_workflow_stage WHERE id = 2")[0][0] == "in_progress"


def test_restore_of_a_delete_whose_key_came_back(demo: tuple[str, Path]) -> None:
    url, _ = demo
    with backup_kernel(demo) as kernel:
        inserted = kernel.host.insert("note", {"body": "x", "status": "s"}, actor="a", reason="r")
        assert inserted.change is not None
        key = inserted.change.rows[0].key
        deleted = kernel.host.delete("note", key, actor="a", reason="r")
        assert deleted.change is not None
        raw(url, "INSERT INTO note (id, body) VALUES (:i, 'squatter')", {"i": key["id"]})
        with pytest.raises(RestoreConflictError, match="a row with this key"):
            restore(kernel, deleted.change.change_id, actor="ops")
        restore(kernel, deleted.change.change_id, actor="ops", force=True)
    assert raw(url, "SELECT body, status FROM note") == [("x", "s")]


def test_restore_of_an_insert_whose_row_is_gone(demo: tuple[str, Path]) -> None:
    url, _ = demo
    with backup_kernel(demo) as kernel:
        inserted = kernel.host.insert("note", {"body": "x"}, actor="a", reason="r")
        assert inserted.change is not None
        raw(url, "DELETE FROM note")
        with pytest.raises(RestoreConflictError, match="gone"):
            restore(kernel, inserted.change.change_id, actor="ops")
        result = restore(kernel, inserted.change.change_id, actor="ops", force=True)
    assert result.results == () and result.plan.skipped


def test_a_rolled_back_change_has_nothing_to_restore(demo: tuple[str, Path]) -> None:
    url, _ = demo
    before = checksum(url, TABLES)
    observer = Observer()
    with backup_kernel(demo, Faults(url), observer) as kernel:
        with pytest.raises(errors.WriteDeniedError, match="injected failure"):
            kernel.host.update(
                "post_workflow_stage", {"id": 2}, {"status": "x"}, actor="a", reason="[fail-commit]"
            )
        (intent,) = observer.intents
        assert statuses(kernel.journal, intent.change_id) == ["prepared", "rolled-back"]
        with pytest.raises(BackupError, match="rolled back"):
            restore(kernel, intent.change_id, actor="ops")
    assert checksum(url, TABLES) == before


def test_an_insert_whose_commit_was_not_recorded_cannot_be_undone_blindly(
    demo: tuple[str, Path],
) -> None:
    class CrashesFirst:
        @wfsdk.hookimpl
        def after_write(self, change: ChangeRecord) -> None:
            raise RuntimeError("process killed")

    with backup_kernel(demo, CrashesFirst()) as kernel:
        with pytest.raises(errors.PluginHookError, match="is committed") as raised:
            kernel.host.insert("note", {"body": "x"}, actor="a", reason="r")
        assert raised.value.change_id is not None
        assert statuses(kernel.journal, raised.value.change_id) == ["prepared"]
        with pytest.raises(BackupError, match="keys of the inserted rows are not known"):
            restore(kernel, raised.value.change_id, actor="ops")


def test_redacted_values_are_never_written_back(demo: tuple[str, Path]) -> None:
    with backup_kernel(demo) as kernel:
        inserted = kernel.host.insert(
            "note", {"body": "x", "api_key": "sk-1"}, actor="a", reason="r"
        )
        assert inserted.change is not None
        deleted = kernel.host.delete("note", inserted.change.rows[0].key, actor="a", reason="r")
        assert deleted.change is not None
        with pytest.raises(BackupError, match=r"redacted value for note\.api_key"):
            restore(kernel, deleted.change.change_id, actor="ops")
        text = (
            kernel.journal.directory / "backups" / f"{deleted.change.change_id}.json"
        ).read_text()
    assert "sk-1" not in text


def test_dry_run_restore_changes_nothing(demo: tuple[str, Path]) -> None:
    url, _ = demo
    with backup_kernel(demo) as kernel:
        result = kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"status": "review"}, actor="a", reason="r"
        )
        assert result.change is not None
        after = checksum(url, TABLES)
        dry = restore(kernel, result.change.change_id, actor="ops", dry_run=True)
    assert checksum(url, TABLES) == after
    (preview,) = dry.results
    assert preview.would_commit and preview.change is None and dry.change_ids == ()


def test_restore_access_is_exactly_what_the_restore_writes(demo: tuple[str, Path]) -> None:
    with backup_kernel(demo) as kernel:
        update = kernel.host.update(
            "post_development",
            {"id": 2},
            {"main_title": "M", "intro_blurb": None},
            actor="a",
            reason="r",
        )
        insert = kernel.host.insert("note", {"body": "x"}, actor="a", reason="r")
        assert update.change and insert.change
        delete = kernel.host.delete("note", insert.change.rows[0].key, actor="a", reason="r")
        assert delete.change
        journal = kernel.journal
    # intro_blurb was NULL already: not changed, so not written back either.
    assert restore_access(load_backup(journal, update.change.change_id)) == Declaration(
        module="host", reads={"post_development"}, writes={"post_development": {"main_title"}}
    )
    assert restore_access(load_backup(journal, insert.change.change_id)) == Declaration(
        module="host", reads={"note"}, deletes={"note"}
    )
    assert restore_access(load_backup(journal, delete.change.change_id)) == Declaration(
        module="host", reads={"note"}, writes={"note": {"id", "body", "status", "api_key"}}
    )


# -- when no backup can be made, nothing changes ---------------------------------------


def test_an_unwritable_state_directory_refuses_the_write(
    demo: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = demo
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    before = checksum(url, TABLES)
    observer = Observer()
    kernel = backup_kernel(demo, observer, state_dir=blocker / "state")
    with kernel, pytest.raises(errors.WriteDeniedError, match="cannot back up: the state dir"):
        kernel.host.update("post_workflow_stage", {"id": 2}, {"status": "x"}, actor="a", reason="r")
    assert checksum(url, TABLES) == before
    assert observer.errors[-1].error_type == "WriteDeniedError"


def full_statvfs(path: str | os.PathLike[str]) -> os.statvfs_result:
    """What ``os.statvfs`` says of a file system with no block left."""
    real = list(REAL_STATVFS(path))
    real[3] = real[4] = 0  # f_bfree, f_bavail
    return os.statvfs_result(real)


REAL_STATVFS = os.statvfs


def test_a_full_disk_refuses_the_write(
    demo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = demo
    monkeypatch.setattr(os, "statvfs", full_statvfs)
    before = checksum(url, TABLES)
    with backup_kernel(demo) as kernel, pytest.raises(errors.WriteDeniedError, match="is full"):
        kernel.host.update("post_workflow_stage", {"id": 2}, {"status": "x"}, actor="a", reason="r")
    assert checksum(url, TABLES) == before


def test_a_write_failure_while_backing_up_rolls_back(demo: tuple[str, Path]) -> None:
    url, _ = demo
    observer = Observer()
    before = checksum(url, TABLES)
    with backup_kernel(demo, observer) as kernel:
        # The probe passes; the backup itself then meets a full device: /dev/full answers
        # every write with ENOSPC.
        status = kernel.journal.stream_path("backup-status")
        status.parent.mkdir(parents=True, exist_ok=True)
        status.symlink_to("/dev/full")
        try:
            with pytest.raises(errors.WriteDeniedError, match="No space left"):
                kernel.host.update(
                    "post_workflow_stage", {"id": 2}, {"status": "x"}, actor="a", reason="r"
                )
        finally:
            status.unlink()
        assert not records(kernel.journal, "backup-status")
        assert kernel.journal.documents("backups") == []
    assert checksum(url, TABLES) == before
    phases = [(e.phase, e.transaction_state) for e in observer.errors]
    assert ("write", "rolled back") in phases


FULL_DISK = """
import json, sys
from pathlib import Path
from typing import Any

sys.path.insert(0, sys.argv[4])
from kernel_support import Voter
from policy_support import open_kernel
from wfsdk import errors
from wfsdk.values import Vote

filler = Path(sys.argv[3]) / "filler"
try:
    with filler.open("wb") as handle:
        while True:
            handle.write(b"x" * 1024)
            handle.flush()
except OSError:
    pass
kernel = open_kernel(
    sys.argv[1], Path(sys.argv[2]), plugins=["wfsdk-backup"], extra=[Voter(Vote.allow())],
    state_dir=Path(sys.argv[3]) / "state",
)
with kernel:
    try:
        kernel.host.update("post_workflow_stage", {"id": 2}, {"status": "x"}, actor="a", reason="r")
        print("RESULT committed")
    except errors.WriteDeniedError as exc:
        print("RESULT refused", exc)
"""


def test_a_really_full_filesystem_refuses_the_write(sqlite_url: str, tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    contract = build_demo(sqlite_url, tmp_path)
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = tmp_path / "full.py"
    script.write_text(textwrap.dedent(FULL_DISK))
    before = checksum(sqlite_url, TABLES)
    shell = (
        f"mount -t tmpfs -o size=256k tmpfs {mount} && "
        f"exec {sys.executable} {script} {sqlite_url} {contract} {mount} {TESTS}"
    )
    result = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", shell],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WFSDK_PLUGINS": ""},
    )
    if "unshare:" in result.stderr or "mount:" in result.stderr:
        pytest.skip(f"cannot make a private mount here: {result.stderr.strip()}")
    assert "RESULT refused" in result.stdout and "is full" in result.stdout, result.stderr
    assert checksum(sqlite_url, TABLES) == before


# -- wfsdk backups ---------------------------------------------------------------------


@pytest.fixture
def cli_env(demo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A database with one committed change, and the command line pointed at it."""
    url, contract = demo
    monkeypatch.setenv("WFSDK_PLUGINS", "wfsdk-backup")
    monkeypatch.setenv("WFSDK_DSN", url)
    monkeypatch.setenv("WFSDK_CONTRACT", str(contract))
    with backup_kernel(demo) as kernel:
        result = kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"status": "review"}, actor="ann", reason="ready"
        )
    assert result.change is not None
    return url, Path(os.environ["WFSDK_STATE_DIR"]) / result.change.change_id


@pytest.fixture
def may_write(cli_env: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Approval for the restores the command line makes: it loads its plugins from the
    environment, so the approver must be an installed plugin."""
    pytest.importorskip(
        "wfsdk_approval", reason="restoring from the command line needs an approver"
    )
    rules = write_rules(tmp_path, ALLOW_EVERYTHING)
    monkeypatch.setenv("WFSDK_PLUGINS", "wfsdk-backup,wfsdk-approval")
    monkeypatch.setenv("WFSDK_APPROVAL_MODE", "rules")
    monkeypatch.setenv("WFSDK_APPROVAL_RULES", str(rules))
    return rules


def run_cli(*args: str) -> tuple[int, str, str]:
    wfsdk_backup.register_commands(cli)
    result = CliRunner().invoke(cli, ["backups", *args])
    return result.exit_code, result.stdout, result.stderr


def test_backups_list_and_show(cli_env: tuple[str, Path]) -> None:
    _, marker = cli_env
    backup_id = marker.name
    code, out, _ = run_cli("list")
    assert code == 0 and backup_id in out and "committed" in out and "by ann: ready" in out
    code, out, _ = run_cli("list", "--format", "json")
    (listed,) = json.loads(out)
    assert listed["id"] == backup_id and listed["rows"] == 1
    code, out, _ = run_cli("list", "--table", "note")
    assert out.strip() == "no backups"
    code, out, _ = run_cli("show", backup_id)
    assert "status: 'in_progress' -> 'review'" in out and "prepared" in out
    code, out, _ = run_cli("show", backup_id, "--format", "json")
    assert [h["status"] for h in json.loads(out)["history"]] == ["prepared", "committed"]
    code, _, err = run_cli("show", "no-such-backup")
    assert code == 2 and "no backups named 'no-such-backup'" in err


def test_backups_restore(cli_env: tuple[str, Path], may_write: Path) -> None:
    url, marker = cli_env
    backup_id = marker.name
    code, out, _ = run_cli("restore", backup_id, "--dry-run", "--actor", "ops")
    assert code == 0 and "would commit" in out and "status = 'in_progress'" in out
    raw(url, "UPDATE post_workflow_stage SET status = 'hand' WHERE id = 2")
    code, out, err = run_cli("restore", backup_id, "--actor", "ops")
    assert code == 3 and "it is now 'hand'" in err and "--force" in err
    assert raw(url, "SELECT status FROM post_workflow_stage WHERE id = 2")[0][0] == "hand"
    code, out, err = run_cli("restore", backup_id, "--actor", "ops", "--force")
    assert code == 0, err
    assert "it is now 'hand'" in err and "restored: change" in out
    assert raw(url, "SELECT status FROM post_workflow_stage WHERE id = 2")[0][0] == "in_progress"
    code, out, _ = run_cli("list")
    assert out.count("committed") == 2 and f"restore of {backup_id}" in out


def test_backups_restore_refused_by_approval(
    cli_env: tuple[str, Path], may_write: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, marker = cli_env
    monkeypatch.setenv("WFSDK_APPROVAL_RULES", str(write_rules(tmp_path, "", "none.toml")))
    code, _, err = run_cli("restore", marker.name)
    assert code == 3 and "nothing is allowed" in err
    assert raw(url, "SELECT status FROM post_workflow_stage WHERE id = 2")[0][0] == "review"


def test_backups_command_is_registered_through_the_entry_point(cli_env: tuple[str, Path]) -> None:
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-c", "from wfsdk.cli import main; main()", "backups", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert cli_env[1].name in result.stdout
