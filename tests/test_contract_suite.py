"""The plugin contract suite, run as a plugin author runs it.

The example distributions in ``tests/contract_examples`` are installed with pip
into a directory of their own; the suite then runs in a separate interpreter,
from a throwaway project whose conftest holds the one documented line, and the
JUnit report says which check passed and which failed. The broken example has
one entry point per broken rule, so each must fail exactly the checks of its
rule, and with a message naming the rule.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wfsdk import hookspecs
from wfsdk.contract._samples import SAMPLES
from wfsdk.contract._target import CALLED_HOOKS
from wfsdk.testing import strategies as wst
from wfsdk.values import Decision, Operation, RowChange

from kernel_support import pip_install_offline

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).resolve().parent / "contract_examples"
BROKEN = "wfsdk_contract_broken"
CONFTEST = 'pytest_plugins = ["wfsdk.contract"]\n'

#: entry point module → {failing check: the rule its message must name}
EXPECTED_FAILURES: Mapping[str, Mapping[str, str]] = {
    "returns_string": {"test_before_write_returns_a_vote_or_none[{}]": "before-write-votes"},
    "alternating": {"test_before_write_is_deterministic[{}]": "before-write-deterministic"},
    "slow": {"test_hooks_finish_within_the_time_budget[{}-before_write]": "time-budget"},
    "leaky": {"test_no_secret_leaks[{}-sqlite]": "no-secret-leaks"},
    "fragile": {
        "test_observers_accept_every_event[{}-on_read]": "observers-accept-every-event",
        "test_observers_accept_every_event[{}-after_write]": "observers-accept-every-event",
    },
    "meddling": {
        "test_hooks_leave_the_database_alone[{}-before_write]": "hooks-leave-the-database-alone"
    },
    "noisy": {"test_import_has_no_side_effects[{}]": "import-side-effects"},
    "misnamed": {
        "test_hook_implementations_match_the_specs[{}]": "matches-spec",
        "test_loads_into_a_kernel[{}]": "loads-into-kernel",
    },
    "forgetful": {"test_hook_implementations_match_the_specs[{}]": "matches-spec"},
}
NOT_INSTALLED = "wfsdk-not-installed"
# Found by Hypothesis: the message carries the smallest example it found.
PROPERTIES = {
    "before-write-votes",
    "before-write-deterministic",
    "observers-accept-every-event",
    "hooks-leave-the-database-alone",
}


def test_every_argument_of_every_called_hook_has_a_strategy_and_samples() -> None:
    # A hook that gains an argument must gain a strategy, or the suite stops checking it.
    for hook in CALLED_HOOKS:
        parameters = set(inspect.signature(getattr(hookspecs, hook)).parameters) - {"journal"}
        assert set(wst.hook_arguments(hook)) == parameters, hook
        assert SAMPLES[hook], hook
        for _label, arguments in SAMPLES[hook]:
            assert set(arguments) == parameters, hook


def _images_fit(operation: Operation, rows: Sequence[RowChange]) -> bool:
    return all(
        (row.before is None) == (operation is Operation.INSERT)
        and (row.after is None) == (operation is Operation.DELETE)
        for row in rows
    )


@given(data=st.data())
def test_generated_values_are_ones_the_kernel_could_send(data: st.DataObject) -> None:
    intent = data.draw(wst.write_intents())
    assert _images_fit(intent.operation, intent.rows)
    assert len(intent.rows) in (*range(6), wst.HUGE_ROW_COUNT)
    change = data.draw(wst.change_records(operation=Operation.DELETE))
    assert change.operation is Operation.DELETE and _images_fit(Operation.DELETE, change.rows)
    vote = data.draw(wst.votes())
    assert isinstance(vote.decision, Decision)
    assert vote.decision is Decision.ALLOW or vote.reason
    event = data.draw(wst.read_events())
    assert event.row_count >= 0 and event.duration_s >= 0
    data.draw(wst.mismatch_reports())
    data.draw(wst.error_events())


def pip_install(source: Path, target: Path, workdir: Path) -> None:
    """Install a copy of ``source`` offline (pip builds in the tree it is given)."""
    copy = workdir / f"build-{source.name}"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    pip_install_offline(copy, target)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("contract-examples")
    target = work / "site"
    for example in ("good", "broken"):
        pip_install(EXAMPLES / example, target, work)
    return target


@attrs.frozen
class Run:
    returncode: int
    output: str
    outcomes: dict[str, str]
    messages: dict[str, str]

    def failed(self) -> set[str]:
        return {name for name, outcome in self.outcomes.items() if outcome in ("failed", "error")}


def read_junit(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.attrib["name"]
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                messages[name] = child.attrib.get("message", "") + "\n" + (child.text or "")
        outcomes[name] = outcome
    return outcomes, messages


def make_project(root: Path, conftest: str = CONFTEST) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "conftest.py").write_text(conftest)
    return root


def run_suite(
    project: Path,
    pythonpath: Sequence[Path],
    *args: str,
    env: Mapping[str, str] | None = None,
) -> Run:
    report = project / "report.xml"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WFSDK_")}
    environment.pop("PGPASSWORD", None)
    environment["PYTHONPATH"] = os.pathsep.join(
        [*(str(p) for p in pythonpath), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    environment.update(env or {})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-rfE",
            f"--junitxml={report}",
            *args,
        ],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert report.exists(), output
    outcomes, messages = read_junit(report)
    return Run(result.returncode, output, outcomes, messages)


def test_a_good_plugin_passes_every_check(site: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    (project / "tests").mkdir()
    (project / "tests" / "test_own.py").write_text("def test_own():\n    pass\n")
    run = run_suite(project, [site], "--wfsdk-contract=wfsdk-contract-good")
    assert run.returncode == 0, run.output
    assert not run.failed()
    # Without paths on the command line the suite runs alone.
    assert "test_own" not in run.outcomes
    passed = {name for name, outcome in run.outcomes.items() if outcome == "passed"}
    for check in (
        "test_discoverable_through_the_wfsdk_entry_point_group",
        "test_hook_implementations_match_the_specs",
        "test_import_has_no_side_effects",
        "test_loads_into_a_kernel",
        "test_hooks_finish_within_the_time_budget",
        "test_observers_accept_every_event",
        "test_hooks_leave_the_database_alone",
        "test_before_write_returns_a_vote_or_none",
        "test_before_write_is_deterministic",
        "test_a_failing_hook_never_lets_a_write_through",
        "test_no_secret_leaks",
    ):
        assert any(name.startswith(check + "[") for name in passed), (check, run.output)
    # The hooks it does not implement are skipped, not passed.
    assert run.outcomes["test_before_commit_returns_a_receipt_or_none[wfsdk-contract-good]"] == (
        "skipped"
    )
    assert "time budget 1 s per hook call" in run.output


def test_each_broken_plugin_fails_exactly_the_checks_of_its_rule(
    site: Path, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "project")
    targets = [f"--wfsdk-contract={BROKEN}.{module}" for module in EXPECTED_FAILURES]
    run = run_suite(project, [site], *targets, f"--wfsdk-contract={NOT_INSTALLED}")
    assert run.returncode == 1, run.output
    expected = {
        name.format(f"{BROKEN}.{module}"): rule
        for module, checks in EXPECTED_FAILURES.items()
        for name, rule in checks.items()
    }
    discovery = f"test_discoverable_through_the_wfsdk_entry_point_group[{NOT_INSTALLED}]"
    expected[discovery] = "discoverable"
    assert run.failed() == set(expected), run.output
    for name, rule in expected.items():
        message = run.messages[name]
        assert f"[{rule}]" in message, (name, message)
        if rule in PROPERTIES:
            # Hypothesis shows the smallest example as a call of the property itself
            # (headed "Falsifying example" or "Failing test case", by version).
            prop = name.split("[", 1)[0].removeprefix("test_")
            assert f"{prop}(\n" in message, (name, message)

    def said(check: str, module: str, hook: str = "", param: str = "") -> str:
        """The failure message of one check, which names the plugin and the hook."""
        message = run.messages[f"{check}[{BROKEN}.{module}{'-' + param if param else ''}]"]
        assert f"plugin '{BROKEN}.{module}'" in message, message
        if hook:
            assert f"hook {hook}" in message, message
        return message

    # What each flaw was, in the words an author reads.
    assert "returned str 'allow'" in said(
        "test_before_write_returns_a_vote_or_none", "returns_string", hook="before_write"
    )
    assert "for the same intent" in said(
        "test_before_write_is_deterministic", "alternating", hook="before_write"
    )
    assert "did not return within 1 s on a write of no rows (it is still running)" in said(
        "test_hooks_finish_within_the_time_budget",
        "slow",
        hook="before_write",
        param="before_write",
    )
    assert "the database password found in the journal directory (leaky-audit.jsonl)" in said(
        "test_no_secret_leaks", "leaky", param="sqlite"
    )
    assert "UnicodeEncodeError" in said(
        "test_observers_accept_every_event", "fragile", hook="on_read", param="on_read"
    )
    assert "NoneType" in said(
        "test_observers_accept_every_event", "fragile", hook="after_write", param="after_write"
    )
    assert "changed the database" in said(
        "test_hooks_leave_the_database_alone", "meddling", hook="before_write", param="before_write"
    )
    noisy = said("test_import_has_no_side_effects", "noisy")
    assert "printed to stdout" in noisy and ".noisy-cache" in noisy
    assert "session" in said("test_hook_implementations_match_the_specs", "misnamed")
    assert "after_write is not decorated with @wfsdk.hookimpl" in said(
        "test_hook_implementations_match_the_specs", "forgetful"
    )
    assert "wfsdk-contract-good: contract_good = wfsdk_contract_good" in run.messages[discovery]
    # A slow hook is reported once, not again by every check that would call it.
    assert run.outcomes[f"test_before_write_is_deterministic[{BROKEN}.slow]"] == "skipped"
    # The noisy import happened in the suite's workspace, not in the author's checkout.
    assert not (project / ".noisy-cache").exists()


@pytest.mark.parametrize("how", ["fixture", "option"])
def test_settings_reach_the_plugin_under_test(site: Path, tmp_path: Path, how: str) -> None:
    # A setting the good plugin cannot parse makes its vote fail: proof that it arrived.
    conftest = CONFTEST
    args = ["--wfsdk-contract=wfsdk-contract-good", "-k", "vote_or_none"]
    if how == "fixture":
        conftest += textwrap.dedent(
            """
            import pytest

            @pytest.fixture
            def wfsdk_contract_env(wfsdk_contract_plugin):
                assert wfsdk_contract_plugin.distribution == "wfsdk-contract-good"
                return {"WFSDK_GOOD_MAX_ROWS": "many"}
            """
        )
    else:
        args.append("--wfsdk-contract-env=WFSDK_GOOD_MAX_ROWS=many")
    run = run_suite(make_project(tmp_path / "project", conftest), [site], *args)
    name = "test_before_write_returns_a_vote_or_none[wfsdk-contract-good]"
    assert run.failed() == {name}, run.output
    assert "ValueError" in run.messages[name]


def test_paths_on_the_command_line_run_beside_the_suite(site: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    (project / "tests").mkdir()
    (project / "tests" / "test_own.py").write_text("def test_own():\n    pass\n")
    run = run_suite(
        project, [site], "tests", "--wfsdk-contract=wfsdk-contract-good", "-k", "own or discov"
    )
    assert run.returncode == 0, run.output
    assert set(run.outcomes) == {
        "test_own",
        "test_discoverable_through_the_wfsdk_entry_point_group[wfsdk-contract-good]",
    }


@pytest.fixture(scope="module")
def installed_wfsdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regular (not editable) install of this checkout, as ``pip install wfsdk`` gives."""
    work = tmp_path_factory.mktemp("wfsdk-copy")
    source = work / "wfsdk"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"),
    )
    return source


