"""``wfsdk demo``, the README's first command: the tour, from the source tree and from a wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from wfsdk.cli import cli
from wfsdk.demo import tour

from kernel_support import pip_install_offline

ROOT = Path(__file__).resolve().parent.parent


def test_the_tour_shows_every_promised_step(tmp_path: Path) -> None:
    lines: list[str] = []
    outcome = tour.run(lines.append, tmp_path)
    assert outcome["contract_ok"] is True
    assert outcome["stages"] == ["Planning", "Writing", "Publishing"]
    assert outcome["rendered_fields"] == ["idea_seed"]
    assert outcome["change_id"]
    assert outcome["refused"] == [
        "a write to a read-only table",
        "a DDL statement",
        "two statements in one string",
    ]
    assert outcome["protected_unchanged"] is True
    text = "\n".join(lines)
    assert "did you mean 'stage_order'" in text
    assert "status: 'in_progress' -> 'review'" in text


def test_demo_command_exits_zero(tmp_path: Path) -> None:
    import wfsdk.commands  # noqa: F401

    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "The protected tables are unchanged" in result.output


def test_demo_runs_from_an_installed_wheel(tmp_path: Path) -> None:
    # The README's `pip install . && wfsdk demo`: the packaged copy of the
    # contract must travel with the wheel.
    source = tmp_path / "src"
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".git", ".nox", "*.egg-info", "build")
    )
    target = tmp_path / "site"
    pip_install_offline(source, target)
    packaged = target / "wfsdk" / "demo" / "schema.md"
    assert packaged.is_file() and not packaged.is_symlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFSDK_")}
    env["PYTHONPATH"] = str(target)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from wfsdk.cli import main; main()",
            "demo",
            "--dir",
            str(tmp_path / "d"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "0 differences" in result.stdout
    # The contract the tour checked is the packaged copy, not this checkout's docs/.
    assert str(packaged) in result.stdout
