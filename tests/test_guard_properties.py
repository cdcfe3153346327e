"""Properties of the guard over statements generated in many spellings.

DDL is always refused, several statements are always refused, every write's
target is found under its normalised name however it is spelled, and a read
never reports a write. Comments and odd-but-legal whitespace change nothing.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wfsdk.errors import StatementRefusedError
from wfsdk.guard import Guard, StatementKind, bind_parameters
from wfsdk.testing.statements import (
    DIALECTS,
    Statement,
    ddl_statements,
    joined,
    multi_statements,
    read_statements,
    separator,
    write_statements,
)

GUARDS = {dialect: Guard(dialect, cache_size=0) for dialect in DIALECTS}
FAST = settings(max_examples=150, deadline=None)


def per_dialect(
    strategy: Callable[[str], st.SearchStrategy[Statement]],
) -> st.SearchStrategy[Statement]:
    return st.sampled_from(DIALECTS).flatmap(strategy)


def reason_for(statement: Statement) -> str:
    with pytest.raises(StatementRefusedError) as caught:
        GUARDS[statement.dialect].classify(statement.sql)
    return caught.value.reason


@FAST
@given(per_dialect(ddl_statements))
def test_ddl_is_always_refused(statement: Statement) -> None:
    assert reason_for(statement) in {"ddl", "truncate", "select-into", "explain", "unparseable"}


@FAST
@given(per_dialect(multi_statements))
def test_several_statements_are_always_refused(statement: Statement) -> None:
    assert reason_for(statement) == "multiple-statements"


@FAST
@given(per_dialect(write_statements))
def test_every_write_target_is_found_however_spelled(statement: Statement) -> None:
    result = GUARDS[statement.dialect].classify(statement.sql)
    assert result.kind is StatementKind.WRITE
    assert statement.writes <= result.writes
    assert statement.reads <= result.reads
    if result.write is not None:
        assert {result.write.table} == statement.writes == result.writes


@FAST
@given(per_dialect(read_statements))
def test_reads_never_report_writes(statement: Statement) -> None:
    result = GUARDS[statement.dialect].classify(statement.sql)
    assert result.kind is StatementKind.READ
    assert result.writes == frozenset()
    assert result.write is None
    assert result.reads == statement.reads


@st.composite
def respelled(draw: st.DrawFn, dialect: str) -> tuple[str, str, str]:
    """A statement with plain spaces, and the same tokens separated by comments."""
    statement = draw(st.one_of(read_statements(dialect), write_statements(dialect)))
    return dialect, " ".join(statement.pieces), draw(joined(statement.pieces, dialect))


@FAST
@given(st.sampled_from(DIALECTS).flatmap(respelled))
def test_comments_between_tokens_change_nothing(case: tuple[str, str, str]) -> None:
    dialect, plain, commented = case
    guard = GUARDS[dialect]
    first, second = guard.classify(plain), guard.classify(commented)
    assert (first.kind, first.reads, first.writes) == (second.kind, second.reads, second.writes)
    assert dict(first.columns) == dict(second.columns)


_LEXEMES = st.sampled_from(
    [
        " ",
        "\n",
        "\r",
        "\t",
        "\f",
        "\v",
        "\u00a0",
        "\u2028",
        ";",
        "'",
        '"',
        "--",
        "/*",
        "*/",
        "$$",
        "$a$",
        "[",
        "]",
        "`",
        "\\",
        "x",
        "1",
        ",",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LEXEMES, max_size=8), st.lists(_LEXEMES, max_size=8))
def test_sqlite_never_runs_two_statements_the_guard_took_for_one(
    before: list[str], after: list[str]
) -> None:
    sql = "SELECT 1" + "".join(before) + "SELECT 2" + "".join(after)
    try:
        GUARDS["sqlite"].classify(sql)
    except StatementRefusedError:
        return
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute(sql)
    except sqlite3.ProgrammingError as error:
        assert "one statement" not in str(error), sql
    except sqlite3.Error:
        pass  # SQLite refusing the text is as safe as the guard refusing it
    finally:
        connection.close()


@FAST
@given(
    st.sampled_from(DIALECTS),
    st.lists(st.integers() | st.text(max_size=5) | st.none(), min_size=1, max_size=6),
    st.data(),
)
def test_positional_parameters_become_named_in_order(
    dialect: str, values: list[object], data: st.DataObject
) -> None:
    gaps = [data.draw(separator(dialect)) for _ in values]
    sql = "SELECT '%s'" + "".join(f",{gap}%s" for gap in gaps)
    bound_sql, bound = bind_parameters(sql, values, dialect)
    assert bound == {f"p{i}": value for i, value in enumerate(values, start=1)}
    assert bound_sql.startswith("SELECT '%s'")
    assert re.findall(r":(p\d+)", bound_sql) == list(bound)