@pytest.mark.parametrize("where", ["outside the rootdir", "in a virtualenv inside the rootdir"])
def test_an_installed_wfsdk_runs_the_suite_from_site_packages(
    site: Path, installed_wfsdk: Path, tmp_path: Path, where: str
) -> None:
    project = make_project(tmp_path / "project")
    if where == "outside the rootdir":
        target = tmp_path / "site-packages"
    else:
        venv = project / ".venv"
        target = venv / "lib" / "site-packages"
        venv.mkdir()
        (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    pip_install(installed_wfsdk, target, tmp_path)
    suite = target / "wfsdk" / "contract" / "suite.py"
    assert suite.is_file()
    run = run_suite(
        project,
        [target, site],
        "--wfsdk-contract=wfsdk-contract-good",
        "-k",
        "discoverable or deterministic",
    )
    assert run.returncode == 0, run.output
    assert set(run.outcomes) == {
        "test_discoverable_through_the_wfsdk_entry_point_group[wfsdk-contract-good]",
        "test_before_write_is_deterministic[wfsdk-contract-good]",
    }, run.output
    # It really was the installed copy that ran.
    assert f"wfsdk contract suite ({suite.resolve()})" in run.output


def test_the_password_in_a_postgresql_dsn_is_searched_for(
    site: Path, tmp_path: Path, pg_url: str
) -> None:
    project = make_project(tmp_path / "project")
    run = run_suite(
        project,
        [site],
        f"--wfsdk-contract={BROKEN}.leaky",
        "--wfsdk-contract=wfsdk-contract-good",
        f"--wfsdk-contract-postgres={pg_url}",
        "-k",
        "secret",
    )
    assert run.failed() == {
        f"test_no_secret_leaks[{BROKEN}.leaky-sqlite]",
        f"test_no_secret_leaks[{BROKEN}.leaky-postgresql]",
    }, run.output
    assert run.outcomes["test_no_secret_leaks[wfsdk-contract-good-postgresql]"] == "passed"
    leak = run.messages[f"test_no_secret_leaks[{BROKEN}.leaky-postgresql]"]
    assert "the database password found in the journal directory" in leak
