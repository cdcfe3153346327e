"""wfsdk-approval as installed: the three modes, every decision journaled, every failure a no."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import wfsdk_approval
from policy_support import Observer, build_demo, open_kernel, records, write_rules
from wfsdk_approval import Approver, RulesError, load_rules

import wfsdk
from wfsdk import errors
from wfsdk.plugins import load_plugins
from wfsdk.values import Operation, RowChange, Vote, WriteIntent

from kernel_support import checksum, raw

PLUGIN = ["wfsdk-approval"]
TESTS = Path(__file__).resolve().parents[3] / "tests"

WORKER_RULES = """
# Workers may move a stage forward, one row at a time.
[[rule]]
name = "workers advance stages"
actors = ["worker-*"]
tables = ["post_workflow_stage"]
columns = ["status", "completed_at"]
statuses = ["review", "done"]
max_rows = 1

[[rule]]
name = "editors write content"
actors = ["editor"]
tables = ["post_development"]
operations = ["update"]
"""


@pytest.fixture
def demo(db_url: str, tmp_path: Path) -> tuple[str, Path]:
    return db_url, build_demo(db_url, tmp_path)


@pytest.fixture(autouse=True)
def _no_callback() -> Iterator[None]:
    yield
    wfsdk_approval.clear_callback()


@pytest.fixture
def rules_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = write_rules(tmp_path, WORKER_RULES)
    monkeypatch.setenv("WFSDK_APPROVAL_MODE", "rules")
    monkeypatch.setenv("WFSDK_APPROVAL_RULES", str(path))
    return path


def update_status(kernel: wfsdk.Kernel, status: str, actor: str = "worker-1") -> wfsdk.QueryResult:
    return kernel.host.update(
        "post_workflow_stage", {"id": 2}, {"status": status}, actor=actor, reason="next stage"
    )


def test_found_through_its_entry_point() -> None:
    (info,) = [p for p in load_plugins(PLUGIN, []).plugins if not p.builtin]
    assert (info.name, info.distribution) == ("wfsdk-approval", "wfsdk-approval")
    assert info.hooks == ("before_write",)


def test_disabled_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WFSDK_PLUGINS")
    monkeypatch.setenv("WFSDK_DISABLE_PLUGINS", "wfsdk-approval")
    assert "wfsdk-approval" not in {p.name for p in load_plugins().plugins}


# -- rules -----------------------------------------------------------------------------


def test_rules_allow_and_the_decision_is_in_the_change_and_the_journal(
    demo: tuple[str, Path], rules_mode: Path
) -> None:
    url, contract = demo
    with open_kernel(url, contract, plugins=PLUGIN) as kernel:
        result = update_status(kernel, "review")
        (approval,) = records(kernel.journal, "approvals")
    assert result.change is not None
    (vote,) = result.change.votes
    assert vote.voter == "wfsdk-approval" and vote.reason.startswith(
        f"approved by rules {rules_mode}:3: rule 'workers advance stages'"
    )
    assert approval["change_id"] == result.change.change_id
    assert approval["decision"] == "allow" and approval["mode"] == "rules"
    assert approval["decided_by"] == f"rules {rules_mode}:3"
    assert approval["actor"] == "worker-1" and approval["rows"] == 1


@pytest.mark.parametrize(
    ("status", "actor", "why"),
    [
        ("archived", "worker-1", "status = 'archived' is not one of 'review', 'done'"),
        ("review", "intruder", "actor 'intruder' is not one of worker-*"),
    ],
)
def test_no_matching_rule_means_no(
    demo: tuple[str, Path], rules_mode: Path, status: str, actor: str, why: str
) -> None:
    url, contract = demo
    before = checksum(url, ["post_workflow_stage"])
    observer = Observer()
    with open_kernel(url, contract, plugins=PLUGIN, extra=[observer]) as kernel:
        with pytest.raises(errors.WriteDeniedError, match="no rule allows it") as raised:
            update_status(kernel, status, actor)
        (approval,) = records(kernel.journal, "approvals")
    assert why in str(raised.value)
    assert "rule 2 'editors write content' (line 11): table post_workflow_stage" in str(
        raised.value
    )
    assert checksum(url, ["post_workflow_stage"]) == before
    assert approval["decision"] == "deny" and why in approval["reason"]
    assert observer.errors[-1].error_type == "WriteDeniedError"


def test_too_many_rows(demo: tuple[str, Path], rules_mode: Path) -> None:
    url, contract = demo
    kernel = open_kernel(url, contract, plugins=PLUGIN)
    with kernel, pytest.raises(errors.WriteDeniedError, match="2 rows, at most 1"):
        kernel.execute_query(
            "UPDATE post_workflow_stage SET status = 'review' WHERE status = 'in_progress'",
            actor="worker-1",
            reason="bulk",
        )


BROKEN_RULES = [
    ("missing", None, r"approval rules {path}: file not found"),
    ("[[rule]]\nname = 'x'\ntables = [\n", None, r"approval rules {path}:\d+: "),
    (
        "[[rule]]\nname = 'x'\ntables = ['t']\n\n[[rule]]\ntabels = ['t']\n",
        6,
        "unknown key 'tabels'",
    ),
    ("[[rule]]\ntables = ['t']\nmax_rows = 'five'\n", 3, "max_rows must be a positive integer"),
    ("[[rule]]\ntables = 't'\n", 2, "tables must be a non-empty list of text"),
    ("[[rule]]\nname = 'no tables'\n", 1, "has no 'tables'"),
    ("[[rule]]\ntables = ['t']\noperations = ['upsert']\n", 3, "operations must be among"),
    ("[[rule]]\ntables = ['t']\n[rule.values]\nstatus = 'done'\n", 3, "values.status must be"),
    ("allow_all = true\n", 1, "unknown key 'allow_all'"),
]


@pytest.mark.parametrize(("text", "line", "message"), BROKEN_RULES)
def test_a_missing_or_malformed_rules_file_refuses_and_names_file_and_line(
    demo: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    line: int | None,
    message: str,
) -> None:
    url, contract = demo
    path = tmp_path / "rules.toml"
    if text != "missing":
        path.write_text(text)
    monkeypatch.setenv("WFSDK_APPROVAL_MODE", "rules")
    monkeypatch.setenv("WFSDK_APPROVAL_RULES", str(path))
    expected = message.format(path=path) if "{path}" in message else message
    before = checksum(url, ["post_workflow_stage"])
    observer = Observer()
    with open_kernel(url, contract, plugins=PLUGIN, extra=[observer]) as kernel:
        with pytest.raises(errors.WriteDeniedError, match="RulesError") as raised:
            update_status(kernel, "review")
        (approval,) = records(kernel.journal, "approvals")
    assert checksum(url, ["post_workflow_stage"]) == before
    where = f"{path}:{line}" if line else str(path)
    assert where in str(raised.value)
    (reported,) = [e for e in observer.errors if e.error_type == "RulesError"]
    assert reported.phase == "before_write" and where in reported.message
    assert re.search(expected, reported.message), reported.message
    assert approval["decision"] == "deny" and "RulesError" in approval["reason"]


def test_rules_are_read_again_when_the_file_changes(tmp_path: Path) -> None:
    path = write_rules(tmp_path, "[[rule]]\ntables = ['a']\n")
    assert load_rules(path).rules[0].tables == ("a",)
    path.write_text("[[rule]]\ntables = ['b', 'c']\n")
    assert load_rules(path).rules[0].tables == ("b", "c")


def intent(
    operation: Operation = Operation.UPDATE,
    table: str = "post_workflow_stage",
    actor: str = "worker-1",
    caller: str = "host",
    rows: tuple[RowChange, ...] | None = None,
) -> WriteIntent:
    if rows is None:
        rows = (RowChange({"id": 1}, {"id": 1, "status": "a"}, {"id": 1, "status": "done"}),)
    return WriteIntent(
        change_id="c-1",
        caller=caller,
        actor=actor,
        reason="why",
        table=table,
        operation=operation,
        statement="...",
        rows=rows,
    )


def test_rule_matching() -> None:
    rules = wfsdk_approval.rules.parse_rules(
        textwrap.dedent(
            """
            [[rule]]
            name = "notes"
            tables = ["no*"]
            operations = ["insert", "delete"]
            columns = ["body"]
            callers = ["host"]

            [[rule]]
            name = "levels"
            tables = ["post_workflow_stage"]
            values = { status = ["done"], level = [1, 2] }
            """
        ),
        Path("r.toml"),
    )
    insert = (RowChange({}, None, {"body": "x"}),)
    assert rules.decide(intent(Operation.INSERT, "note", rows=insert))[0] is not None
    assert rules.decide(intent(Operation.DELETE, "note", rows=insert))[0] is not None
    refused = rules.decide(
        intent(Operation.INSERT, "note", caller="wfsdk.modules.llm", rows=insert)
    )
    assert refused[0] is None and "caller 'wfsdk.modules.llm'" in refused[1]
    wide = (RowChange({}, None, {"body": "x", "status": "y"}),)
    assert (
        "column(s) status may not be changed"
        in rules.decide(intent(Operation.INSERT, "note", rows=wide))[1]
    )
    assert rules.decide(intent())[0] is not None
    level = (RowChange({"id": 1}, {"level": 0}, {"level": 3}),)
    assert "level = 3 is not one of 1, 2" in rules.decide(intent(rows=level))[1]
    # A column the write leaves as it was is not checked.
    same = (RowChange({"id": 1}, {"status": "x", "n": 1}, {"status": "x", "n": 2}),)
    assert rules.decide(intent(rows=same))[0] is not None


def test_an_empty_rules_file_allows_nothing(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path, "# nothing yet\n"))
    assert rules.decide(intent()) == (None, "the file has no rules, so nothing is allowed")


def test_rules_mode_without_a_file_is_an_error(
    demo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, contract = demo
    monkeypatch.setenv("WFSDK_APPROVAL_MODE", "rules")
    kernel = open_kernel(url, contract, plugins=PLUGIN)
    with kernel, pytest.raises(errors.WriteDeniedError, match="WFSDK_APPROVAL_RULES"):
        update_status(kernel, "review")


def test_an_unknown_mode_is_an_error(
    demo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, contract = demo
    monkeypatch.setenv("WFSDK_APPROVAL_MODE", "yolo")
    with open_kernel(url, contract, plugins=PLUGIN) as kernel:
        with pytest.raises(errors.WriteDeniedError, match="'yolo' is not a mode"):
            update_status(kernel, "review")
        (approval,) = records(kernel.journal, "approvals")
    assert approval["decision"] == "deny" and approval["mode"] == "unknown"


# -- callback --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "committed", "reason", "who"),
    [
        (True, True, "approved by callback", "callback"),
        ((False, "needs an editor"), False, "needs an editor", "callback"),
        (Vote.allow("looks right", voter="alice@web"), True, "looks right", "alice@web"),
        (Vote.deny("not yet", voter="bob@web"), False, "not yet", "bob@web"),
    ],
)
def test_callback_decides(
    demo: tuple[str, Path], answer: object, committed: bool, reason: str, who: str
) -> None:
    url, contract = demo
    seen: list[WriteIntent] = []

    def decide(intent: WriteIntent) -> object:
        seen.append(intent)
        return answer

    wfsdk_approval.set_callback(decide)  # type: ignore[arg-type]
    with open_kernel(url, contract, plugins=PLUGIN) as kernel:
        if committed:
            result = update_status(kernel, "review")
            assert result.change is not None and reason in result.change.votes[0].reason
        else:
            with pytest.raises(errors.WriteDeniedError, match=reason):
                update_status(kernel, "review")
        (approval,) = records(kernel.journal, "approvals")
    (asked,) = seen
    assert asked.rows[0].after is not None and asked.rows[0].after["status"] == "review"
    assert approval["mode"] == "callback" and approval["decided_by"].startswith(who)


def test_a_raising_or_confused_callback_refuses(demo: tuple[str, Path]) -> None:
    url, contract = demo
    observer = Observer()

    def broken(_intent: WriteIntent) -> bool:
        raise ConnectionError("approval service down")

    wfsdk_approval.set_callback(broken)
    with open_kernel(url, contract, plugins=PLUGIN, extra=[observer]) as kernel:
        with pytest.raises(errors.WriteDeniedError, match="approval service down"):
            update_status(kernel, "review")
        wfsdk_approval.set_callback(lambda _intent: "yes")  # type: ignore[arg-type,return-value]
        with pytest.raises(errors.WriteDeniedError, match="must return True/False"):
            update_status(kernel, "review")
    assert [e.error_type for e in observer.errors if e.phase == "before_write"][:1] == [
        "ConnectionError"
    ]


def test_callback_mode_without_a_callback_is_an_error(
    demo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, contract = demo
    monkeypatch.setenv("WFSDK_APPROVAL_MODE", "callback")
    kernel = open_kernel(url, contract, plugins=PLUGIN)
    with kernel, pytest.raises(errors.WriteDeniedError, match="set_callback"):
        update_status(kernel, "review")


def test_a_host_approver_object(demo: tuple[str, Path]) -> None:
    url, contract = demo
    approver = Approver(lambda intent: (intent.actor == "ann", "ann may"))
    with open_kernel(url, contract, plugins=[], extra=[approver]) as kernel:
        assert update_status(kernel, "review", actor="ann").change is not None
        with pytest.raises(errors.WriteDeniedError, match="ann may"):
            update_status(kernel, "done", actor="bob")
    # Beside the installed plugin it would be a second approver: loading refuses.
    with pytest.raises(errors.PluginError, match="wfsdk-approval"):
        open_kernel(url, contract, plugins=PLUGIN, extra=[Approver(lambda _i: True)])


def test_dry_runs_are_decided_by_rules_but_nobody_is_asked(
    demo: tuple[str, Path], rules_mode: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, contract = demo
    with open_kernel(url, contract, plugins=PLUGIN) as kernel:
        result = kernel.host.update(
            "post_workflow_stage",
            {"id": 2},
            {"status": "done"},
            actor="worker-9",
            reason="r",
            dry_run=True,
        )
        assert result.would_commit
        (approval,) = records(kernel.journal, "approvals")
        assert approval["dry_run"] is True
        monkeypatch.setenv("WFSDK_APPROVAL_MODE", "interactive")
        result = kernel.host.update(
            "post_workflow_stage",
            {"id": 2},
            {"status": "done"},
            actor="worker-9",
            reason="r",
            dry_run=True,
        )
    assert result.votes == () and not result.would_commit
    assert len(records(kernel.journal, "approvals")) == 1


# -- a person at a terminal ------------------------------------------------------------

INTERACTIVE = """
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[3])
from wfsdk import errors
from policy_support import open_kernel

