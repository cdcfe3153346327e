"""Bad input at every public entry point: a clear ``WfsdkError``, and nothing written.

Hypothesis feeds ``connect``, ``execute_query``, the gateway's typed writes and
the ``core``, ``workflow`` and ``llm`` APIs with wrong types, huge strings, NUL
bytes, lone surrogates, unicode, SQL in values and unknown ids. Each call
either returns normally or raises a ``WfsdkError`` (its documented subclasses
included); anything else is a bug. When it raises, every table is what it was.
Writes are allowed by an in-process policy, so bad values get as far as the
database can take them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

import wfsdk
from wfsdk.demo import data, schema
from wfsdk.modules.core import CoreApi
from wfsdk.modules.llm import CONTENT_FIELDS, LlmApi
from wfsdk.modules.workflow import WorkflowApi
from wfsdk.values import Declaration, Vote

from kernel_support import SHIPPED_CONTRACT, Voter, raw

TABLES = sorted(schema.metadata.tables)
WRITABLE = ("post_workflow_stage", "post_development")
HOST = Declaration(
    module="host",
    reads=frozenset(TABLES) - {"image", "workflow_format_template"},
    writes={
        "post_workflow_stage": {"status", "started_at", "completed_at"},
        "post_development": set(CONTENT_FIELDS),
    },
)

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- what a careless or hostile caller passes ---------------------------------------------

nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\ud800",
            "x\udfffy",
            "'; DROP TABLE post; --",
            "1 OR 1=1",
            "review' OR '1'='1",
            "$$; DELETE FROM post_workflow_stage; $$",
            "%s %(x)s :name ?",
            "\u202eevil",
            "🙂" * 40,
        ]
    ),
    # Built, not listed, so that a failing example does not print it whole.
    st.just(100_000).map(lambda n: "x" * n),
)
nasty_ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2, 3, 999_999, 2**31, 2**63, True, False]),
)
junk = st.one_of(
    st.none(),
    nasty_ids,
    nasty_text,
    st.floats(),
    st.binary(max_size=20),
    st.decimals(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just(object()),
    st.just(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
    st.just(dt.datetime(2026, 1, 1)),
)
anything_id = st.one_of(nasty_ids, junk)
anything_text = st.one_of(nasty_text, junk)


# -- the database, its checksum, and putting it back ---------------------------------------


class Database:
    """The demo database, read outside wfsdk: checksums, and the writable rows put back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url)
        self.meta = sa.MetaData()
        self.meta.reflect(self.engine)
        with self.engine.connect() as conn:
            self.saved = {
                name: [dict(r) for r in conn.execute(sa.select(self.meta.tables[name])).mappings()]
                for name in WRITABLE
            }
        self.start = self.checksum()

    def checksum(self) -> str:
        digest = hashlib.sha256()
        with self.engine.connect() as conn:
            for name in TABLES:
                table = self.meta.tables[name]
                rows = conn.execute(sa.select(table).order_by(*table.primary_key)).all()
                digest.update(json.dumps([list(r) for r in rows], default=str).encode())
        return digest.hexdigest()

    def put_back(self) -> None:
        """Undo what an accepted write changed: updated rows get their values, new rows go."""
        with self.engine.begin() as conn:
            for name, rows in self.saved.items():
                table = self.meta.tables[name]
                conn.execute(table.delete().where(table.c.id.not_in([r["id"] for r in rows])))
                for row in rows:
                    conn.execute(table.update().where(table.c.id == row["id"]).values(**row))
        assert self.checksum() == self.start


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    data.build(pg_url).dispose()
    database = Database(pg_url)
    yield database
    database.engine.dispose()


@pytest.fixture
def kernel(db: Database, tmp_path: Path) -> Iterator[wfsdk.Kernel]:
    with wfsdk.connect(
        db.url,
        plugins=[],
        contract=SHIPPED_CONTRACT,
        host_access=HOST,
        extra_plugins=[Voter(Vote.allow())],
        state_dir=tmp_path / "state",
    ) as k:
        yield k


def note(outcome: str) -> None:
    if currently_in_test_context():
        event(outcome)


