"""The worked Flask example of docs/host-integration.md, built from the page and run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from wfsdk.demo import data

from kernel_support import SHIPPED_CONTRACT, raw

pytest.importorskip("flask")

PAGE = Path(__file__).resolve().parent.parent / "docs" / "host-integration.md"
BLOCK = re.compile(r"```python title=(\S+)\n(.*?)```", re.S)


def write_example(directory: Path) -> None:
    blocks = dict(BLOCK.findall(PAGE.read_text()))
    assert set(blocks) == {"blogapp.py", "use_blogapp.py"}, sorted(blocks)
    for name, code in blocks.items():
        (directory / name).write_text(code)


def test_the_flask_example_runs_as_documented(db_url: str, tmp_path: Path) -> None:
    data.build(db_url).dispose()
    write_example(tmp_path)
    result = subprocess.run(
        [sys.executable, "use_blogapp.py", db_url, str(SHIPPED_CONTRACT), str(tmp_path / "state")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    stages, preview, done, refused = result.stdout.strip().splitlines()
    assert "Planning" in stages and "Publishing" in stages
    assert "'committed': False" in preview and "'after': 'review'" in preview
    assert done == "200 True"
    assert refused.startswith("403") and "mallory@example.org is not an editor" in refused
    status = raw(
        db_url, "SELECT status FROM post_workflow_stage WHERE post_id = 1 AND stage_id = 2"
    )
    assert status[0][0] == "review"
