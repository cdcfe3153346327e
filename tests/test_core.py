"""The core module: stages and sub-stages in order, look-ups, and the problems it reports."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

import wfsdk
from wfsdk import errors
from wfsdk.demo import data
from wfsdk.modules.core import CoreApi, Stage, SubStage

from kernel_support import SHIPPED_CONTRACT, Recorder, checksum, raw

CORE_TABLES = ["workflow_stage_entity", "workflow_sub_stage_entity"]


@pytest.fixture
def demo_url(db_url: str) -> str:
    data.build(db_url).dispose()
    return db_url


def open_kernel(url: str, *plugins: object) -> wfsdk.Kernel:
    return wfsdk.connect(url, plugins=[], contract=SHIPPED_CONTRACT, extra_plugins=list(plugins))


def insert_unchecked(url: str, sql: str, params: dict[str, Any] | None = None) -> None:
    """Fixture work: write rows a foreign key would refuse, as long-lived databases hold them."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.execute(sa.text(sql), params or {})
    finally:
        engine.dispose()


def test_stages_in_workflow_order(demo_url: str) -> None:
    with open_kernel(demo_url) as kernel:
        stages = kernel.api(CoreApi).stages()
    assert stages == tuple(
        Stage(i, n, d, o) for i, n, d, o in sorted(data.STAGES, key=lambda s: (s[3], s[0]))
    )


def test_stage_look_ups(demo_url: str) -> None:
    with open_kernel(demo_url) as kernel:
        core = kernel.api(CoreApi)
        assert kernel.apis["core"] is core and core.name == "core"
        writing = core.stage(2)
        assert writing is not None and writing.name == "Writing"
        assert core.stage(999) is None
        # Case-insensitive, as the CMS looks stages up.
        assert core.stage_named("wRiTiNg") == writing
        assert core.stage_named("Writing ") is None
        assert core.stage_named("nothing") is None


def test_sub_stages_in_order_and_look_ups(demo_url: str) -> None:
    expected = {
        stage_id: tuple(
            SubStage(i, s, n, d, o)
            for i, s, n, d, o in sorted(data.SUB_STAGES, key=lambda r: (r[4], r[0]))
            if s == stage_id
        )
        for stage_id, *_ in data.STAGES
    }
    with open_kernel(demo_url) as kernel:
        core = kernel.api(CoreApi)
        for stage_id, subs in expected.items():
            assert core.sub_stages(stage_id) == subs
        assert core.all_sub_stages() == tuple(
            s for stage in core.stages() for s in expected[stage.id]
        )
        assert core.sub_stages(999) == ()
        research = core.sub_stage(2)
        assert research is not None and research.stage_id == 1
        assert core.sub_stage(999) is None
        assert core.sub_stage_named(1, "RESEARCH") == research
        assert core.sub_stage_named(2, "research") is None


@pytest.mark.parametrize("bad", ["1", 1.0, True, None])
def test_ids_are_checked_before_any_sql(demo_url: str, bad: object) -> None:
    recorder = Recorder()
    with open_kernel(demo_url, recorder) as kernel:
        core = kernel.api(CoreApi)
        for call in (core.stage, core.sub_stages, core.sub_stage):
            with pytest.raises(errors.ConfigurationError, match="integer id"):
                call(bad)  # type: ignore[arg-type]
        with pytest.raises(errors.ConfigurationError, match="non-empty string"):
            core.stage_named("  ")
    assert recorder.reads == []


def test_a_clean_workflow_has_no_core_problems(demo_url: str) -> None:
    with open_kernel(demo_url) as kernel:
        assert kernel.api(CoreApi).problems() == ()


