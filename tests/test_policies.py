"""The three policy plugins together, installed and found by entry point, as a user runs them.

For any sequence of writes, some of them made to fail: every committed change
has exactly one audit record and one committed backup, nothing refused or
rolled back is marked committed, and restoring every backup in reverse order
gives back the very database we started from. Whatever fails (approval, the
terminal, the rules file, the state directory, the disk, a plugin), the
database is unchanged and the error reaches ``on_error``.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import wfsdk_backup
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from policy_support import (
    CONTENT_COLUMNS,
    POLICIES,
    TABLES,
    Faults,
    Observer,
    build_demo,
    open_kernel,
    records,
    write_rules,
)

import wfsdk
from wfsdk import errors
from wfsdk.journal import Journal
from wfsdk.plugins import load_plugins
from wfsdk.values import WriteIntent

from kernel_support import checksum, raw

TESTS = Path(__file__).resolve().parent

RULES = """
[[rule]]
name = "writers and restores"
actors = ["writer", "restorer"]
tables = ["post_workflow_stage", "post_development", "note"]
operations = ["update", "insert", "delete"]
"""


@pytest.fixture
def demo(db_url: str, tmp_path: Path) -> tuple[str, Path]:
    return db_url, build_demo(db_url, tmp_path)


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_rules(tmp_path, RULES)
    monkeypatch.setenv("WFSDK_APPROVAL_MODE", "rules")
    monkeypatch.setenv("WFSDK_APPROVAL_RULES", str(path))
    return path


# -- installed together ----------------------------------------------------------------


def test_all_three_are_found_by_entry_point_and_each_can_be_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded = {p.name: p for p in load_plugins(POLICIES, []).plugins if not p.builtin}
    assert set(loaded) == set(POLICIES)
    assert all(loaded[name].distribution == name for name in POLICIES)
    monkeypatch.delenv("WFSDK_PLUGINS")
    for name in POLICIES:
        monkeypatch.setenv("WFSDK_DISABLE_PLUGINS", name)
        names = {p.name for p in load_plugins().plugins}
        assert name not in names and set(POLICIES) - {name} <= names


def test_the_plugins_use_only_the_public_api() -> None:
    allowed = {
        "wfsdk",
        "wfsdk.values",
        "wfsdk.errors",
        "wfsdk.journal",
        "wfsdk.hookspecs",
        "wfsdk.cli",
        "wfsdk.redact",
    }
    sources = sorted((TESTS.parent / "plugins").glob("*/src/**/*.py"))
    assert len(sources) >= 9
    for source in sources:
        for line in source.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and words[1].startswith("wfsdk."):
                module = words[1]
                if module.startswith(("wfsdk_audit", "wfsdk_approval", "wfsdk_backup")):
                    continue
                assert module in allowed, f"{source}: {line.strip()}"


# -- the property ----------------------------------------------------------------------

STATUSES = ("in_progress", "review", "done", "blocked")
FAULTS = (None, None, None, "deny", "meddle", "fail-commit")

faults = st.sampled_from(FAULTS)
# Text both databases store: UTF-8 (no lone surrogates) without NUL, which PostgreSQL refuses.
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
writes = st.lists(
    st.one_of(
        st.tuples(st.just("status"), st.sampled_from([1, 2, 3]), st.sampled_from(STATUSES), faults),
        st.tuples(
            st.just("content"),
            st.sampled_from([1, 2]),
            st.sampled_from(CONTENT_COLUMNS),
            texts,
            faults,
        ),
        st.tuples(st.just("insert"), texts, faults),
        st.tuples(st.just("delete"), st.integers(0, 5), faults),
    ),
    min_size=1,
    max_size=10,
)

_examples = itertools.count()


def run_write(kernel: wfsdk.Kernel, url: str, op: tuple[Any, ...]) -> str | None:
    """Make one write; the committed change id, or ``None`` if it was refused."""
    kind, *args, fault = op
    actor = "intruder" if fault == "deny" else "writer"
    reason = f"property [{fault}]" if fault else "property"
    host = kernel.host
    try:
        if kind == "status":
            result = host.update(
                "post_workflow_stage",
                {"id": args[0]},
                {"status": args[1]},
                actor=actor,
                reason=reason,
            )
        elif kind == "content":
            result = host.update(
                "post_development",
                {"id": args[0]},
                {args[1]: args[2]},
                actor=actor,
                reason=reason,
            )
        elif kind == "insert":
            result = host.insert(
                "note", {"body": args[0], "status": "new"}, actor=actor, reason=reason
            )
        else:
            ids = [row[0] for row in raw(url, "SELECT id FROM note ORDER BY id")]
            if not ids:
                return None
            note = ids[args[0] % len(ids)]
            result = host.delete("note", {"id": note}, actor=actor, reason=reason)
    except (errors.WriteDeniedError, errors.ChangedSincePreviewError):
        return None
    assert result.change is not None
    return result.change.change_id


def check_sequence(
    url: str, contract: Path, state_root: Path, ops: list[tuple[Any, ...]]
) -> tuple[int, int]:
    """Run ``ops``, check the journal, restore everything; (committed, refused) counts."""
    start = checksum(url, TABLES)
    observer = Observer()
    fault_plugin = Faults(url)
    state = state_root / f"example-{next(_examples)}"
    kernel = open_kernel(url, contract, extra=[observer, fault_plugin], state_dir=state)
    with kernel:
        committed: list[str] = []
        for op in ops:
            change_id = run_write(kernel, url, op)
            fault_plugin.undo_meddling()
            if change_id is not None:
                committed.append(change_id)
            if op[-1] in ("deny", "fail-commit"):
                assert change_id is None, op
        attempted = {i.change_id for i in observer.intents}
        refused = attempted - set(committed)
        journal = kernel.journal

        audited = Counter(r["change_id"] for r in records(journal, "audit", kind="change"))
        assert all(audited[c] == 1 for c in committed)
        assert not refused & set(audited)
        marked = Counter(
            r["change_id"] for r in records(journal, "backup-status", status="committed")
        )
        assert all(marked[c] == 1 for c in committed)
        assert not refused & set(marked)
        for change_id in refused & set(journal.documents("backups")):
            assert wfsdk_backup.load_backup(journal, change_id).status == "rolled-back"

        for change_id in reversed(committed):
            wfsdk_backup.restore(kernel, change_id, actor="restorer")
    assert checksum(url, TABLES) == start
    return len(committed), len(refused)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=writes)
def test_every_change_audited_backed_up_and_restorable(
    demo: tuple[str, Path], rules: Path, tmp_path: Path, ops: list[tuple[Any, ...]]
) -> None:
    url, contract = demo
    # The database is shared by the examples: each one restores it to where it started.
    committed, refused = check_sequence(url, contract, tmp_path, ops)
    event(f"committed {min(committed, 3)}+, refused {min(refused, 3)}+")


def test_a_known_sequence(demo: tuple[str, Path], rules: Path, tmp_path: Path) -> None:
    url, contract = demo
    counts = check_sequence(
        url,
        contract,
        tmp_path,
        [
            ("insert", "first", None),
            ("status", 2, "review", None),
            ("status", 2, "done", "meddle"),
            ("content", 1, "main_title", "Tomatoes", "fail-commit"),
            ("content", 2, "intro_blurb", "Worms", None),
            ("delete", 0, "meddle"),
            ("insert", "second", "deny"),
            ("delete", 0, None),
            ("status", 3, "in_progress", None),  # already so: commits, changes nothing
        ],
    )
    assert counts == (5, 4)


# -- whatever fails, nothing changes and on_error hears of it ----------------------------


def attempt(kernel: wfsdk.Kernel) -> None:
    kernel.host.update(
        "post_workflow_stage", {"id": 2}, {"status": "review"}, actor="writer", reason="ready"
    )


class Raising:
    def __init__(self, hook: str) -> None:
        self.hook = hook

    @wfsdk.hookimpl
    def before_write(self, intent: WriteIntent) -> None:
        if self.hook == "before_write":
            raise RuntimeError("policy plugin crashed")

    @wfsdk.hookimpl(trylast=True)
    def before_commit(self, intent: WriteIntent) -> None:
        if self.hook == "before_commit":
            raise RuntimeError("policy plugin crashed")


def _fsync_full(_fd: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


CASES: dict[str, tuple[str, str]] = {
    # case: (what the refusal says, the type of error that reaches on_error)
    "approval-denied": ("actor 'intruder' is not one of", "WriteDeniedError"),
    "rules-missing": ("file not found", "RulesError"),
    "rules-malformed": ("rules.toml:3: max_rows must be a positive integer", "RulesError"),
    "state-dir-unwritable": ("Not a directory", "JournalError"),
    "disk-full": ("No space left", "WriteDeniedError"),
    "plugin-raises-voting": ("policy plugin crashed", "RuntimeError"),
    "plugin-raises-before-commit": ("policy plugin crashed", "WriteDeniedError"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_failures_change_nothing_and_reach_on_error(
    case: str,
    demo: tuple[str, Path],
    rules: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, contract = demo
    refusal, reported = CASES[case]
    state = tmp_path / "state"
    extra: list[object] = [Observer()]
    if case == "rules-missing":
        rules.unlink()
    elif case == "rules-malformed":
        rules.write_text("[[rule]]\ntables = ['*']\nmax_rows = -1\n")
    elif case == "state-dir-unwritable":
        # Tests run as root, where chmod stops nothing: a regular file blocks everyone.
        (tmp_path / "blocker").write_text("")
        state = tmp_path / "blocker" / "state"
    elif case.startswith("plugin-raises"):
        extra.append(Raising("before_write" if case.endswith("voting") else "before_commit"))
    observer = extra[0]
    assert isinstance(observer, Observer)
    before = checksum(url, TABLES)
    with open_kernel(url, contract, extra=extra, state_dir=state) as kernel:
        if case == "disk-full":
            monkeypatch.setattr(os, "fsync", _fsync_full)
        actor_case = case == "approval-denied"
        with pytest.raises(errors.WfsdkError, match=refusal):
            if actor_case:
                kernel.host.update(
                    "post_workflow_stage", {"id": 2}, {"status": "x"}, actor="intruder", reason="r"
                )
            else:
                attempt(kernel)
        monkeypatch.undo()
    assert checksum(url, TABLES) == before
    assert reported in {e.error_type for e in observer.errors}, observer.errors
    journal = Journal(state)
    if case not in ("state-dir-unwritable", "disk-full"):
        # The audit plugin heard it too, and wrote it down.
        assert records(journal, "audit", kind="error")
        assert not records(journal, "audit", kind="change")
    if state.parent.is_dir():
        assert not records(journal, "backup-status", status="committed")


SCENARIO = """
import json, sys
from pathlib import Path