def attempt(db: Database, call: Callable[[], object]) -> object:
    """Call; a ``WfsdkError`` leaves every table as it was, anything else fails the test."""
    try:
        outcome = call()
    except wfsdk.WfsdkError as exc:
        note(f"refused: {type(exc).__name__}")
        assert db.checksum() == db.start, f"{type(exc).__name__} but something was written"
        return exc
    except Exception as exc:  # the bug this file is here to find
        pytest.fail(f"{type(exc).__name__} instead of a WfsdkError: {exc!r}"[:2000])
    if db.checksum() != db.start:
        note("accepted and written")
        db.put_back()
    else:
        note("accepted")
    return outcome


# -- connect ------------------------------------------------------------------------------


dsns = st.builds(
    "postgresql://{}:{}@127.0.0.1:1/{}".format,
    nasty_text.map(lambda t: t[:50]),
    nasty_text.map(lambda t: t[:50]),
    nasty_text.map(lambda t: t[:50]),
)


@SETTINGS
@given(target=st.one_of(junk, dsns, st.sampled_from(["sqlite:///", "mysql://x@127.0.0.1/db"])))
def test_connect_with_a_bad_target(target: Any, tmp_path: Path) -> None:
    # Nothing listens on port 1, and no name needs resolving: failures are quick and local.
    with contextlib.suppress(wfsdk.WfsdkError):
        wfsdk.connect(target, plugins=[], contract=SHIPPED_CONTRACT, state_dir=tmp_path).close()


@SETTINGS
@given(
    argument=st.sampled_from(
        [
            "contract",
            "state_dir",
            "plugins",
            "disable_plugins",
            "extra_plugins",
            "host_access",
            "max_write_rows",
        ]
    ),
    value=junk,
)
def test_connect_with_bad_arguments(
    sqlite_demo: str, argument: str, value: Any, tmp_path: Path
) -> None:
    arguments: dict[str, Any] = {
        "plugins": [],
        "contract": SHIPPED_CONTRACT,
        "state_dir": tmp_path / "state",
        argument: value,
    }
    try:
        kernel = wfsdk.connect(sqlite_demo, **arguments)
    except wfsdk.WfsdkError:
        return
    with kernel:
        kernel.execute_query("SELECT id FROM post")


@pytest.mark.parametrize("kind", ["engine", "instrumented engine", "factory"])
def test_connect_with_an_autocommit_connection(db: Database, kind: str) -> None:
    # Autocommit would run each statement on its own: reads without READ ONLY, writes
    # without their lock and their rollback. wfsdk begins its transactions all the same.
    raw(
        db.url,
        "CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS "
        "$$ UPDATE post SET title = 'changed' RETURNING 1 $$",
    )
    before = db.checksum()
    target: Any
    if kind == "factory":
        conninfo = db.url.replace("postgresql+psycopg://", "postgresql://")
        target = lambda: psycopg.connect(conninfo, autocommit=True)  # noqa: E731
    else:
        target = sa.create_engine(db.url, isolation_level="AUTOCOMMIT")
        if kind == "instrumented engine":
            sa.event.listen(target, "after_cursor_execute", lambda *_: None)
    with wfsdk.connect(
        target,
        plugins=[],
        contract=SHIPPED_CONTRACT,
        host_access=HOST,
        extra_plugins=[Voter(Vote.allow())],
    ) as kernel:
        with pytest.raises(wfsdk.errors.DatabaseError, match="read-only transaction"):
            kernel.execute_query("SELECT sneaky() AS s FROM post")
        assert db.checksum() == before

        # A write that fails verification is rolled back, which needs a transaction.
        raw(
            db.url,
            "CREATE FUNCTION rewrite() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.status := 'rewritten'; RETURN NEW; END $$",
        )
        raw(
            db.url,
            "CREATE TRIGGER rewrite BEFORE UPDATE ON post_workflow_stage "
            "FOR EACH ROW EXECUTE FUNCTION rewrite()",
        )
        with pytest.raises(wfsdk.errors.VerificationFailedError):
            kernel.host.update(
                "post_workflow_stage", {"id": 2}, {"status": "review"}, actor="a", reason="r"
            )
        assert db.checksum() == before
    if isinstance(target, sa.Engine):
        target.dispose()


@pytest.fixture
def sqlite_demo(sqlite_url: str) -> str:
    data.build(sqlite_url).dispose()
    return sqlite_url


# -- execute_query and the gateway's typed writes -----------------------------------------
#
# Each example spoils one argument and keeps the others sound, so that the bad one gets as
# deep as it can: past the argument checks, through the guard, into the database.

