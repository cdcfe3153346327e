"""The contract inside the kernel and on the command line: checked first, stops on a mismatch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import wfsdk
from wfsdk import errors
from wfsdk.cli import cli
from wfsdk.demo import data
from wfsdk.schema import parse_contract
from wfsdk.values import MismatchReport

from kernel_support import SHIPPED_CONTRACT, Recorder, checksum, raw

GUIDE_QUERY = "SELECT * FROM workflow_stage_entity ORDER BY order_index"


@pytest.fixture
def demo_url(db_url: str) -> str:
    data.build(db_url).dispose()
    return db_url


def run_cli(*args: str) -> tuple[int, str, str]:
    import wfsdk.commands  # noqa: F401  (registers the subcommands on the group)

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


class Watcher(Recorder):
    def __init__(self, *, explode: bool = False) -> None:
        super().__init__()
        self.mismatches: list[MismatchReport] = []
        self.explode = explode

    @wfsdk.hookimpl
    def on_schema_mismatch(self, report: MismatchReport) -> None:
        self.mismatches.append(report)
        if self.explode:
            raise RuntimeError("observer failed")


def test_the_guide_example_is_refused_with_a_hint(demo_url: str) -> None:
    with wfsdk.connect(demo_url, plugins=[], contract=SHIPPED_CONTRACT) as kernel:
        with pytest.raises(errors.UnknownColumnError, match="did you mean 'stage_order'"):
            kernel.execute_query(GUIDE_QUERY)
        rows = kernel.execute_query("SELECT * FROM workflow_stage_entity ORDER BY stage_order")
        assert len(rows) == 3


def test_undocumented_tables_are_refused(demo_url: str) -> None:
    host = wfsdk.Declaration(module="host", reads={"image"})
    with wfsdk.connect(demo_url, plugins=[], contract=SHIPPED_CONTRACT, host_access=host) as k:
        with pytest.raises(errors.UnknownColumnError, match="not in the schema contract"):
            k.execute_query("SELECT id FROM image")


@pytest.mark.parametrize("explode", [False, True])
def test_a_mismatch_stops_connect_and_no_plugin_can_turn_it_off(
    demo_url: str, explode: bool
) -> None:
    raw(demo_url, "ALTER TABLE post_workflow_stage DROP COLUMN output_field")
    watcher = Watcher(explode=explode)
    with pytest.raises(errors.SchemaMismatchError) as raised:
        wfsdk.connect(demo_url, plugins=[], contract=SHIPPED_CONTRACT, extra_plugins=[watcher])
    report = raised.value.report
    assert not report.ok
    (difference,) = report.differences
    assert (difference.table, difference.kind, difference.column) == (
        "post_workflow_stage",
        "missing_column",
        "output_field",
    )
    assert "schema.md:" in difference.source
    assert len(watcher.mismatches) == 1
    assert watcher.mismatches[0].differences == report.differences
    if explode:
        assert any(e.phase == "on_schema_mismatch" for e in watcher.errors)


def test_missing_or_unreadable_contract_is_an_error(demo_url: str, tmp_path: Path) -> None:
    with pytest.raises(errors.ContractError, match=r"nowhere\.md"):
        wfsdk.connect(demo_url, plugins=[], contract=tmp_path / "nowhere.md")
    empty = tmp_path / "empty.md"
    empty.write_text("# nothing documented here\n")
    with pytest.raises(errors.ContractError):
        wfsdk.connect(demo_url, plugins=[], contract=empty)


def test_the_contract_is_read_fresh_at_every_check(demo_url: str, tmp_path: Path) -> None:
    contract = tmp_path / "schema.md"
    contract.write_text(SHIPPED_CONTRACT.read_text())
    with wfsdk.connect(demo_url, plugins=[], contract=contract) as kernel:
        assert kernel.check_schema().ok
        contract.write_text(
            SHIPPED_CONTRACT.read_text().replace(
                "| stage_order | INTEGER | NO |", "| stage_order | TEXT | NO |"
            )
        )
        with pytest.raises(errors.SchemaMismatchError):
            kernel.check_schema()
        # Stopped: nothing runs until the user has looked at it and connected again.
        with pytest.raises(errors.SchemaMismatchError):
            kernel.execute_query("SELECT id FROM post")


def test_real_dump_matches_the_shipped_contract_and_reads_change_nothing(blog_url: str) -> None:
    tables = sorted(parse_contract(SHIPPED_CONTRACT.read_text()).tables)
    before = checksum(blog_url, tables)
    with wfsdk.connect(blog_url, plugins=[], contract=SHIPPED_CONTRACT) as kernel:
        assert kernel.last_report is not None and kernel.last_report.ok
        stages = kernel.execute_query("SELECT id, name FROM workflow_stage_entity")
        assert len(stages) > 0
        with pytest.raises(errors.UnknownColumnError, match="stage_order"):
            kernel.execute_query(GUIDE_QUERY)
    assert checksum(blog_url, tables) == before


# -- command line ----------------------------------------------------------------------


def test_cli_check_exit_codes(demo_url: str, tmp_path: Path) -> None:
    code, out, _ = run_cli("--dsn", demo_url, "--contract", str(SHIPPED_CONTRACT), "check")
    assert code == 0, out
    code, out, _ = run_cli(
        "--dsn", demo_url, "--contract", str(SHIPPED_CONTRACT), "check", "--format", "json"
    )
    assert code == 0 and json.loads(out)["ok"] is True
    code, _, err = run_cli("--dsn", demo_url, "--contract", str(tmp_path / "no.md"), "check")
    assert code == 2 and "no.md" in err
    code, _, err = run_cli("--dsn", "nosuch://x", "--contract", str(SHIPPED_CONTRACT), "check")
    assert code == 2 and "not supported" in err
    raw(demo_url, "ALTER TABLE post DROP COLUMN summary")
    code, out, _ = run_cli(
        "--dsn", demo_url, "--contract", str(SHIPPED_CONTRACT), "check", "--format", "json"
    )
    document = json.loads(out)
    assert code == 1 and document["ok"] is False
    assert [(d["table"], d["kind"], d["column"]) for d in document["differences"]] == [
        ("post", "missing_column", "summary")
    ]


def test_cli_snapshot_round_trips(demo_url: str, tmp_path: Path) -> None:
    code, out, _ = run_cli("--dsn", demo_url, "snapshot")
    assert code == 0
    document = tmp_path / "snap.md"
    document.write_text(out)
    assert not parse_contract(out).problems
    code, out, _ = run_cli("--dsn", demo_url, "--contract", str(document), "check")
    assert code == 0, out
    code, out, _ = run_cli("--dsn", demo_url, "snapshot", "--tables", "post")
    assert sorted(parse_contract(out).tables) == ["post"]


def test_cli_query_prints_rows_and_refuses_with_exit_3(demo_url: str) -> None:
    base = ["--dsn", demo_url, "--contract", str(SHIPPED_CONTRACT), "query"]
    code, out, _ = run_cli(*base, "SELECT name FROM workflow_stage_entity ORDER BY stage_order")
    assert code == 0 and "Planning" in out and "(3 rows)" in out
    code, out, _ = run_cli(
        *base,
        "SELECT id FROM post WHERE slug = :s",
        "-p",
        "s=tomatoes-on-a-balcony",
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out) == [{"id": 1}]
    for sql in (
        "DROP TABLE post",
        GUIDE_QUERY,
        "UPDATE llm_action SET llm_model = 'x' WHERE id = 1",
    ):
        code, _, err = run_cli(*base, sql)
        assert code == 3 and err.startswith("refused:"), (sql, err)
