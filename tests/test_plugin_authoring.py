"""The plugin authoring guide's worked example, built from the guide and run through the suite.

Every code block of ``docs/plugin-authoring.md`` with a ``title=`` is a file of the
example project (or, for ``console`` blocks, the commands to run in it). The project
is installed offline with pip into a directory of its own and the guide's command
runs the contract suite on it in a separate interpreter, as an author would.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kernel_support import pip_install_offline

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugin-authoring.md"
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)


def titled_blocks() -> dict[str, tuple[str, str]]:
    """title → (language, body) for every fenced block that has a title."""
    blocks: dict[str, tuple[str, str]] = {}
    for match in FENCE.finditer(GUIDE.read_text(encoding="utf-8")):
        language, _, rest = match["info"].strip().partition(" ")
        options = dict(part.split("=", 1) for part in rest.split() if "=" in part)
        title = options.get("title")
        if title:
            assert title not in blocks, f"two blocks titled {title!r} in {GUIDE.name}"
            blocks[title] = (language, match["body"])
    return blocks


def commands(body: str) -> list[list[str]]:
    return [shlex.split(line[2:]) for line in body.splitlines() if line.startswith("$ ")]


def test_the_guide_has_a_complete_worked_example() -> None:
    blocks = titled_blocks()
    files = {title for title, (language, _) in blocks.items() if language != "console"}
    assert {"pyproject.toml", "conftest.py", "src/wfsdk_row_limit/__init__.py"} <= files
    assert "[project.entry-points.wfsdk]" in blocks["pyproject.toml"][1]
    assert 'pytest_plugins = ["wfsdk.contract"]' in blocks["conftest.py"][1]
    assert commands(blocks["command"][1]) == [["pytest", "--wfsdk-contract=wfsdk-row-limit"]]


def run_pytest(
    argv: list[str], project: Path, site: Path, report: Path
) -> subprocess.CompletedProcess[str]:
    assert argv[0] == "pytest", argv
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WFSDK_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return subprocess.run(
        [sys.executable, "-m", *argv, "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def outcomes(report: Path) -> dict[str, str]:
    result = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        result[case.attrib["name"]] = kinds.pop() if kinds else "passed"
    return result


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the project built from the guide, the directory it is installed in)."""
    root = tmp_path_factory.mktemp("authoring")
    project = root / "wfsdk-row-limit"
    for title, (language, body) in titled_blocks().items():
        if language == "console":
            continue
        path = project / title
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    site = root / "site"
    pip_install_offline(project, site)
    return project, site


def test_the_worked_example_passes_the_contract_suite(
    example: tuple[Path, Path], tmp_path: Path
) -> None:
    project, site = example
    (argv,) = commands(titled_blocks()["command"][1])
    report = tmp_path / "suite.xml"
    result = run_pytest(argv, project, site, report)
    assert result.returncode == 0, result.stdout + result.stderr
    ran = outcomes(report)
    assert ran, result.stdout
    assert all(outcome in ("passed", "skipped") for outcome in ran.values()), ran
    for check in (
        "test_discoverable_through_the_wfsdk_entry_point_group[wfsdk-row-limit]",
        "test_import_has_no_side_effects[wfsdk-row-limit]",
        "test_before_write_returns_a_vote_or_none[wfsdk-row-limit]",
        "test_before_write_is_deterministic[wfsdk-row-limit]",
        "test_hooks_finish_within_the_time_budget[wfsdk-row-limit-before_write]",
        "test_no_secret_leaks[wfsdk-row-limit-sqlite]",
    ):
        assert ran.get(check) == "passed", (check, ran)


def test_the_worked_example_passes_its_own_tests(
    example: tuple[Path, Path], tmp_path: Path
) -> None:
    project, site = example
    (argv,) = commands(titled_blocks()["own-tests"][1])
    report = tmp_path / "own.xml"
    result = run_pytest(argv, project, site, report)
    assert result.returncode == 0, result.stdout + result.stderr
    assert outcomes(report) == {"test_only_large_writes_are_refused": "passed"}