STATEMENTS = [
    "SELECT id, title FROM post WHERE title = %s",
    "SELECT id FROM post_workflow_stage WHERE post_id = %s",
    "SELECT id FROM post WHERE id = :v",
    "UPDATE post_workflow_stage SET status = %s WHERE id = 2",
    "UPDATE post_workflow_stage SET status = :v WHERE post_id = 1",
    "UPDATE post_development SET basic_idea = %s WHERE post_id = 1",
    "UPDATE post_workflow_stage SET started_at = %s WHERE id = 3",
]
value = st.one_of(anything_text, anything_id)


@SETTINGS
@given(sql=st.sampled_from(STATEMENTS), bad=value, shape=st.sampled_from(["seq", "map", "raw"]))
def test_execute_query_with_bad_values(
    db: Database, kernel: wfsdk.Kernel, sql: str, bad: Any, shape: str
) -> None:
    params = {"seq": (bad,), "map": {"v": bad}, "raw": bad}[shape]
    attempt(db, lambda: kernel.execute_query(sql, params, actor="tester", reason="bad input"))


@SETTINGS
@given(argument=st.sampled_from(["sql", "params", "actor", "reason", "dry_run"]), bad=junk)
def test_execute_query_with_bad_arguments(
    db: Database, kernel: wfsdk.Kernel, argument: str, bad: Any
) -> None:
    arguments: dict[str, Any] = {
        "sql": "UPDATE post_workflow_stage SET status = %s WHERE id = 2",
        "params": ("review",),
        "actor": "tester",
        "reason": "bad input",
        "dry_run": False,
    }
    arguments[argument] = bad
    attempt(db, lambda: kernel.execute_query(**arguments))


WRITES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # operation: (table, key, values), all sound
    "update status": ("post_workflow_stage", {"id": 2}, {"status": "review"}),
    "update content": ("post_development", {"post_id": 1}, {"basic_idea": "An idea."}),
    "insert status": ("post_workflow_stage", {}, {"status": "new"}),
    "delete status": ("post_workflow_stage", {"id": 3}, {}),
}


@SETTINGS
@given(
    write=st.sampled_from(sorted(WRITES)),
    argument=st.sampled_from(["table", "key", "key value", "values", "value", "actor"]),
    bad=st.one_of(value, junk),
)
def test_gateway_writes(
    db: Database, kernel: wfsdk.Kernel, write: str, argument: str, bad: Any
) -> None:
    table, key, values = WRITES[write]
    actor: Any = "tester"
    if argument == "table":
        table = bad
    elif argument == "key":
        key = bad
    elif argument == "key value":
        key = {column: bad for column in key} or {"id": bad}
    elif argument == "values":
        values = bad
    elif argument == "value":
        values = {column: bad for column in values} or {"status": bad}
    else:
        actor = bad
    gateway = kernel.host
    calls: dict[str, Callable[[], object]] = {
        "update": lambda: gateway.update(table, key, values, actor=actor, reason="bad input"),
        "insert": lambda: gateway.insert(table, values, actor=actor, reason="bad input"),
        "delete": lambda: gateway.delete(table, key, actor=actor, reason="bad input"),
    }
    attempt(db, calls[write.split()[0]])


# -- the domain APIs ------------------------------------------------------------------------


@SETTINGS
@given(
    method=st.sampled_from(
        ["stage", "stage_named", "sub_stages", "sub_stage", "sub_stage_named", "stages"]
    ),
    first=st.one_of(st.sampled_from([1, 2, 3]), anything_id),
    second=st.one_of(st.sampled_from(["Planning", "idea"]), anything_text),
)
def test_core_api(db: Database, kernel: wfsdk.Kernel, method: str, first: Any, second: Any) -> None:
    api = kernel.api(CoreApi)
    calls: dict[str, Callable[[], object]] = {
        "stage": lambda: api.stage(first),
        "stage_named": lambda: api.stage_named(second),
        "sub_stages": lambda: api.sub_stages(first),
        "sub_stage": lambda: api.sub_stage(first),
        "sub_stage_named": lambda: api.sub_stage_named(first, second),
        "stages": api.stages,
    }
    attempt(db, calls[method])


STATUS_ARGUMENTS = ("post_id", "stage_id", "status", "actor", "reason", "started_at", "dry_run")


