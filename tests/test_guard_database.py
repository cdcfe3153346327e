"""Generated statements against real databases: DDL never arrives, protected tables never change.

Whatever Hypothesis spells (DDL, writes, nested CTEs, comments, quoting,
casing, qualification, several statements in one string), the statements
the server actually received, read back from its own ``log_statement = all``
log, hold no DDL and no write to a protected table, and the protected tables'
checksums are what they were.
"""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfsdk
from wfsdk.access import PROTECTED_TABLES
from wfsdk.demo import data, schema
from wfsdk.errors import WfsdkError
from wfsdk.testing import statements as sql
from wfsdk.values import Declaration, Vote

from conftest import PgLog
from kernel_support import SHIPPED_CONTRACT, Voter, checksum

EVERYTHING = Declaration(
    module="host",
    reads=frozenset(schema.metadata.tables),
    writes={
        name: frozenset(c.name for c in table.columns)
        for name, table in schema.metadata.tables.items()
    },
    deletes=frozenset(schema.metadata.tables),
)

DDL = re.compile(
    r"^\s*(create|alter|drop|truncate|comment|grant|revoke|reindex|vacuum|cluster|refresh)\b",
    re.I,
)
PROTECTED_WRITE = re.compile(
    r"\b(update|insert\s+into|delete\s+from)\s+(\"?public\"?\.)?\"?("
    + "|".join(sorted(PROTECTED_TABLES))
    + r")\b",
    re.I,
)


def statements_for(dialect: str) -> st.SearchStrategy[sql.Statement]:
    return st.one_of(sql.any_statement(dialect), sql.multi_statements(dialect))


def run_all(kernel: wfsdk.Kernel, statement: sql.Statement) -> None:
    with contextlib.suppress(WfsdkError):
        kernel.execute_query(statement.sql, actor="hypothesis", reason="property test")


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_postgres_never_receives_ddl_or_protected_writes(
    pg_url: str, pg_log: PgLog, data: st.DataObject
) -> None:
    statement = data.draw(statements_for(sql.POSTGRES))
    _ensure_demo(pg_url)
    before = checksum(pg_url, PROTECTED_TABLES)
    pg_log.mark()
    with wfsdk.connect(
        pg_url,
        plugins=[],
        contract=SHIPPED_CONTRACT,
        host_access=EVERYTHING,
        extra_plugins=[Voter(Vote.allow())],
    ) as kernel:
        run_all(kernel, statement)
    sent = pg_log.statements(dbname=pg_url.rsplit("/", 1)[1])
    assert not [s for s in sent if DDL.match(s)], (statement.sql, sent)
    assert not [s for s in sent if PROTECTED_WRITE.search(s)], (statement.sql, sent)
    assert checksum(pg_url, PROTECTED_TABLES) == before


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_sqlite_protected_tables_never_change(sqlite_url: str, data: st.DataObject) -> None:
    statement = data.draw(statements_for(sql.SQLITE))
    _ensure_demo(sqlite_url)
    before = checksum(sqlite_url, PROTECTED_TABLES)
    tables_before = _table_names(sqlite_url)
    with wfsdk.connect(
        sqlite_url,
        plugins=[],
        contract=SHIPPED_CONTRACT,
        host_access=EVERYTHING,
        extra_plugins=[Voter(Vote.allow())],
    ) as kernel:
        run_all(kernel, statement)
    assert checksum(sqlite_url, PROTECTED_TABLES) == before
    assert _table_names(sqlite_url) == tables_before, statement.sql


_BUILT: set[str] = set()


def _ensure_demo(url: str) -> None:
    # The fixture database lives for the whole test; Hypothesis examples share it.
    if url not in _BUILT:
        data.build(url).dispose()
        _BUILT.add(url)


def _table_names(url: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        return sorted(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "text",
    [
        "UPDATE workflow_stage_entity SET name = 'x' WHERE id = 1",
        'update "public"."LLM_ACTION" set llm_model = \'x\' where id = 1',
        "WITH a AS (DELETE FROM llm_action WHERE id = 1 RETURNING id) SELECT * FROM a",
        "SELECT 1 AS one /* ; DROP TABLE post */",
        "select 1 as one; -- x\nDROP TABLE post",
    ],
)
def test_known_attacks_leave_no_trace_on_the_server(pg_url: str, pg_log: PgLog, text: str) -> None:
    data.build(pg_url).dispose()
    before = checksum(pg_url, PROTECTED_TABLES)
    pg_log.mark()
    with wfsdk.connect(
        pg_url,
        plugins=[],
        contract=SHIPPED_CONTRACT,
        host_access=EVERYTHING,
        extra_plugins=[Voter(Vote.allow())],
    ) as kernel:
        run_all(kernel, sql.Statement(text, sql.POSTGRES))
    sent = pg_log.statements(dbname=pg_url.rsplit("/", 1)[1])
    assert not [s for s in sent if DDL.match(s) or PROTECTED_WRITE.search(s)], sent
    assert checksum(pg_url, PROTECTED_TABLES) == before
