"""Hypothesis strategies for every value a hook receives or returns.

Plugin authors use these to write property tests of their own hooks; the
plugin contract suite (:mod:`wfsdk.contract`) draws its events from them too.
They are deliberately wider than what one database produces today: table
names that need quoting or are not ASCII, empty and very large row sets,
``NULL`` everywhere a column may hold one, every Python type a driver returns
for a column (``Decimal``, ``datetime``, ``bytes``, JSON documents, ...), and
masked values (``***``) where the kernel redacted a secret. A hook that
accepts everything drawn here accepts whatever the kernel will send.

Each strategy is a function (call it to get the strategy) so that arguments
can narrow it, for example ``write_intents(operation=Operation.UPDATE)``.

    from hypothesis import given
    from wfsdk.testing import strategies as wst

    @given(wst.write_intents())
    def test_my_policy_always_votes(intent):
        assert my_plugin.before_write(intent) is not None
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from hypothesis import strategies as st

from wfsdk.values import (
    ChangeRecord,
    Decision,
    Difference,
    ErrorEvent,
    MismatchReport,
    Operation,
    ReadEvent,
    Receipt,
    RowChange,
    Vote,
    WriteIntent,
)

__all__ = [
    "HUGE_ROW_COUNT",
    "TABLES",
    "change_ids",
    "change_records",
    "column_names",
    "column_values",
    "differences",
    "error_events",
    "hook_arguments",
    "mismatch_reports",
    "operations",
    "read_events",
    "receipts",
    "row_changes",
    "row_sets",
    "statements",
    "table_names",
    "votes",
    "write_intents",
]

#: The tables of the blog database, as the kernel names them.
TABLES = (
    "workflow_stage_entity",
    "workflow_sub_stage_entity",
    "workflow_step_entity",
    "workflow_field_mapping",
    "llm_provider",
    "llm_prompt",
    "llm_action",
    "post",
    "post_development",
    "post_workflow_stage",
    "post_workflow_step_action",
)

#: How many rows a "huge" row set holds: more than a hook can afford to handle row by row slowly.
HUGE_ROW_COUNT = 1000

# Spellings a table name takes once schemas, quoting and hand-written SQL are involved.
_ODD_TABLES = (
    "",
    "public.post",
    "main.post_development",
    '"Post"',
    "post development",
    "póst_dévelopment",
    "投稿",
    "t" * 300,
    "drop table post; --",
    "x\x00y",
)

_STATEMENTS = (
    "SELECT id, name, stage_order FROM workflow_stage_entity ORDER BY stage_order",
    "SELECT * FROM post_development WHERE post_id = :p0",
    "UPDATE post_workflow_stage SET status = :p0 WHERE post_id = :p1 AND stage_id = :p2",
    "INSERT INTO post_workflow_stage (post_id, stage_id, status) VALUES (:p0, :p1, :p2)",
    "DELETE FROM post_workflow_stage WHERE id = :p0",
    'SELECT "título", \'ünïcødé ✓\' AS label FROM "póst"',
    "SELECT '投稿' AS 名前 -- コメント",
    "UPDATE post_development SET basic_idea = 'it''s 10:30; \"quoted\"' WHERE id = 1",
    "",
)

_SECRET_LIKE = ("auth_token", "api_key", "password")


@functools.cache
def table_names() -> st.SearchStrategy[str]:
    """Real table names mostly, and names that need quoting, are not ASCII, or are empty."""
    return st.one_of(
        st.sampled_from(TABLES),
        st.sampled_from(_ODD_TABLES),
        st.text(max_size=40),
    )


@functools.cache
def column_names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            ("id", "post_id", "status", "basic_idea", "config", "updated_at", *_SECRET_LIKE)
        ),
        st.text(min_size=1, max_size=20),
    )


@functools.cache
def statements() -> st.SearchStrategy[str]:
    """SQL texts as the kernel passes them on: realistic ones, unicode ones, arbitrary text."""
    return st.one_of(st.sampled_from(_STATEMENTS), st.text(max_size=200))


@functools.cache
def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=10,
    )


@functools.cache
def column_values() -> st.SearchStrategy[Any]:
    """What a driver returns for one column: ``None`` included, and often."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=False, allow_infinity=False, places=4),
        st.text(max_size=60),
        st.sampled_from(("***", "ünïcødé ✓", "line\nbreak", "'; DROP TABLE post; --", "\x00")),
        # Long texts by repetition: drawing thousands of characters one by one is slow.
        st.builds(lambda piece: piece * 2_000, st.sampled_from(("ab", "é投", "\U0001f600"))),
        st.binary(max_size=32),
        st.datetimes(timezones=st.none() | st.just(dt.UTC)),
        st.dates(),
        st.times(),
        st.uuids(),
        _json_values(),
    )