@SETTINGS
@given(argument=st.sampled_from(STATUS_ARGUMENTS), bad=st.one_of(value, junk))
def test_set_stage_status(db: Database, kernel: wfsdk.Kernel, argument: str, bad: Any) -> None:
    arguments: dict[str, Any] = {
        "post_id": 1,
        "stage_id": 2,
        "status": "review",
        "actor": "tester",
        "reason": "bad input",
        "started_at": None,
        "dry_run": False,
    }
    arguments[argument] = bad
    api = kernel.api(WorkflowApi)
    attempt(db, lambda: api.set_stage_status(**arguments))


@SETTINGS
@given(
    method=st.sampled_from(
        [
            "tree",
            "step",
            "steps",
            "stage_steps",
            "field_mappings",
            "step_actions",
            "stage_status",
            "stage_statuses",
        ]
    ),
    first=st.one_of(st.sampled_from([1, 2]), anything_id),
    second=st.one_of(st.sampled_from([1, 2, 3]), anything_id),
)
def test_workflow_lookups(
    db: Database, kernel: wfsdk.Kernel, method: str, first: Any, second: Any
) -> None:
    api = kernel.api(WorkflowApi)
    calls: dict[str, Callable[[], object]] = {
        "tree": api.tree,
        "step": lambda: api.step(first),
        "steps": lambda: api.steps(second),
        "stage_steps": lambda: api.stage_steps(second),
        "field_mappings": lambda: api.field_mappings(stage_id=second, sub_stage_id=first),
        "step_actions": lambda: api.step_actions(first, second),
        "stage_status": lambda: api.stage_status(first, second),
        "stage_statuses": lambda: api.stage_statuses(first),
    }
    attempt(db, calls[method])


@SETTINGS
@given(
    method=st.sampled_from(["render_prompt", "save_output", "action"]),
    argument=st.sampled_from(["action_id", "post_id", "text", "actor"]),
    bad=st.one_of(value, junk),
)
def test_llm_api(db: Database, kernel: wfsdk.Kernel, method: str, argument: str, bad: Any) -> None:
    arguments: dict[str, Any] = {"action_id": 1, "post_id": 1, "text": "An idea.", "actor": "t"}
    arguments[argument] = bad
    action_id, post_id, text, actor = arguments.values()
    api = kernel.api(LlmApi)
    calls: dict[str, Callable[[], object]] = {
        "render_prompt": lambda: api.render_prompt(action_id, post_id),
        "save_output": lambda: api.save_output(
            action_id, post_id, text, actor=actor, reason="bad input"
        ),
        "action": lambda: api.action(action_id),
    }
    attempt(db, calls[method])


def test_known_bad_values_are_refused_before_the_driver(db: Database, kernel: wfsdk.Kernel) -> None:
    # The cases the properties above found, kept as plain examples.
    workflow = kernel.api(WorkflowApi)
    for call in (
        lambda: kernel.execute_query("SELECT id FROM post WHERE title = %s", ("\ud800",)),
        lambda: kernel.execute_query("SELECT id FROM post WHERE title = '\ud800'"),
        lambda: workflow.set_stage_status(1, 2, "x\udfff", actor="tester", reason="r"),
        lambda: kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"status": "x"}, actor=5, reason="r"
        ),
        lambda: kernel.host.update(
            "post_workflow_stage", {"id": 2}, {"status": "x"}, actor="a", reason="r", dry_run="no"
        ),
        lambda: wfsdk.connect(db.url, plugins="wfsdk-audit", contract=SHIPPED_CONTRACT),
        lambda: wfsdk.connect(db.url, plugins=[], contract="a\x00b"),
        lambda: wfsdk.connect(db.url, plugins=[], contract="\ud800"),
        lambda: wfsdk.connect(db.url, plugins=[], contract=SHIPPED_CONTRACT, state_dir="\ud800"),
        lambda: wfsdk.connect(db.url, plugins=[], contract=SHIPPED_CONTRACT, max_write_rows="9"),
        lambda: wfsdk.connect(db.url, plugins=[], contract=SHIPPED_CONTRACT, host_access="all"),
        lambda: wfsdk.connect("postgresql://nobody@127.0.0.1:1/none", plugins=[]),
    ):
        assert isinstance(attempt(db, call), wfsdk.WfsdkError)
