"""Collecting data problems from every API, and the ``tree`` and ``integrity`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import wfsdk
import wfsdk.commands  # registers the built-in subcommands on the group
from wfsdk import errors, integrity
from wfsdk.cli import cli
from wfsdk.demo import data
from wfsdk.gateway import Gateway
from wfsdk.modules.workflow import WorkflowApi
from wfsdk.values import DataProblem

from kernel_support import SHIPPED_CONTRACT, checksum, raw

DOMAIN = ("core", "workflow")


@pytest.fixture
def demo_url(db_url: str) -> str:
    data.build(db_url).dispose()
    return db_url


@pytest.fixture
def clean_url(demo_url: str) -> str:
    """The demo database without its one data problem (a step input naming no field)."""
    engine = sa.create_engine(demo_url)
    table = data.schema.workflow_step_entity
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == 4).values(config={}))
    engine.dispose()
    return demo_url


@pytest.fixture(autouse=True)
def _domain_modules_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # The counts below are core's and workflow's; the llm module reports on its own tables.
    monkeypatch.setenv("WFSDK_DISABLE_PLUGINS", "llm")


def all_tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return sorted(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


class Listed:
    """A third-party API taking part in ``integrity`` with nothing but a ``problems`` method."""

    name = "listed"

    def __init__(self, problems: Iterable[Any] = (), error: Exception | None = None) -> None:
        self._problems = list(problems)
        self._error = error

    def problems(self) -> Iterator[Any]:
        if self._error is not None:
            raise self._error
        yield from self._problems


class Offers:
    def __init__(self, api: object) -> None:
        self.api = api

    @wfsdk.hookimpl
    def register_api(self, gateway: Gateway) -> object:
        return self.api


def open_kernel(url: str, *plugins: object) -> wfsdk.Kernel:
    return wfsdk.connect(url, plugins=[], contract=SHIPPED_CONTRACT, extra_plugins=list(plugins))


# -- collecting --------------------------------------------------------------------


def test_collect_asks_every_api_that_reports_problems(demo_url: str) -> None:
    mine = DataProblem("bad-config", "thing", 1, "broken")
    theirs = DataProblem("odd", "other", 2, "odd", module="someone")
    with open_kernel(demo_url, Offers(Listed([mine, theirs])), Offers(object())) as kernel:
        problems = integrity.collect(kernel)
    assert [(p.module, p.kind) for p in problems] == [
        ("workflow", "empty-field"),
        ("listed", "bad-config"),
        ("someone", "odd"),
    ]
    assert integrity.counts(problems) == {"bad-config": 1, "empty-field": 1, "odd": 1}


@pytest.mark.parametrize(
    ("api", "match"),
    [
        (Listed(error=RuntimeError("lost")), "problems\\(\\) raised RuntimeError: lost"),
        (Listed(["not a problem"]), "returned a str"),
    ],
)
def test_a_failing_reporter_stops_the_collection(demo_url: str, api: Listed, match: str) -> None:
    with open_kernel(demo_url, Offers(api)) as kernel:
        with pytest.raises(errors.PluginError, match=match) as raised:
            integrity.collect(kernel)
    assert raised.value.plugin == "listed"


def test_order_ties() -> None:
    rows = [("a", 1, 5), ("a", 1, 2), ("b", 1, 3), ("a", 2, 4), ("a", 1, 9), ("b", 1, 1)]
    assert integrity.order_ties(rows) == [("a", 1, (2, 5, 9)), ("b", 1, (1, 3))]
    assert integrity.order_ties([]) == []


def test_collect_changes_nothing_on_the_blog_dump(blog_url: str) -> None:
    tables = all_tables(blog_url)
    before = checksum(blog_url, tables)
    with open_kernel(blog_url) as kernel:
        problems = integrity.collect(kernel)
    assert checksum(blog_url, tables) == before
    kinds = integrity.counts(problems)
    assert {"duplicate-order", "unknown-field", "undocumented-table", "empty-field"} <= set(kinds)
    assert {p.module for p in problems} <= set(DOMAIN)


# -- the commands --------------------------------------------------------------------


def run(url: str, *args: str) -> Any:
    result = CliRunner().invoke(
        cli, ["--dsn", url, "--contract", str(SHIPPED_CONTRACT), *args], catch_exceptions=False
    )
    return result


def test_tree_command(demo_url: str) -> None:
    result = run(demo_url, "tree")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "stage 1 Planning (order 1)"
    assert lines[1] == "  sub-stage 1 Idea (order 1)"
    assert lines[2].startswith("    step 1 Basic Idea (order 1)  [llm ollama/llama3.1:8b")
    assert sum(line.lstrip().startswith("step ") for line in lines) == len(data.STEPS)


def test_tree_command_json(demo_url: str) -> None:
    result = run(demo_url, "tree", "--format", "json")
    assert result.exit_code == 0, result.output
    tree = json.loads(result.output)
    assert [s["stage"]["name"] for s in tree["stages"]] == ["Planning", "Writing", "Publishing"]
    step = tree["stages"][0]["sub_stages"][0]["steps"][0]
    assert step["config"]["llm"]["output"]["field"] == "basic_idea"
    assert "raw" not in step["config"]


def test_tree_command_shows_config_problems(demo_url: str) -> None:
    engine = sa.create_engine(demo_url)
    table = data.schema.workflow_step_entity
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == 5).values(config=[1]))
    engine.dispose()
    result = run(demo_url, "tree")
    assert result.exit_code == 0
    assert "      ! config config is a JSON array, not an object" in result.output


def test_integrity_command_clean(clean_url: str) -> None:
    result = run(clean_url, "integrity")
    assert result.exit_code == 0, result.output
    assert "no data problems found (checked by: core, workflow)" in result.output
    as_json = json.loads(run(clean_url, "integrity", "--format", "json").output)
    assert as_json == {"checked": list(DOMAIN), "total": 0, "counts": {}, "problems": []}


def test_integrity_command_reports_and_exits_1(clean_url: str) -> None:
    raw(
        clean_url,
        "INSERT INTO workflow_stage_entity (id, name, stage_order) VALUES (5, 'Again', 1)",
    )
    before = checksum(clean_url, sorted(data.schema.metadata.tables))
    result = run(clean_url, "integrity")
    assert result.exit_code == 1
    assert "[duplicate-order] workflow_stage_entity rows 1, 5:" in result.output
    assert "1 data problem(s), nothing was changed:" in result.output
    as_json = run(clean_url, "integrity", "--format", "json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.output)
    assert report["counts"] == {"duplicate-order": 1} and report["total"] == 1
    assert report["problems"][0]["row_id"] == [1, 5]
    assert checksum(clean_url, sorted(data.schema.metadata.tables)) == before


def test_commands_without_a_database_exit_2(tmp_path: Path) -> None:
    for command in ("tree", "integrity"):
        result = CliRunner().invoke(cli, [command])
        assert result.exit_code == 2 and "no database" in result.output
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    result = run(missing, "integrity")
    assert result.exit_code == 2


def test_tree_without_the_workflow_module_exits_2(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFSDK_DISABLE_PLUGINS", "workflow")
    result = run(demo_url, "tree")
    assert result.exit_code == 2 and "workflow module is not loaded" in result.output


def test_integrity_command_on_the_blog_dump(blog_url: str) -> None:
    tables = all_tables(blog_url)
    before = checksum(blog_url, tables)
    result = run(blog_url, "integrity", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["total"] == sum(report["counts"].values()) > 0
    assert report["counts"]["duplicate-order"] >= 1
    text = run(blog_url, "integrity")
    assert text.exit_code == 1 and "nothing was changed" in text.output
    assert run(blog_url, "tree").exit_code == 0
    assert checksum(blog_url, tables) == before


def test_workflow_api_is_a_reporter() -> None:
    assert issubclass(WorkflowApi, integrity.ReportsProblems)