@functools.cache
def _rows() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(column_names(), column_values(), max_size=6)


@functools.cache
def operations() -> st.SearchStrategy[Operation]:
    return st.sampled_from(Operation)


@functools.cache
def row_changes(operation: Operation | None = None) -> st.SearchStrategy[RowChange]:
    """One changed row whose images fit the operation (no before for an insert, ...)."""
    return _row_change(operation)


@st.composite
def _row_change(draw: st.DrawFn, operation: Operation | None) -> RowChange:
    op = operation if operation is not None else draw(operations())
    key = draw(
        st.one_of(
            st.fixed_dictionaries({"id": st.integers(min_value=0) | st.none()}),
            st.dictionaries(column_names(), column_values(), max_size=3),
        )
    )
    before = None if op is Operation.INSERT else draw(_rows())
    after = None if op is Operation.DELETE else draw(_rows())
    return RowChange(key=key, before=before, after=after)


@functools.cache
def row_sets(operation: Operation | None = None) -> st.SearchStrategy[tuple[RowChange, ...]]:
    """The rows of one write: none, a few, or :data:`HUGE_ROW_COUNT` of them."""
    return _row_set(operation)


@st.composite
def _row_set(draw: st.DrawFn, operation: Operation | None) -> tuple[RowChange, ...]:
    op = operation if operation is not None else draw(operations())
    # The first row is drawn before the size, so that shrinking the size keeps the row
    # that made a hook fail, and a failure found on a huge set shrinks to a small one.
    first = draw(row_changes(op))
    size = draw(st.sampled_from(("few", "few", "few", "none", "huge")))
    if size == "none":
        return ()
    if size == "huge":
        # One row repeated: large enough to find quadratic or per-row-I/O hooks, cheap
        # enough to draw.
        return (first,) * HUGE_ROW_COUNT
    return (first, *draw(st.lists(row_changes(op), max_size=4)))


@functools.cache
def change_ids() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda n: f"{n:x}-{n % 65536:x}-0a1b2c3d", st.integers(min_value=0)),
        st.text(min_size=1, max_size=40),
    )


@functools.cache
def _parameters() -> st.SearchStrategy[dict[str, Any]]:
    # Secret-like names carry the mask, as the kernel hands them over.
    masked = st.fixed_dictionaries({}, optional={name: st.just("***") for name in _SECRET_LIKE})
    return st.builds(
        lambda plain, secrets: {**plain, **secrets},
        st.dictionaries(st.text(max_size=10), column_values(), max_size=4),
        masked,
    )


@functools.cache
def read_events() -> st.SearchStrategy[ReadEvent]:
    return st.builds(
        ReadEvent,
        caller=st.sampled_from(("host", "core", "workflow", "llm")) | st.text(max_size=20),
        statement=statements(),
        tables=st.frozensets(table_names(), max_size=4),
        row_count=st.integers(min_value=0, max_value=10**9),
        duration_s=st.floats(min_value=0.0, max_value=3600.0),
        dialect=st.sampled_from(("sqlite", "postgresql", "")),
    )


@st.composite
def write_intents(
    draw: st.DrawFn, operation: Operation | None = None, dry_run: bool | None = None
) -> WriteIntent:
    op = operation if operation is not None else draw(operations())
    return WriteIntent(
        change_id=draw(change_ids()),
        caller=draw(st.sampled_from(("host", "workflow", "llm")) | st.text(max_size=20)),
        actor=draw(st.sampled_from(("editor@example.org", "batch-job")) | st.text(max_size=40)),
        reason=draw(st.sampled_from(("draft ready", "")) | st.text(max_size=200)),
        table=draw(table_names()),
        operation=op,
        statement=draw(statements()),
        parameters=draw(_parameters()),
        rows=draw(row_sets(op)),
        dry_run=draw(st.booleans()) if dry_run is None else dry_run,
    )