sys.path.insert(0, sys.argv[4])
from wfsdk import errors
from policy_support import POLICIES, Observer, open_kernel

observer = Observer()
kernel = open_kernel(sys.argv[1], Path(sys.argv[2]), extra=[observer], state_dir=sys.argv[3])
with kernel:
    try:
        kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"status": "review"}, actor="writer", reason="r"
        )
        outcome = "committed"
    except errors.WfsdkError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
print(json.dumps({"outcome": outcome, "errors": [e.error_type for e in observer.errors]}))
"""


def run_scenario(
    url: str, contract: Path, tmp_path: Path, env: dict[str, str], mount: str | None = None
) -> dict[str, Any]:
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent(SCENARIO))
    state = tmp_path / "mnt" / "state" if mount else tmp_path / "state"
    argv = [sys.executable, str(script), url, str(contract), str(state), str(TESTS)]
    child = {k: v for k, v in os.environ.items() if not k.startswith("WFSDK_")}
    child.update(env)
    if mount is not None:
        if shutil.which("unshare") is None:
            pytest.skip("unshare(1) is not installed")
        (tmp_path / "mnt").mkdir()
        shell = f"{mount.format(mnt=tmp_path / 'mnt')} && exec {' '.join(argv)}"
        argv = ["unshare", "--mount", "--map-root-user", "sh", "-c", shell]
    result = subprocess.run(
        argv,
        env=child,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # no controlling terminal
    )
    if mount is not None and ("unshare:" in result.stderr or "mount:" in result.stderr):
        pytest.skip(f"cannot make a private mount here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    outcome: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return outcome


@pytest.mark.parametrize(
    ("case", "mount", "mode", "refusal"),
    [
        ("no-terminal", None, "interactive", "no terminal for interactive approval"),
        (
            "read-only-filesystem",
            "mount -t tmpfs tmpfs {mnt} && mkdir {mnt}/state && mount -o remount,ro {mnt}",
            "rules",
            "Read-only file system",
        ),
        (
            "full-filesystem",
            "mount -t tmpfs -o size=128k tmpfs {mnt} && mkdir {mnt}/state && "
            "(cat /dev/zero > {mnt}/filler 2>/dev/null; true)",
            "rules",
            "is full",
        ),
    ],
)
def test_failures_of_the_machine_change_nothing(
    sqlite_url: str,
    tmp_path: Path,
    rules: Path,
    case: str,
    mount: str | None,
    mode: str,
    refusal: str,
) -> None:
    contract = build_demo(sqlite_url, tmp_path)
    before = checksum(sqlite_url, TABLES)
    env = {
        "WFSDK_PLUGINS": ",".join(POLICIES),
        "WFSDK_APPROVAL_MODE": mode,
        "WFSDK_APPROVAL_RULES": str(rules),
    }
    outcome = run_scenario(sqlite_url, contract, tmp_path, env, mount)
    assert refusal in outcome["outcome"], outcome
    assert "WriteDeniedError" in outcome["errors"]
    assert checksum(sqlite_url, TABLES) == before


# -- the web UI example of docs/policies.md ----------------------------------------------

PAGE = TESTS.parent / "docs" / "policies.md"
EXAMPLE = re.compile(r"```python title=(\S+)\n(.*?)```", re.S)

DRIVER = """
import html
import re
import sys

