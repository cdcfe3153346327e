"""The guard, case by case: what it refuses, what it finds, and the previews it builds.

Pure unit tests. Previews are proven by running them on an in-memory SQLite
database next to the write they preview.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from wfsdk.errors import ConfigurationError, StatementRefusedError
from wfsdk.guard import (
    NEW_VALUE_PREFIX,
    Classification,
    Guard,
    StatementKind,
    WriteShape,
    bind_parameters,
)
from wfsdk.values import Operation

PG = "postgres"
LITE = "sqlite"
BOTH = (PG, LITE)

_GUARDS = {PG: Guard(PG), LITE: Guard(LITE)}


def classify(sql: str, dialect: str = PG) -> Classification:
    return _GUARDS[dialect].classify(sql)


def refusal(sql: str, dialect: str = PG) -> StatementRefusedError:
    with pytest.raises(StatementRefusedError) as caught:
        _GUARDS[dialect].classify(sql)
    assert caught.value.sql == sql
    return caught.value


# -- refusals ---------------------------------------------------------------------------

REFUSED_EVERYWHERE = [
    ("", "empty"),
    ("   \n\t", "empty"),
    ("-- only a comment", "empty"),
    ("/* only a comment */ ;", "empty"),
    (";", "empty"),
    ("SELECT 1; SELECT 2", "multiple-statements"),
    ("SELECT 1;;", "multiple-statements"),
    ("; SELECT 1", "multiple-statements"),
    ("SELECT 1; -- x\nDROP TABLE t", "multiple-statements"),
    ("SELECT 1 /* a */ ; /* b */ DELETE FROM llm_action", "multiple-statements"),
    ("UPDATE post SET a = 1; DROP TABLE llm_action", "multiple-statements"),
    ("CREATE TABLE t (a int)", "ddl"),
    ("create temp table t (a int)", "ddl"),
    ("CREATE TEMPORARY TABLE t AS SELECT 1", "ddl"),
    ("CREATE TABLE t AS SELECT * FROM post", "ddl"),
    ("CREATE INDEX i ON post (a)", "ddl"),
    ("CREATE UNIQUE INDEX i ON post (a)", "ddl"),
    ("CREATE VIEW v AS SELECT 1", "ddl"),
    ("CREATE OR REPLACE VIEW v AS SELECT 1", "ddl"),
    ("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql", "ddl"),
    ("CREATE SCHEMA s", "ddl"),
    ("CREATE TYPE mood AS ENUM ('a')", "ddl"),
    ("CREATE EXTENSION pgcrypto", "ddl"),
    ("CREATE SEQUENCE s", "ddl"),
    ("CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "ddl"),
    ("ALTER TABLE post ADD COLUMN x int", "ddl"),
    ("ALTER TABLE llm_action RENAME TO gone", "ddl"),
    ("DROP TABLE llm_action", "ddl"),
    ("drop table if exists llm_action cascade", "ddl"),
    ("TRUNCATE post", "truncate"),
    ("TRUNCATE TABLE post RESTART IDENTITY", "truncate"),
    ("COMMENT ON TABLE post IS 'x'", "ddl"),
    ("GRANT SELECT ON post TO someone", "ddl"),
    ("GRANT ALL ON ALL TABLES IN SCHEMA public TO someone", "ddl"),
    ("REVOKE SELECT ON post FROM someone", "ddl"),
    ("REINDEX TABLE post", "ddl"),
    ("VACUUM", "ddl"),
    ("VACUUM FULL post", "ddl"),
    ("ANALYZE post", "ddl"),
    ("CLUSTER post", "ddl"),
    ("REFRESH MATERIALIZED VIEW v", "ddl"),
    ("SELECT * INTO copy FROM post", "select-into"),
    ("WITH c AS (SELECT 1 AS a) SELECT a INTO copy FROM c", "select-into"),
    ("SELECT * FROM post FOR UPDATE", "locking-read"),
    ("SELECT * FROM post FOR SHARE", "locking-read"),
    ("SELECT * FROM post FOR NO KEY UPDATE", "locking-read"),
    ("SELECT * FROM post FOR KEY SHARE", "locking-read"),
    ("SELECT * FROM post FOR UPDATE OF post SKIP LOCKED", "locking-read"),
    ("SELECT * FROM (SELECT * FROM post FOR UPDATE) s", "locking-read"),
    ("COPY post TO '/tmp/x'", "copy"),
    ("COPY post FROM STDIN", "copy"),
    ("MERGE INTO post USING src ON post.id = src.id WHEN MATCHED THEN DELETE", "merge"),
    ("CALL proc()", "call"),
    ("SET search_path TO evil", "set"),
    ("SET LOCAL statement_timeout = 0", "set"),
    ("RESET ALL", "set"),
    ("SHOW search_path", "show"),
    ("LOCK TABLE post", "lock"),
    ("BEGIN", "transaction"),
    ("START TRANSACTION", "transaction"),
    ("COMMIT", "transaction"),
    ("END", "transaction"),
    ("ROLLBACK", "transaction"),
    ("ABORT", "transaction"),
    ("SAVEPOINT a", "transaction"),
    ("RELEASE SAVEPOINT a", "transaction"),
    ("PRAGMA query_only = OFF", "pragma"),
    ("ATTACH DATABASE 'x.db' AS other", "attach"),
    ("DETACH DATABASE other", "attach"),
    ("EXPLAIN SELECT 1", "explain"),
    ("EXPLAIN ANALYZE DELETE FROM post", "explain"),
    ("LISTEN channel", "notify"),
    ("NOTIFY channel", "notify"),
    ("PREPARE p AS SELECT 1", "prepared-statement"),
    ("EXECUTE p", "prepared-statement"),
    ("DEALLOCATE p", "prepared-statement"),
    ("DECLARE c CURSOR FOR SELECT 1", "cursor"),
    ("FETCH c", "cursor"),
    ("CLOSE c", "cursor"),
    ("LOAD 'plugin'", "not-allowed"),
    ("DISCARD ALL", "not-allowed"),
    ("CHECKPOINT", "not-allowed"),
    ("REPLACE INTO post (id) VALUES (1)", "replace"),
    ("SELECT nextval('post_id_seq')", "side-effect-function"),
    ("SELECT setval('post_id_seq', 1)", "side-effect-function"),
    ("SELECT pg_catalog.nextval('s')", "side-effect-function"),
    ("SELECT \"nextval\"('s')", "side-effect-function"),
    ("SELECT pg_terminate_backend(1)", "side-effect-function"),
    ("SELECT pg_cancel_backend(1)", "side-effect-function"),
    ("SELECT lo_import('/etc/passwd')", "side-effect-function"),
    ("SELECT lo_export(1, '/tmp/x')", "side-effect-function"),
    ("SELECT pg_read_file('/etc/passwd')", "side-effect-function"),
    ("SELECT dblink_exec('dbname=x', 'DROP TABLE t')", "side-effect-function"),
    ("SELECT set_config('search_path', 'evil', false)", "side-effect-function"),
    ("SELECT pg_advisory_lock(1)", "side-effect-function"),
    ("SELECT pg_try_advisory_xact_lock(1)", "side-effect-function"),
    ("SELECT query_to_xml('SELECT * FROM llm_action', true, true, '')", "side-effect-function"),
    ("SELECT * FROM post WHERE id = (SELECT nextval('s'))", "side-effect-function"),
    ("SELECT * FROM dblink('dbname=x', 'SELECT 1') AS t(a int)", "side-effect-function"),
    ("SELECT load_extension('evil')", "side-effect-function"),
    ("SELECT * FROM a.b.c.d", "ambiguous-name"),
    ('SELECT * FROM "a.b"', "ambiguous-name"),
    ("SELEC 1", "unparseable"),
    ("SELECT 'unterminated", "unparseable"),
    ("SELECT 1 /* unterminated", "unparseable"),
    ("SELECT 1\x00", "unparseable"),
    ("SELECT 1\u00a0; DROP TABLE t", "unparseable"),
    ("SELECT 1\u3000FROM post", "unparseable"),
]

REFUSED_POSTGRES = [
    ("DO $$ BEGIN DELETE FROM llm_action; END $$", "do"),
    ("SELECT $1x$ ; DROP TABLE t; SELECT $1x$", "unparseable"),
    # Meaning depends on standard_conforming_strings: '\'' may be a whole string.
    ("SELECT '\\'' ; DROP TABLE t; --'", "unparseable"),
    ('UPDATE U&"llm\\005faction" SET a = 1', "unparseable"),
    ("SELECT 1 --x\r; DROP TABLE t", "multiple-statements"),
    ("INSERT INTO post (a) OVERRIDING SYSTEM VALUE VALUES (1)", "unparseable"),
]


@pytest.mark.parametrize("dialect", BOTH)
@pytest.mark.parametrize(("sql", "reason"), REFUSED_EVERYWHERE)
def test_refused_in_every_dialect(dialect: str, sql: str, reason: str) -> None:
    assert refusal(sql, dialect).reason == reason


@pytest.mark.parametrize(("sql", "reason"), REFUSED_POSTGRES)
def test_refused_on_postgres(sql: str, reason: str) -> None:
    assert refusal(sql, PG).reason == reason


def test_refusal_message_names_reason_and_statement() -> None:
    error = refusal("DROP TABLE llm_action")
    assert "ddl" in str(error)
    assert "DROP" in str(error)
    assert "'DROP TABLE llm_action'" in str(error)


def test_sqlite_do_is_refused_even_though_sqlite_has_no_do() -> None:
    assert refusal("DO $$ BEGIN END $$", LITE).reason == "do"


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT 1 /* ; DROP TABLE x */", PG),
        ("SELECT 1 /* ; DROP TABLE x */", LITE),
        ("SELECT 1 -- ; DROP TABLE x", PG),
        ("SELECT 1; -- trailing comment", PG),
        ("SELECT 1 ;", LITE),
        ("SELECT 1 /* a /* nested ; */ still comment */", PG),
        ("SELECT $$a;b$$", PG),
        ("SELECT $tag$ ; DROP TABLE x $tag$", PG),
        ("SELECT $a$ $b$ ; $b$ $a$", PG),
        ("SELECT 'it''s; fine'", PG),
        ('SELECT "odd;name" FROM post', PG),
        ("SELECT E'\\'; DROP TABLE t; --'", PG),
        # SQLite ends a line comment at \n only, so the rest is still comment.
        ("SELECT 1 --x\r; DROP TABLE t", LITE),
        ("SELECT 1 -- caf\u00e9 \u00a0 ; DROP TABLE t", PG),
    ],
)
def test_comments_and_quotes_hide_nothing_and_break_nothing(sql: str, dialect: str) -> None:
    result = classify(sql, dialect)
    assert result.kind is StatementKind.READ
    assert result.writes == frozenset()


def test_sqlite_does_not_nest_comments() -> None:
    assert refusal("SELECT 1 /* a /* b */ c */", LITE).reason == "unparseable"


def test_sqlite_lexer_agrees_on_what_is_one_statement() -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute("SELECT 1 --x\r; SELECT 2")  # one statement to SQLite too
    with pytest.raises(sqlite3.ProgrammingError):
        connection.execute("SELECT 1 --x\n; SELECT 2")
    assert refusal("SELECT 1 --x\n; SELECT 2", LITE).reason == "multiple-statements"


# -- what reads and writes are found --------------------------------------------------

READS = [
    ("SELECT * FROM post", {"post"}),
    ("SELECT 1", set()),
    ("VALUES (1), (2)", set()),
    ("(SELECT id FROM post)", {"post"}),
    ("TABLE post", {"post"}),
    (
        "SELECT * FROM post p JOIN post_development d ON d.post_id = p.id",
        {"post", "post_development"},
    ),
    ("SELECT * FROM post WHERE EXISTS (SELECT 1 FROM llm_action)", {"post", "llm_action"}),
    ("SELECT (SELECT max(id) FROM llm_action) FROM post", {"post", "llm_action"}),
    ("SELECT * FROM (SELECT * FROM workflow_step_entity) s", {"workflow_step_entity"}),
    ("SELECT id FROM post UNION SELECT id FROM llm_action", {"post", "llm_action"}),
    ("SELECT id FROM post INTERSECT SELECT id FROM llm_action", {"post", "llm_action"}),
    ("SELECT * FROM generate_series(1, 3)", set()),
    (
        "SELECT * FROM post, LATERAL (SELECT * FROM llm_action a WHERE a.id = post.id) s",
        {"post", "llm_action"},
    ),
    ("WITH c AS (SELECT * FROM llm_action) SELECT * FROM c", {"llm_action"}),
    ("WITH c AS (SELECT * FROM post), d AS (SELECT * FROM c) SELECT * FROM d", {"post"}),
    (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
        "SELECT * FROM r",
        set(),
    ),
    ("SELECT * FROM pg_catalog.pg_class", {"pg_catalog.pg_class"}),
    ("SELECT * FROM post WHERE id IN (WITH c AS (SELECT 1 AS id) SELECT id FROM c)", {"post"}),
]


@pytest.mark.parametrize("dialect", BOTH)
@pytest.mark.parametrize(("sql", "reads"), READS)
def test_reads_found_everywhere(dialect: str, sql: str, reads: set[str]) -> None:
    if sql.startswith("TABLE") and dialect == LITE:
        pytest.skip("TABLE t is PostgreSQL only")
    result = classify(sql, dialect)
    assert result.kind is StatementKind.READ
    assert result.reads == reads
    assert result.writes == frozenset()
    assert result.write is None


@pytest.mark.parametrize("dialect", BOTH)
def test_cte_named_like_a_table_hides_it(dialect: str) -> None:
    result = classify("WITH llm_action AS (SELECT 1) SELECT * FROM llm_action", dialect)
    assert result.reads == frozenset()
    result = classify("WITH LLM_Action AS (SELECT 1) SELECT * FROM llm_action", dialect)
    assert result.reads == frozenset()


def test_cte_shadowing_is_scoped_to_its_statement_part() -> None:
    # The CTE hides the table in the main query only; the subquery after it is its own.
    sql = (
        "SELECT * FROM llm_action WHERE id IN "
        "(WITH llm_action AS (SELECT 1 AS id) SELECT id FROM llm_action)"
    )
    assert classify(sql).reads == {"llm_action"}


def test_postgres_cte_sees_only_earlier_ctes_unless_recursive() -> None:
    forward = "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a"
    assert classify(forward, PG).reads == {"b"}  # the table b, not the CTE
    assert classify(forward, LITE).reads == frozenset()  # SQLite sees every CTE
    assert classify("WITH RECURSIVE " + forward[5:], PG).reads == frozenset()
    own = "WITH llm_action AS (SELECT * FROM llm_action) SELECT * FROM llm_action"
    assert classify(own, PG).reads == {"llm_action"}


def test_quoted_cte_name_keeps_case_on_postgres() -> None:
    assert classify('WITH "Post" AS (SELECT 1) SELECT * FROM post', PG).reads == {"post"}
    assert classify('WITH "Post" AS (SELECT 1) SELECT * FROM post', LITE).reads == frozenset()


WRITES = [
    # sql, writes, reads, previewable
    ("UPDATE post SET title = 'x' WHERE id = 1", {"post"}, set(), True),
    ("DELETE FROM post WHERE id = 1", {"post"}, set(), True),
    ("INSERT INTO post (id, title) VALUES (1, 'x')", {"post"}, set(), True),
    ("UPDATE post SET title = 'x' WHERE id = 1 RETURNING id", {"post"}, set(), True),
    (
        "UPDATE post SET title = (SELECT name FROM llm_action WHERE id = 1) WHERE id = 2",
        {"post"},
        {"llm_action"},
        True,
    ),
    (
        "DELETE FROM post WHERE id IN (SELECT post_id FROM post_development)",
        {"post"},
        {"post_development"},
        True,
    ),
    (
        "UPDATE post SET a = u.b FROM llm_action u WHERE post.id = u.id",
        {"post"},
        {"llm_action"},
        False,
    ),
    ("DELETE FROM post USING llm_action u WHERE post.id = u.id", {"post"}, {"llm_action"}, False),
    ("INSERT INTO post (id) SELECT id FROM llm_action", {"post"}, {"llm_action"}, False),
    ("INSERT INTO post (id) VALUES (1) ON CONFLICT (id) DO NOTHING", {"post"}, set(), False),
    (
        "INSERT INTO post (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET title = excluded.title",
        {"post"},
        set(),
        False,
    ),
    ("INSERT INTO post VALUES (1, 'x')", {"post"}, set(), False),
    ("INSERT INTO post DEFAULT VALUES", {"post"}, set(), False),
    ("INSERT INTO post (id) VALUES (DEFAULT)", {"post"}, set(), False),
    ("UPDATE post SET title = DEFAULT WHERE id = 1", {"post"}, set(), False),
    ("UPDATE post AS p SET title = 'x' WHERE p.id = 1", {"post"}, set(), False),
    ("UPDATE ONLY post SET title = 'x' WHERE id = 1", {"post"}, set(), False),
    ("UPDATE post SET (a, b) = (1, 2) WHERE id = 1", {"post"}, set(), False),
    (
        "WITH c AS (SELECT 1 AS id) UPDATE post SET a = 1 WHERE id IN (SELECT id FROM c)",
        {"post"},
        set(),
        False,
    ),
    (
        "WITH x AS (DELETE FROM llm_action RETURNING *) SELECT * FROM x",
        {"llm_action"},
        set(),
        False,
    ),
    (
        "WITH x AS (UPDATE post SET a = 1 RETURNING *) INSERT INTO post_development (a) "
        "SELECT a FROM x",
        {"post", "post_development"},
        set(),
        False,
    ),
    # A CTE never takes the place of a write's target.
    (
        "WITH llm_action AS (SELECT 1) DELETE FROM llm_action WHERE id = 1",
        {"llm_action"},
        set(),
        False,
    ),
]


@pytest.mark.parametrize(("sql", "writes", "reads", "previewable"), WRITES)
def test_writes_found(sql: str, writes: set[str], reads: set[str], previewable: bool) -> None:
    result = classify(sql)
    assert result.kind is StatementKind.WRITE
    assert result.writes == writes
    assert result.reads == reads
    assert (result.write is not None) == previewable


def test_sqlite_insert_or_replace_is_a_write_that_cannot_be_previewed() -> None:
    result = classify("INSERT OR REPLACE INTO post (id) VALUES (1)", LITE)
    assert result.writes == {"post"}
    assert result.write is None


@pytest.mark.parametrize(
    ("sql", "dialect", "table"),
    [
        ('UPDATE "public"."Llm_Action" SET a = 1', PG, "Llm_Action"),
        ('UPDATE "public"."Llm_Action" SET a = 1', LITE, "llm_action"),
        ("UPDATE PUBLIC.llm_action SET a = 1", PG, "llm_action"),
        ("UPDATE LLM_ACTION SET a = 1", PG, "llm_action"),
        ('UPDATE "LLM_ACTION" SET a = 1', PG, "LLM_ACTION"),
        ('UPDATE "LLM_ACTION" SET a = 1', LITE, "llm_action"),
        ('UPDATE "PUBLIC".llm_action SET a = 1', PG, "PUBLIC.llm_action"),
        ("UPDATE blog.public.llm_action SET a = 1", PG, "llm_action"),
        ("UPDATE main.llm_action SET a = 1", LITE, "llm_action"),
        ("UPDATE [llm_action] SET a = 1", LITE, "llm_action"),
        ("UPDATE `LLM_action` SET a = 1", LITE, "llm_action"),
        ("DELETE FROM 'llm_action'", LITE, "llm_action"),
        ("UPDATE archive.llm_action SET a = 1", PG, "archive.llm_action"),
        ("UPDATE pg_catalog.pg_class SET relname = 'x'", PG, "pg_catalog.pg_class"),
        # PostgreSQL keeps only the first 63 bytes of a name.
        ("UPDATE llm_action" + "x" * 60 + " SET a = 1", PG, ("llm_action" + "x" * 60)[:63]),
    ],
)
def test_table_names_are_normalised(sql: str, dialect: str, table: str) -> None:
    result = classify(sql, dialect)
    assert result.writes == {table}


def test_unicode_case_folding_is_ascii_only() -> None:
    # U+212A KELVIN SIGN lower-cases to "k" in Python, but not in either server.
    assert classify("SELECT * FROM wor\u212aflow", PG).reads == {"wor\u212aflow"}


# -- columns -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "columns"),
    [
        ("SELECT id, title FROM post WHERE status = 1", {"post": {"id", "title", "status"}}),
        ("SELECT * FROM post", {}),
        ("SELECT p.* FROM post p", {}),
        (
            "SELECT p.id, d.title, status FROM post p JOIN post_development d ON d.post_id = p.id",
            {"post": {"id"}, "post_development": {"title", "post_id"}},
        ),
        ("SELECT post.id FROM public.post", {"post": {"id"}}),
        ('SELECT "Title" FROM post', {"post": {"Title"}}),
        ("SELECT TITLE FROM post", {"post": {"title"}}),
        ("SELECT a AS x FROM post ORDER BY x", {"post": {"a"}}),
        ("SELECT x.a FROM (SELECT a FROM post) x", {"post": {"a"}}),
        ("WITH c AS (SELECT a FROM post) SELECT c.a, b FROM c", {"post": {"a"}}),
        (
            "SELECT id FROM post p WHERE EXISTS (SELECT 1 FROM llm_action l WHERE l.id = p.id)",
            {"post": {"id"}, "llm_action": {"id"}},
        ),
        (
            "SELECT a FROM post UNION SELECT b FROM llm_action ORDER BY a",
            {"post": {"a"}, "llm_action": {"b"}},
        ),
        ("UPDATE post SET title = 'x' WHERE id = 1", {"post": {"title", "id"}}),
        (
            "UPDATE post SET title = l.name FROM llm_action l WHERE l.id = post.id",
            {"post": {"title", "id"}, "llm_action": {"name", "id"}},
        ),
        ("INSERT INTO post (id, title) VALUES (1, 'x') RETURNING id", {"post": {"id", "title"}}),
        (
            "INSERT INTO post (id) VALUES (1) "
            "ON CONFLICT (id) DO UPDATE SET title = excluded.title",
            {"post": {"id", "title"}},
        ),
        ("DELETE FROM post WHERE id = 1", {"post": {"id"}}),
    ],
)
def test_columns_attributed(sql: str, columns: dict[str, set[str]]) -> None:
    assert dict(classify(sql).columns) == columns


def test_classification_cannot_be_changed_by_a_caller() -> None:
    result = classify("SELECT id FROM post")
    with pytest.raises(TypeError):
        result.columns["post"] = frozenset()  # type: ignore[index]
    hash(result)


# -- write shapes and their previews, executed ---------------------------------------


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE post (id INTEGER PRIMARY KEY, title TEXT, hits INTEGER)")
    connection.executemany(
        "INSERT INTO post VALUES (?, ?, ?)", [(1, "one", 10), (2, "two", 20), (3, "three", 30)]
    )
    yield connection
    connection.close()


def rows(connection: sqlite3.Connection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(sql, params)]


def test_update_shape() -> None:
    shape = classify(
        "UPDATE public.post SET title = :t || title, hits = hits + 1 WHERE id = :id"
    ).write
    assert shape == WriteShape(
        Operation.UPDATE,
        "post",
        where_sql="id = :id",
        assignments=(("title", ":t || title"), ("hits", "hits + 1")),
        dialect=PG,
    )
    assert shape.preview_sql(["id", "title"]) == (
        'SELECT "id", "title", :t || title AS "__wfsdk_new_0", hits + 1 AS "__wfsdk_new_1" '
        'FROM "post" WHERE id = :id'
    )


def test_update_preview_shows_exactly_what_the_update_does(db: sqlite3.Connection) -> None:
    sql = "UPDATE post SET title = :t || title, hits = hits * 2 WHERE id IN (1, 3) AND hits > :min"
    params = {"t": "new ", "min": 5}
    shape = classify(sql, LITE).write
    assert shape is not None and shape.operation is Operation.UPDATE
    preview = rows(db, shape.preview_sql(["id", "title", "hits"]), params)
    assert preview == [(1, "one", 10, "new one", 20), (3, "three", 30, "new three", 60)]
    db.execute(sql, params)
    assert rows(db, "SELECT id, title, hits FROM post WHERE id IN (1, 3)", {}) == [
        (1, "new one", 20),
        (3, "new three", 60),
    ]
    assert f"{NEW_VALUE_PREFIX}0" in shape.preview_sql(["id"])


def test_delete_preview_shows_the_rows_deleted(db: sqlite3.Connection) -> None:
    sql = "DELETE FROM post WHERE title LIKE :pattern"
    shape = classify(sql, LITE).write
    assert shape == WriteShape(
        Operation.DELETE, "post", where_sql="title LIKE :pattern", dialect=LITE
    )
    preview = rows(db, shape.preview_sql(["id", "title"]), {"pattern": "t%"})
    assert preview == [(2, "two"), (3, "three")]
    assert db.execute(sql, {"pattern": "t%"}).rowcount == len(preview)


def test_delete_without_where_previews_every_row(db: sqlite3.Connection) -> None:
    shape = classify("DELETE FROM post", LITE).write
    assert shape is not None and shape.where_sql is None
    assert len(rows(db, shape.preview_sql(["id"]), {})) == 3


def test_insert_preview_evaluates_the_values(db: sqlite3.Connection) -> None:
    sql = "INSERT INTO post (id, title, hits) VALUES (:id, upper(:t), 1 + 1), (5, 'five', NULL);"
    params = {"id": 4, "t": "four"}
    shape = classify(sql, LITE).write
    assert shape is not None
    assert shape.insert_columns == ("id", "title", "hits")
    assert shape.insert_rows == ((":id", "UPPER(:t)", "1 + 1"), ("5", "'five'", "NULL"))
    preview = [
        dict(zip(shape.insert_columns, row, strict=True))
        for row in rows(db, shape.preview_sql([]), params)
    ]
    assert preview == [
        {"id": 4, "title": "FOUR", "hits": 2},
        {"id": 5, "title": "five", "hits": None},
    ]
    returning = shape.returning_sql(sql, ["id", "title", "hits"])
    assert returning.endswith(' RETURNING "id", "title", "hits"')
    written = [
        dict(zip(("id", "title", "hits"), row, strict=True)) for row in rows(db, returning, params)
    ]
    assert written == preview


def test_returning_sql_survives_trailing_comments_and_semicolon() -> None:
    sql = "INSERT INTO post (id) VALUES (1) -- add one\n; /* done */"
    shape = classify(sql).write
    assert shape is not None
    assert shape.returning_sql(sql, ["id"]) == 'INSERT INTO post (id) VALUES (1) RETURNING "id"'


def test_returning_sql_refuses_a_second_returning() -> None:
    sql = "INSERT INTO post (id) VALUES (1) RETURNING id"
    shape = classify(sql).write
    assert shape is not None
    with pytest.raises(StatementRefusedError) as caught:
        shape.returning_sql(sql, ["id"])
    assert caught.value.reason == "returning"


def test_postgres_shape_keeps_named_parameters() -> None:
    shape = classify("UPDATE post SET title = :title WHERE id = :id AND hits::int > 3").write
    assert shape is not None
    assert shape.where_sql == "id = :id AND CAST(hits AS INT) > 3"
    assert shape.assignments == (("title", ":title"),)


def test_quoted_target_is_rendered_with_its_case() -> None:
    shape = classify('DELETE FROM "Post" WHERE id = 1').write
    assert shape is not None and shape.table == "Post"
    assert shape.preview_sql(["id"]) == 'SELECT "id" FROM "Post" WHERE id = 1'
    other = classify("DELETE FROM archive.post WHERE id = 1").write
    assert other is not None
    assert other.preview_sql(["id"]) == 'SELECT "id" FROM "archive"."post" WHERE id = 1'


def test_preview_needs_columns_for_update_and_delete() -> None:
    shape = classify("DELETE FROM post WHERE id = 1").write
    assert shape is not None
    with pytest.raises(ValueError, match="at least one column"):
        shape.preview_sql([])


# -- parameters ----------------------------------------------------------------------

BOUND = [
    (
        "SELECT * FROM s WHERE post_id = %s AND stage_id = %s",
        (7, 8),
        PG,
        "SELECT * FROM s WHERE post_id = :p1 AND stage_id = :p2",
        {"p1": 7, "p2": 8},
    ),
    (
        "SELECT %(a)s, %(b)s, %(a)s",
        {"a": 1, "b": 2, "unused": 3},
        PG,
        "SELECT :a, :b, :a",
        {"a": 1, "b": 2},
    ),
    ("SELECT :a, :b", {"a": 1, "b": 2}, PG, "SELECT :a, :b", {"a": 1, "b": 2}),
    ("SELECT 1", None, PG, "SELECT 1", {}),
    ("SELECT 1", (), PG, "SELECT 1", {}),
    ("SELECT 1", {"extra": 1}, PG, "SELECT 1", {}),
    # Placeholders inside literals, quoted identifiers and comments are text.
    (
        "SELECT '%s', \"%s\", $$%s$$ /* %s */ -- %s\n, %s",
        [1],
        PG,
        "SELECT '%s', \"%s\", $$%s$$ /* %s */ -- %s\n, :p1",
        {"p1": 1},
    ),
    ("SELECT ':a', \":b\" -- :c\n, :d", {"d": 4}, PG, "SELECT ':a', \":b\" -- :c\n, :d", {"d": 4}),
    # psycopg reads %% as % everywhere, literals included.
    (
        "SELECT %s WHERE title LIKE 'x%%' AND 10 %% 3 = 1",
        [1],
        PG,
        "SELECT :p1 WHERE title LIKE 'x%' AND 10 % 3 = 1",
        {"p1": 1},
    ),
    # Without psycopg placeholders a % is an operator and is left alone.
    ("SELECT 10 % 3 WHERE a = :a", {"a": 1}, PG, "SELECT 10 % 3 WHERE a = :a", {"a": 1}),
    # Casts stay casts; :name kept apart so SQLAlchemy's text() still sees the parameter.
    ("SELECT %s::int, x::text", [1], PG, "SELECT :p1 ::int, x::text", {"p1": 1}),
    ("SELECT :a::int", {"a": 1}, PG, "SELECT :a ::int", {"a": 1}),
    (
        "SELECT arr[1:2] FROM t WHERE a = :a",
        {"a": 1},
        PG,
        "SELECT arr[1:2] FROM t WHERE a = :a",
        {"a": 1},
    ),
    (
        "SELECT data ? 'key' FROM t WHERE a = %s",
        [1],
        PG,
        "SELECT data ? 'key' FROM t WHERE a = :p1",
        {"p1": 1},
    ),
    (
        "SELECT * FROM t WHERE a = ? AND b = ?",
        (1, 2),
        LITE,
        "SELECT * FROM t WHERE a = :p1 AND b = :p2",
        {"p1": 1, "p2": 2},
    ),
    ("SELECT * FROM t WHERE a = %s", [None], LITE, "SELECT * FROM t WHERE a = :p1", {"p1": None}),
]


@pytest.mark.parametrize(("sql", "params", "dialect", "bound_sql", "bound"), BOUND)
def test_bind_parameters(
    sql: str, params: Any, dialect: str, bound_sql: str, bound: dict[str, Any]
) -> None:
    assert bind_parameters(sql, params, dialect) == (bound_sql, bound)


BIND_REFUSED = [
    ("SELECT %s, %s", [1], PG, "parameter-count"),
    ("SELECT %s", [1, 2], PG, "parameter-count"),
    ("SELECT 1", [1], PG, "parameter-count"),
    ("SELECT %s", None, PG, "parameter-count"),
    ("SELECT :a", None, PG, "parameter-count"),
    ("SELECT %s, :a", [1], PG, "mixed-parameter-styles"),
    ("SELECT %s, %(a)s", {"a": 1}, PG, "mixed-parameter-styles"),
    ("SELECT ?, :a", {"a": 1}, LITE, "mixed-parameter-styles"),
    ("SELECT :a, :b", {"a": 1}, PG, "missing-parameter"),
    ("SELECT %(a)s", {}, PG, "missing-parameter"),
    ("SELECT %s", {"a": 1}, PG, "parameter-style"),
    ("SELECT :a", [1], PG, "parameter-style"),
    ("SELECT %s", "x", PG, "parameter-style"),
    ("SELECT %s", 5, PG, "parameter-style"),
    ("SELECT %s, 10 % 3", [1], PG, "parameter-style"),
    ("SELECT %sfoo", [1], PG, "parameter-style"),
    ("SELECT $1", [1], PG, "parameter-style"),
    ("SELECT ?1", [1], LITE, "parameter-style"),
    ("SELECT 'unterminated %s", [1], PG, "unparseable"),
]


@pytest.mark.parametrize(("sql", "params", "dialect", "reason"), BIND_REFUSED)
def test_bind_parameters_refuses(sql: str, params: Any, dialect: str, reason: str) -> None:
    with pytest.raises(StatementRefusedError) as caught:
        bind_parameters(sql, params, dialect)
    assert caught.value.reason == reason
    assert caught.value.sql == sql


def test_bound_statement_runs_on_sqlite(db: sqlite3.Connection) -> None:
    sql, params = bind_parameters(
        "SELECT id FROM post WHERE title LIKE 't%%' AND hits > %s ORDER BY id", (15,), LITE
    )
    assert rows(db, sql, params) == [(2,), (3,)]


# -- the guard object --------------------------------------------------------------


def test_dialect_names() -> None:
    assert Guard("postgresql").dialect == PG
    assert Guard("SQLite").dialect == LITE
    with pytest.raises(ConfigurationError):
        Guard("mysql")
    with pytest.raises(ConfigurationError):
        Guard(PG, cache_size=-1)


def test_cache_counts_hits_and_caches_refusals() -> None:
    guard = Guard(PG, cache_size=2)
    first = guard.classify("SELECT 1")
    assert guard.classify("SELECT 1") is first
    for _ in range(2):
        with pytest.raises(StatementRefusedError):
            guard.classify("DROP TABLE post")
    stats = guard.cache_stats()
    assert (stats.hits, stats.misses, stats.size, stats.maxsize) == (2, 2, 2, 2)
    guard.classify("SELECT 2")
    assert guard.cache_stats().size == 2
    guard.cache_clear()
    assert guard.cache_stats().size == 0


def test_cache_can_be_turned_off() -> None:
    guard = Guard(LITE, cache_size=0)
    guard.classify("SELECT 1")
    guard.classify("SELECT 1")
    assert guard.cache_stats().hits == 0


def test_non_text_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Guard(PG).classify(b"SELECT 1")  # type: ignore[arg-type]