def votes(decision: Decision | None = None) -> st.SearchStrategy[Vote]:
    """Valid votes only: a deny always says why."""
    reasons = st.text(min_size=1, max_size=80)
    voters = st.text(max_size=20)
    allow = st.builds(Vote.allow, reason=st.text(max_size=80), voter=voters)
    deny = st.builds(Vote.deny, reason=reasons, voter=voters)
    if decision is Decision.ALLOW:
        return allow
    if decision is Decision.DENY:
        return deny
    return allow | deny


@functools.cache
def receipts() -> st.SearchStrategy[Receipt]:
    return st.builds(
        Receipt,
        plugin=st.text(max_size=20),
        kind=st.sampled_from(("backup", "approval")) | st.text(max_size=20),
        reference=st.text(max_size=60),
    )


@st.composite
def change_records(draw: st.DrawFn, operation: Operation | None = None) -> ChangeRecord:
    op = operation if operation is not None else draw(operations())
    committed = draw(st.datetimes(timezones=st.just(dt.UTC)))
    return ChangeRecord(
        change_id=draw(change_ids()),
        caller=draw(st.sampled_from(("host", "workflow", "llm")) | st.text(max_size=20)),
        actor=draw(st.text(max_size=40)),
        reason=draw(st.text(max_size=200)),
        table=draw(table_names()),
        operation=op,
        statement=draw(statements()),
        rows=draw(row_sets(op)),
        votes=tuple(draw(st.lists(votes(), max_size=3))),
        receipts=tuple(draw(st.lists(receipts(), max_size=2))),
        committed_at=draw(st.sampled_from((committed.isoformat(), ""))),
        recovered=draw(st.booleans()),
    )


@functools.cache
def differences() -> st.SearchStrategy[Difference]:
    kinds = ("missing-table", "missing-column", "type", "nullable", "primary-key", "foreign-key")
    return st.builds(
        Difference,
        table=table_names(),
        kind=st.sampled_from(kinds) | st.text(max_size=20),
        column=st.none() | column_names(),
        want=st.text(max_size=40),
        have=st.text(max_size=40),
        source=st.text(max_size=40),
    )


@functools.cache
def mismatch_reports() -> st.SearchStrategy[MismatchReport]:
    return st.builds(
        MismatchReport,
        contract=st.sampled_from(("docs/database/schema.md", "")) | st.text(max_size=60),
        differences=st.lists(differences(), max_size=6).map(tuple),
        information=st.lists(st.text(max_size=60), max_size=3).map(tuple),
        text=st.text(max_size=400),
    )


_PHASES = (
    "guard",
    "read",
    "preview",
    "before_write",
    "write",
    "after_write",
    "on_read",
    "connect",
    "schema check",
    "contract",
)


@functools.cache
def error_events() -> st.SearchStrategy[ErrorEvent]:
    return st.builds(
        ErrorEvent,
        error_type=st.sampled_from(("DatabaseError", "WriteDeniedError", "RuntimeError"))
        | st.text(max_size=30),
        message=st.text(max_size=300),
        phase=st.sampled_from(_PHASES) | st.text(max_size=20),
        caller=st.text(max_size=20),
        statement=st.none() | statements(),
        parameters=_parameters(),
        transaction_state=st.sampled_from(("none", "open", "rolled back", "committed")),
        traceback=st.text(max_size=500),
        change_id=st.none() | change_ids(),
    )


def hook_arguments(hook: str) -> dict[str, st.SearchStrategy[Any]]:
    """A strategy for each argument of ``hook`` except ``journal`` (the caller owns that).

    ``given(**hook_arguments("after_write"))`` draws what the kernel would pass.
    """
    if hook == "on_read":
        return {"event": read_events()}
    if hook in ("before_write", "before_commit"):
        return {"intent": write_intents()}
    if hook == "after_write":
        return {"change": change_records()}
    if hook == "after_rollback":
        return {"intent": write_intents(), "reason": st.text(max_size=200)}
    if hook == "on_schema_mismatch":
        return {"report": mismatch_reports()}
    if hook == "on_error":
        return {"error": error_events()}
    raise ValueError(f"no strategy for hook {hook!r}")