from approval_ui import app

client = app.test_client()


def propose(user, status):
    page = client.post("/stages/2/status", data={"status": status}, headers={"X-Remote-User": user})
    shown = html.unescape(page.text)
    print("PREVIEW", page.status_code, "status: 'in_progress' → 'review'" in shown)
    return re.search(r"/approvals/(\\w+)", page.text).group(1)


def approve(user, key):
    answer = client.post(f"/approvals/{key}", headers={"X-Remote-User": user})
    print("APPROVE", answer.status_code, answer.text.replace("\\n", " "))


approve("bob", propose("ann", "review").replace("a", "b"))   # nothing waits under that key
approve("ann", propose("ann", "review"))                      # nobody approves their own
key = propose("ann", "review")
sys.stdout.flush()
input()                                                       # the test changes the row here
approve("bob", key)                                           # not what bob was shown
approve("bob", propose("ann", "review"))                      # applied
"""


def test_the_web_ui_example_runs_as_documented(sqlite_url: str, tmp_path: Path) -> None:
    pytest.importorskip("flask")
    contract = build_demo(sqlite_url, tmp_path)
    ((name, code),) = EXAMPLE.findall(PAGE.read_text())
    (tmp_path / name).write_text(code)
    (tmp_path / "driver.py").write_text(textwrap.dedent(DRIVER))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFSDK_")}
    env.update(
        WFSDK_DSN=sqlite_url,
        WFSDK_CONTRACT=str(contract),
        WFSDK_STATE_DIR=str(tmp_path / "state"),
        WFSDK_PLUGINS=",".join(POLICIES),
        WFSDK_APPROVAL_MODE="callback",
    )
    with subprocess.Popen(
        [sys.executable, "driver.py"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None and child.stdin is not None
        lines = [child.stdout.readline().strip() for _ in range(5)]
        raw(sqlite_url, "UPDATE post_workflow_stage SET started_at = NULL WHERE id = 2")
        out, err = child.communicate("\n", timeout=120)
    assert child.returncode == 0, err
    lines += out.splitlines()
    assert [line.split()[:2] for line in lines if line.strip()] == [
        ["PREVIEW", "200"],
        ["APPROVE", "404"],
        ["PREVIEW", "200"],
        ["APPROVE", "409"],
        ["PREVIEW", "200"],
        ["APPROVE", "409"],
        ["PREVIEW", "200"],
        ["APPROVE", "200"],
    ]
    assert all(line.endswith("True") for line in lines if line.startswith("PREVIEW"))
    refusals = [line for line in lines if line.startswith("APPROVE 409")]
    assert "ann cannot approve their own change" in refusals[0]
    assert "nobody approved this exact change" in refusals[1]
    assert raw(sqlite_url, "SELECT status FROM post_workflow_stage WHERE id = 2")[0][0] == "review"
    journal = Journal(tmp_path / "state")
    (change,) = records(journal, "audit", kind="change")
    assert change["actor"] == "ann"
    assert change["votes"][0]["reason"] == "approved by bob: approved in the web UI"
    decisions = [(a["decided_by"], a["decision"]) for a in records(journal, "approvals")]
    assert decisions[-1] == ("bob", "allow")