def test_ties_are_ordered_by_id_and_reported(demo_url: str) -> None:
    raw(
        demo_url,
        "INSERT INTO workflow_stage_entity (id, name, stage_order) VALUES "
        "(9, 'Editing', 2), (7, 'Proofing', 2)",
    )
    raw(
        demo_url,
        "INSERT INTO workflow_sub_stage_entity (id, stage_id, name, sub_stage_order) VALUES "
        "(20, 1, 'Sketch', 1), (21, 1, 'Doodle', 1)",
    )
    with open_kernel(demo_url) as kernel:
        core = kernel.api(CoreApi)
        assert [s.id for s in core.stages()] == [1, 2, 7, 9, 3]
        assert [s.id for s in core.sub_stages(1)] == [1, 20, 21, 2]
        problems = core.problems()
    assert {(p.kind, p.table, p.row_id) for p in problems} == {
        ("duplicate-order", "workflow_stage_entity", (2, 7, 9)),
        ("duplicate-order", "workflow_sub_stage_entity", (1, 20, 21)),
    }
    assert all(p.module == "core" for p in problems)
    assert "share stage_order 2" in next(p.message for p in problems if p.row_id == (2, 7, 9))


def test_names_equal_but_for_case_are_reported_and_the_first_wins(demo_url: str) -> None:
    raw(
        demo_url,
        "INSERT INTO workflow_stage_entity (id, name, stage_order) VALUES (8, 'PLANNING', 0)",
    )
    with open_kernel(demo_url) as kernel:
        core = kernel.api(CoreApi)
        found = core.stage_named("planning")
        (problem,) = core.problems()
    assert found is not None and found.id == 8
    assert problem.kind == "ambiguous-name" and problem.row_id == (1, 8)


def test_sub_stages_without_a_stage_are_reported(demo_url: str) -> None:
    insert_unchecked(
        demo_url,
        "INSERT INTO workflow_sub_stage_entity (id, stage_id, name, sub_stage_order) VALUES "
        "(30, 99, 'Lost', 1), (31, NULL, 'Loose', 1)",
    )
    with open_kernel(demo_url) as kernel:
        core = kernel.api(CoreApi)
        problems = core.problems()
        listed = [s.id for s in core.all_sub_stages()]
    assert {(p.kind, p.row_id) for p in problems} == {
        ("missing-reference", 30),
        ("missing-reference", 31),
    }
    assert listed[-2:] == [30, 31]


def test_reads_change_nothing(demo_url: str) -> None:
    tables = sorted(data.schema.metadata.tables)
    before = checksum(demo_url, tables)
    with open_kernel(demo_url) as kernel:
        core = kernel.api(CoreApi)
        core.stages(), core.all_sub_stages(), core.stage_named("planning"), core.problems()
    assert checksum(demo_url, tables) == before


# -- the real blog database ------------------------------------------------------------


def test_core_on_the_blog_dump(blog_url: str) -> None:
    stages = raw(blog_url, "SELECT id, name, stage_order FROM workflow_stage_entity")
    subs = raw(blog_url, "SELECT id, stage_id, sub_stage_order FROM workflow_sub_stage_entity")
    before = checksum(blog_url, CORE_TABLES)
    with open_kernel(blog_url) as kernel:
        core = kernel.api(CoreApi)
        listed = core.stages()
        problems = core.problems()
        by_stage = {s.id: core.sub_stages(s.id) for s in listed}
        first = listed[0]
        assert core.stage_named(first.name.upper()) == first
    assert [s.id for s in listed] == [i for i, _, _ in sorted(stages, key=lambda r: (r[2], r[0]))]
    for stage_id, found in by_stage.items():
        want = sorted((r for r in subs if r[1] == stage_id), key=lambda r: (r[2], r[0]))
        assert [s.id for s in found] == [r[0] for r in want]
    # The dump holds stages that share an order value; each tie is reported once.
    tied = {o for o, n in Counter(r[2] for r in stages).items() if n > 1}
    assert tied
    reported = [p for p in problems if p.kind == "duplicate-order" and p.table == CORE_TABLES[0]]
    assert len(reported) == len(tied)
    assert checksum(blog_url, CORE_TABLES) == before