with open_kernel(sys.argv[1], Path(sys.argv[2]), plugins=["wfsdk-approval"]) as kernel:
    try:
        result = kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"status": "review"}, actor="ann", reason="ready"
        )
        print("RESULT committed", flush=True)
    except errors.WriteDeniedError as exc:
        print("RESULT refused", exc, flush=True)
"""


def child_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFSDK_")}
    env.update(WFSDK_PLUGINS="", WFSDK_STATE_DIR=str(state), WFSDK_APPROVAL_MODE="interactive")
    return env


def test_no_terminal_means_no(sqlite_url: str, tmp_path: Path) -> None:
    contract = build_demo(sqlite_url, tmp_path)
    script = tmp_path / "interactive.py"
    script.write_text(INTERACTIVE)
    before = checksum(sqlite_url, ["post_workflow_stage"])
    # A new session has no controlling terminal, and standard input is not one either.
    result = subprocess.run(
        [sys.executable, str(script), sqlite_url, str(contract), str(TESTS)],
        env=child_env(tmp_path / "state"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert "RESULT refused" in result.stdout, result.stderr
    assert "no terminal for interactive approval" in result.stdout
    assert checksum(sqlite_url, ["post_workflow_stage"]) == before
    (approval,) = records(wfsdk.journal.Journal(tmp_path / "state"), "approvals")
    assert approval["decision"] == "deny" and approval["mode"] == "interactive"


def converse(argv: list[str], env: dict[str, str], answer: bytes) -> str:
    """Run ``argv`` on a new pseudo-terminal, answer its question, return what it showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.execve(argv[0], argv, env)
    shown = b""
    answered = False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            if not answered and b"Approve? [y/N]" in shown:
                os.write(fd, answer)
                answered = True
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return shown.decode(errors="replace")


