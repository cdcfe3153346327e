"""wfsdk-audit as installed: found by its entry point, one record per event, ``wfsdk audit``."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import wfsdk_audit
from click.testing import CliRunner
from policy_support import build_demo, open_kernel, records

import wfsdk
from wfsdk import errors
from wfsdk.cli import cli
from wfsdk.journal import Journal
from wfsdk.plugins import load_plugins
from wfsdk.values import Vote

from kernel_support import Voter, checksum, contract_with

PLUGIN = ["wfsdk-audit"]


@pytest.fixture
def demo(db_url: str, tmp_path: Path) -> tuple[str, Path]:
    return db_url, build_demo(db_url, tmp_path)


def audit_kernel(demo: tuple[str, Path], *extra: object) -> wfsdk.Kernel:
    url, contract = demo
    return open_kernel(url, contract, plugins=PLUGIN, extra=[Voter(Vote.allow("ok")), *extra])


def test_found_through_its_entry_point() -> None:
    (info,) = [p for p in load_plugins(PLUGIN, []).plugins if not p.builtin]
    assert (info.name, info.distribution, info.version) == ("wfsdk-audit", "wfsdk-audit", "0.1.0")
    assert set(info.hooks) == {
        "on_read",
        "after_write",
        "on_schema_mismatch",
        "on_error",
        "register_commands",
    }


def test_disabled_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WFSDK_PLUGINS")
    monkeypatch.setenv("WFSDK_DISABLE_PLUGINS", "wfsdk-audit")
    names = {p.name for p in load_plugins().plugins}
    assert "wfsdk-audit" not in names


def test_one_record_per_read_change_and_error(demo: tuple[str, Path]) -> None:
    with audit_kernel(demo) as kernel:
        kernel.execute_query("SELECT id, title FROM post ORDER BY id")
        result = kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"status": "review"}, actor="ann", reason="ready"
        )
        with pytest.raises(errors.StatementRefusedError):
            kernel.execute_query("DROP TABLE post")
        journal = kernel.journal
    assert result.change is not None
    kinds = [r["kind"] for r in journal.records("audit")]
    # The update previews with a read of its own, through the kernel, not through on_read.
    assert kinds == ["read", "change", "error"]
    read, change, error = journal.records("audit")
    assert read["caller"] == "host" and read["tables"] == ["post"] and read["rows"] == 2
    assert read["duration_s"] >= 0 and read["who"]["pid"] == os.getpid()
    assert change["change_id"] == result.change.change_id
    assert change["table"] == "post_workflow_stage" and change["operation"] == "update"
    (row,) = change["rows"]
    assert row["key"] == {"id": 2} and row["changed"] == ["status"]
    assert row["before"]["status"] == "in_progress" and row["after"]["status"] == "review"
    assert change["votes"] == [{"voter": "Voter-0", "decision": "allow", "reason": "ok"}]
    assert change["actor"] == "ann" and change["reason"] == "ready"
    assert error["error_type"] == "StatementRefusedError" and error["phase"] == "guard"


def test_values_are_kept_exactly(pg_url: str, tmp_path: Path) -> None:
    contract = build_demo(pg_url, tmp_path)
    when = dt.datetime(2026, 5, 1, 12, 0, 0, 123456)
    with audit_kernel((pg_url, contract)) as kernel:
        kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"completed_at": when}, actor="a", reason="r"
        )
        (change,) = records(kernel.journal, "audit", kind="change")
    (row,) = change["rows"]
    assert row["after"]["completed_at"] == when and row["before"]["completed_at"] is None
    assert isinstance(row["before"]["started_at"], dt.datetime)


def test_a_refused_write_leaves_an_error_and_no_change(demo: tuple[str, Path]) -> None:
    url, contract = demo
    before = checksum(url, ["post_workflow_stage"])
    kernel = open_kernel(url, contract, plugins=PLUGIN, extra=[Voter(Vote.deny("not today"))])
    with kernel, pytest.raises(errors.WriteDeniedError):
        kernel.host.update("post_workflow_stage", {"id": 2}, {"status": "x"}, actor="a", reason="r")
    assert checksum(url, ["post_workflow_stage"]) == before
    assert not records(kernel.journal, "audit", kind="change")
    (error,) = records(kernel.journal, "audit", kind="error")
    assert "not today" in error["message"] and error["change_id"]


def test_schema_mismatch_is_recorded(sqlite_url: str, tmp_path: Path) -> None:
    from wfsdk.demo import data

    data.build(sqlite_url).dispose()
    contract = contract_with(
        tmp_path, "\n## Table: ghost\n\n| Column | Type |\n|---|---|\n| id | INTEGER |\n"
    )
    with pytest.raises(errors.SchemaMismatchError):
        wfsdk.connect(sqlite_url, contract=contract, plugins=PLUGIN)
    journal = Journal(os.environ["WFSDK_STATE_DIR"])
    (mismatch,) = records(journal, "audit", kind="mismatch")
    assert {d["table"] for d in mismatch["differences"]} == {"ghost"}
    assert mismatch["contract"].endswith("schema.md")
    assert records(journal, "audit", kind="error")[-1]["error_type"] == "SchemaMismatchError"


def test_secrets_are_masked(demo: tuple[str, Path]) -> None:
    leaky = Voter(None, raises=RuntimeError("cannot reach postgresql://bob:hunter2@db/blog"))
    with audit_kernel(demo, leaky) as kernel:
        with pytest.raises(errors.WriteDeniedError):
            kernel.host.insert("note", {"body": "b", "api_key": "sk-1"}, actor="a", reason="r")
        journal = kernel.journal
    text = journal.stream_path("audit").read_text()
    assert "hunter2" not in text and "sk-1" not in text
    assert "postgresql://bob:***@db/blog" in text


def test_credential_like_columns_are_masked_in_changes(demo: tuple[str, Path]) -> None:
    with audit_kernel(demo) as kernel:
        kernel.host.insert("note", {"body": "b", "api_key": "sk-live-123"}, actor="a", reason="r")
        (change,) = records(kernel.journal, "audit", kind="change")
    assert change["rows"][0]["after"] == {"body": "b", "api_key": "***"}
    assert "sk-live-123" not in kernel.journal.stream_path("audit").read_text()


def test_redact_masks_names_and_passwords_in_text() -> None:
    assert wfsdk_audit.redact({"auth_token": "t", "password": None, "x": 1}) == {
        "auth_token": "***",
        "password": None,
        "x": 1,
    }
    assert wfsdk_audit.redact("host=db password='s e c' user=x") == "host=db password=*** user=x"
    assert wfsdk_audit.redact(["postgresql+psycopg://u:p%40ss@h:5432/d"]) == [
        "postgresql+psycopg://u:***@h:5432/d"
    ]


def test_python_logging_when_asked(
    demo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wfsdk.audit")
    with audit_kernel(demo) as kernel:
        kernel.execute_query("SELECT id FROM post")
        assert not caplog.records
        monkeypatch.setenv("WFSDK_AUDIT_LOGGING", "1")
        kernel.execute_query("SELECT id FROM post")
        (record,) = caplog.records
        assert record.levelno == logging.INFO and json.loads(record.getMessage())["kind"] == "read"
        wfsdk_audit.configure(logging=False)
        try:
            kernel.execute_query("SELECT id FROM post")
        finally:
            wfsdk_audit.configure(logging=None)
    assert len(caplog.records) == 1


def test_an_unwritable_journal_is_loud_and_the_record_is_logged(
    demo: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with audit_kernel(demo) as kernel:
        # The kernel's own records can be written, the audit stream cannot: /dev/full
        # answers every write with ENOSPC.
        stream = kernel.journal.stream_path("audit")
        stream.parent.mkdir(parents=True, exist_ok=True)
        stream.symlink_to("/dev/full")
        try:
            with pytest.raises(errors.PluginHookError, match="is committed") as raised:
                kernel.host.update(
                    "post_workflow_stage", {"id": 2}, {"status": "r"}, actor="a", reason="r"
                )
        finally:
            stream.unlink()
    assert raised.value.change_id
    logged = [r.getMessage() for r in caplog.records if r.name == "wfsdk.audit"]
    assert any("audit record not written" in m and raised.value.change_id in m for m in logged)


# -- wfsdk audit -----------------------------------------------------------------------


@pytest.fixture
def filled(demo: tuple[str, Path]) -> tuple[Path, str]:
    with audit_kernel(demo) as kernel:
        kernel.execute_query("SELECT id FROM post")
        result = kernel.host.update(
            "post_development", {"id": 1}, {"main_title": "T"}, actor="bea", reason="title"
        )
        kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"status": "x"}, actor="ann", reason="r"
        )
        with pytest.raises(errors.StatementRefusedError):
            kernel.execute_query("TRUNCATE post")
    assert result.change is not None
    return kernel.journal.directory, result.change.change_id


def run_cli(state: Path, *args: str) -> tuple[int, str, str]:
    wfsdk_audit.register_commands(cli)
    result = CliRunner().invoke(cli, ["--state-dir", str(state), "audit", *args])
    return result.exit_code, result.stdout, result.stderr


def test_audit_command_filters(filled: tuple[Path, str]) -> None:
    state, change_id = filled
    code, out, _ = run_cli(state, "--format", "json")
    assert code == 0 and [r["kind"] for r in json.loads(out)] == [
        "read",
        "change",
        "change",
        "error",
    ]
    code, out, _ = run_cli(
        state, "--kind", "change", "--table", "post_development", "--format", "json"
    )
    (only,) = json.loads(out)
    assert only["change_id"] == change_id
    code, out, _ = run_cli(state, "--change-id", change_id[:-3], "--format", "json")
    assert [r["kind"] for r in json.loads(out)] == ["change"]
    code, out, _ = run_cli(state, "--kind", "read", "--kind", "error", "--format", "json")
    assert [r["kind"] for r in json.loads(out)] == ["read", "error"]
    code, out, _ = run_cli(state, "--since", "1h", "--actor", "ann", "--format", "json")
    assert [r["actor"] for r in json.loads(out)] == ["ann"]
    code, out, _ = run_cli(state, "--since", "2999-01-01")
    assert code == 0 and "match" in out
    code, out, _ = run_cli(state, "--kind", "change")
    assert "main_title: NULL -> 'T'" in out and "by bea (title)" in out
    code, out, _ = run_cli(state, "--last", "1")
    assert "TRUNCATE" in out or "StatementRefusedError" in out
    code, _, err = run_cli(state, "--since", "last tuesday")
    assert code == 2 and "neither an ISO date" in err


def test_audit_command_reports_damage(filled: tuple[Path, str]) -> None:
    state, _ = filled
    path = state / "audit.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([lines[0], b"{broken\n", *lines[1:], b'{"kind": "re']))
    code, _, err = run_cli(state)
    assert code == 2 and f"{path}:2: corrupt" in err
    path.write_bytes(b"".join([*lines, b'{"kind": "re']))
    code, out, err = run_cli(state, "--format", "json")
    assert code == 0 and len(json.loads(out)) == 4
    assert f"{path}:5: incomplete last line skipped" in err


def test_audit_command_is_registered_through_the_entry_point(filled: tuple[Path, str]) -> None:
    state, _ = filled
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFSDK_")}
    env.update(WFSDK_PLUGINS="wfsdk-audit", WFSDK_STATE_DIR=str(state))
    result = subprocess.run(
        [sys.executable, "-c", "from wfsdk.cli import main; main()", "audit", "--kind", "change"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    heads = [line for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert len(heads) == 2 and all("  change    update " in line for line in heads)