@pytest.mark.parametrize(("answer", "outcome"), [(b"y\n", "committed"), (b"no\n", "refused")])
def test_a_person_at_the_terminal_decides(
    sqlite_url: str, tmp_path: Path, answer: bytes, outcome: str
) -> None:
    contract = build_demo(sqlite_url, tmp_path)
    script = tmp_path / "interactive.py"
    script.write_text(INTERACTIVE)
    shown = converse(
        [sys.executable, str(script), sqlite_url, str(contract), str(TESTS)],
        child_env(tmp_path / "state"),
        answer,
    )
    assert f"RESULT {outcome}" in shown, shown
    # The person saw the preview: table, row, each column before -> after.
    assert "ann asks to update 1 row of post_workflow_stage" in shown
    assert "reason: ready" in shown and "row id=2" in shown
    assert "status: 'in_progress' → 'review'" in shown
    (approval,) = records(wfsdk.journal.Journal(tmp_path / "state"), "approvals")
    assert approval["decided_by"].endswith("at /dev/tty")
    assert approval["decision"] == ("allow" if outcome == "committed" else "deny")
    ((status,),) = raw(sqlite_url, "SELECT status FROM post_workflow_stage WHERE id = 2")
    assert status == ("review" if outcome == "committed" else "in_progress")


def test_describe_shows_inserts_and_deletes() -> None:
    text = wfsdk_approval.describe(
        intent(Operation.INSERT, "note", rows=(RowChange({}, None, {"body": "hi"}),))
    )
    assert "row (new row)" in text and "body: (new) → 'hi'" in text
    text = wfsdk_approval.describe(
        intent(Operation.DELETE, "note", rows=(RowChange({"id": 4}, {"id": 4}, None),))
    )
    assert "row id=4" in text and "id: 4 → (deleted)" in text


def test_rules_error_carries_path_and_line(tmp_path: Path) -> None:
    path = write_rules(tmp_path, "[[rule]]\ntables = ['t']\nmax_rows = 0\n")
    with pytest.raises(RulesError) as raised:
        load_rules(path)
    assert (raised.value.path, raised.value.line) == (path, 3)
