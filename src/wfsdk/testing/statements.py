"""Hypothesis strategies that spell SQL statements in as many ways as a caller could.

Every strategy draws a :class:`Statement`: the text, its dialect, and what the
guard must conclude about it (tables written and read, normalised). Keywords
come in random case, table names with random quoting, casing and ``public.``
or ``main.`` qualification, and comments or odd whitespace are injected
between tokens, including comments that contain ``;`` and DDL.

The expected names are computed here independently of the guard, from the
servers' rules: unquoted names fold to lower case, quoted names keep their
case on PostgreSQL, SQLite ignores case altogether, and a table in the
default schema is named without it.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from hypothesis import strategies as st

from wfsdk.access import PROTECTED_TABLES

POSTGRES = "postgres"
SQLITE = "sqlite"
DIALECTS = (POSTGRES, SQLITE)

#: The tables no module may ever write (rule 2 of the design).
READ_ONLY_TABLES = tuple(sorted(PROTECTED_TABLES))
WRITABLE_TABLES = ("post_workflow_stage", "post_development", "post")


@attrs.frozen
class Statement:
    sql: str
    dialect: str
    writes: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()
    #: The tokens ``sql`` was joined from, to spell the same statement again.
    pieces: tuple[str, ...] = ()


@attrs.frozen
class _Name:
    """A table name as spelled in SQL and as the guard must report it."""

    spelled: str
    normalised: str
    bare: str  # the name part alone, as a later reference without schema would match it


table_names = st.sampled_from(READ_ONLY_TABLES + WRITABLE_TABLES) | st.from_regex(
    r"t_[a-z0-9_]{1,12}", fullmatch=True
)


def _random_case(draw: st.DrawFn, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if flip else c.lower() for c, flip in zip(word, flips, strict=True))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@st.composite
def keyword(draw: st.DrawFn, word: str) -> str:
    """``word`` in random case: SQL keywords are case-insensitive."""
    return _random_case(draw, word)


@st.composite
def _identifier(draw: st.DrawFn, name: str, dialect: str) -> tuple[str, str]:
    """One identifier part: its spelling and how the server folds it."""
    spelled = _random_case(draw, name)
    if draw(st.booleans()):
        folded = spelled if dialect == POSTGRES else spelled.lower()
        return _quote(spelled), folded
    return spelled, spelled.lower()


@st.composite
def table_reference(draw: st.DrawFn, dialect: str, name: str | None = None) -> _Name:
    """A table name with random case, quoting and default-schema qualification."""
    base = draw(table_names) if name is None else name
    spelled, folded = draw(_identifier(base, dialect))
    defaults = ("public",) if dialect == POSTGRES else ("main", "public")
    choice = draw(st.sampled_from(("bare", "default", "default", "other", "catalog")))
    if choice == "bare" or (choice == "catalog" and dialect == SQLITE):
        return _Name(spelled, folded, folded)
    if choice == "other":
        schema_spelled, schema = draw(_identifier("archive", dialect))
        return _Name(f"{schema_spelled}.{spelled}", f"{schema}.{folded}", folded)
    schema_spelled, schema = draw(_identifier(draw(st.sampled_from(defaults)), dialect))
    normalised = folded if schema in defaults else f"{schema}.{folded}"
    prefix = f"{schema_spelled}."
    if choice == "catalog":
        # PostgreSQL accepts database.schema.table for the current database.
        prefix = f"{draw(_identifier('blog', dialect))[0]}.{prefix}"
    return _Name(prefix + spelled, normalised, folded)


_COMMENT_TEXT = st.sampled_from(
    ("", " ; ", " DROP TABLE llm_action; ", " ' ", ' " ', " $$ ", " -- ", " UPDATE x SET a=1 ")
)


@st.composite
def separator(draw: st.DrawFn, dialect: str) -> str:
    """Whitespace and comments that every server reads as a gap between two tokens."""
    kinds = [" ", "\n", "\t", "  \r\n ", "block", "line", "line"]
    if dialect == POSTGRES:
        kinds += ["nested", "line-cr"]
    kind = draw(st.sampled_from(kinds))
    text = draw(_COMMENT_TEXT)
    if kind == "block":
        return f" /*{text}*/ "
    if kind == "nested":
        return f"/* {text} /* {text} */ {text} */"
    if kind == "line":
        return f" --{text}\n"
    if kind == "line-cr":
        return f" --{text}\r"
    return kind


@st.composite
def joined(draw: st.DrawFn, pieces: Sequence[str], dialect: str) -> str:
    """``pieces`` joined by random separators, mostly plain spaces."""
    out = [pieces[0]]
    for piece in pieces[1:]:
        plain = draw(st.integers(0, 3)) > 0
        out.append(" " if plain else draw(separator(dialect)))
        out.append(piece)
    return "".join(out)


def _words(draw: st.DrawFn, text: str) -> list[str]:
    """Split on spaces, giving every upper-case keyword a random case."""
    return [
        draw(keyword(word)) if word.isalpha() and word.isupper() else word for word in text.split()
    ]


@st.composite
def _condition(draw: st.DrawFn, dialect: str, depth: int, reads: set[str]) -> list[str]:
    options = ["a = 1", "b IS NULL", "a > :lo", "c LIKE 'x%'"]
    kind = draw(
        st.sampled_from(("simple", "simple", "exists", "in")) if depth > 0 else st.just("simple")
    )
    if kind == "simple":
        return _words(draw, draw(st.sampled_from(options)))
    inner = draw(_select(dialect, depth - 1, reads, ()))
    if kind == "exists":
        return [draw(keyword("EXISTS")), "(", *inner, ")"]
    return ["a", draw(keyword("IN")), "(", *inner, ")"]


@st.composite
def _select(
    draw: st.DrawFn, dialect: str, depth: int, reads: set[str], ctes: Sequence[str]
) -> list[str]:
    """A SELECT over real tables or visible CTEs, recording the real tables it reads."""
    pieces = [draw(keyword("SELECT")), draw(st.sampled_from(("*", "a", "a, b", "count(*)", "1")))]
    pieces.append(draw(keyword("FROM")))
    use_cte: bool = bool(ctes) and draw(st.booleans())
    if use_cte:
        pieces.append(draw(st.sampled_from(list(ctes))))
    else:
        table = draw(table_reference(dialect))
        reads.add(table.normalised)
        pieces.append(table.spelled)
    if draw(st.booleans()):
        other = draw(table_reference(dialect))
        reads.add(other.normalised)
        pieces += [draw(keyword("JOIN")), other.spelled, "o", draw(keyword("ON")), "o.a", "=", "1"]
    if draw(st.booleans()):
        pieces += [draw(keyword("WHERE")), *draw(_condition(dialect, depth, reads))]
    return pieces


@st.composite
def _with_clause(draw: st.DrawFn, dialect: str, reads: set[str]) -> tuple[list[str], list[str]]:
    """WITH c0 AS (...), c1 AS (...) where later CTEs may read earlier ones."""
    names: list[str] = []
    pieces = [draw(keyword("WITH"))]
    for index in range(draw(st.integers(1, 3))):
        if index:
            pieces.append(",")
        body = draw(_select(dialect, 1, reads, tuple(names)))
        name = f"cte_{index}"
        pieces += [name, draw(keyword("AS")), "(", *body, ")"]
        names.append(name)
    return pieces, names


@st.composite
def read_statements(draw: st.DrawFn, dialect: str) -> Statement:
    """SELECTs with joins, subqueries, nested CTEs and set operations: they write nothing."""
    reads: set[str] = set()
    pieces: list[str] = []
    ctes: list[str] = []
    if draw(st.booleans()):
        pieces, ctes = draw(_with_clause(dialect, reads))
    pieces += draw(_select(dialect, 2, reads, ctes))
    if draw(st.booleans()):
        pieces += [draw(keyword(draw(st.sampled_from(("UNION", "UNION ALL", "EXCEPT")))))]
        pieces += draw(_select(dialect, 1, reads, ctes))
    if draw(st.booleans()):
        # A CTE named like a real table hides that table inside this statement.
        hidden = draw(table_names)
        pieces = [
            draw(keyword("WITH")),
            hidden,
            draw(keyword("AS")),
            "(",
            draw(keyword("SELECT")),
            "1",
            "AS",
            "a",
            ")",
            draw(keyword("SELECT")),
            "*",
            draw(keyword("FROM")),
            hidden,
        ]
        reads = set()
    if draw(st.booleans()):
        pieces.append(";")
    return Statement(
        draw(joined(pieces, dialect)), dialect, reads=frozenset(reads), pieces=tuple(pieces)
    )


_WRITE_FORMS = {
    "insert": "INSERT INTO {t} (a, b) VALUES (:a, 'x')",
    "insert-select": "INSERT INTO {t} (a) {select}",
    "insert-default": "INSERT INTO {t} DEFAULT VALUES",
    "update": "UPDATE {t} SET a = :v , b = b + 1 {where}",
    "update-alias": "UPDATE {t} AS x SET a = x.b {where}",
    "update-from": "UPDATE {t} SET a = o.b FROM {other} o WHERE o.id = 1",
    "delete": "DELETE FROM {t} {where}",
    "delete-all": "DELETE FROM {t}",
    # A CTE named like the target never redirects the write to itself.
    "shadow": "WITH {bare} AS ( SELECT 1 ) DELETE FROM {t} WHERE a = 1",
}
_POSTGRES_WRITE_FORMS = {
    "delete-using": "DELETE FROM {t} USING {other} o WHERE o.a = 1",
    "modifying-cte": "WITH gone AS ( DELETE FROM {t} {where} RETURNING * ) SELECT * FROM gone",
    "on-conflict": "INSERT INTO {t} (a) VALUES (1) ON CONFLICT (a) DO NOTHING",
}
_SQLITE_WRITE_FORMS = {"insert-or-replace": "INSERT OR REPLACE INTO {t} (a) VALUES (1)"}
_BARE_FORMS = frozenset({"shadow", "modifying-cte", "on-conflict", "insert-or-replace"})


@st.composite
def write_statements(draw: st.DrawFn, dialect: str) -> Statement:
    """INSERT, UPDATE and DELETE on a randomly spelled table, plain or wrapped in CTEs."""
    forms = {
        **_WRITE_FORMS,
        **(_POSTGRES_WRITE_FORMS if dialect == POSTGRES else _SQLITE_WRITE_FORMS),
    }
    form = draw(st.sampled_from(sorted(forms)))
    target = draw(table_reference(dialect))
    reads: set[str] = set()
    slots: dict[str, list[str]] = {"{t}": [target.spelled]}
    slots["{bare}"] = [target.bare if target.bare.islower() else "x"]
    if "{other}" in forms[form]:
        other = draw(table_reference(dialect))
        reads.add(other.normalised)
        slots["{other}"] = [other.spelled]
    if "{where}" in forms[form]:
        slots["{where}"] = [draw(keyword("WHERE")), *draw(_condition(dialect, 1, reads))]
    if "{select}" in forms[form]:
        slots["{select}"] = draw(_select(dialect, 1, reads, ()))
    pieces: list[str] = []
    for word in _words(draw, forms[form]):
        pieces += slots.get(word, [word])
    if form not in _BARE_FORMS and draw(st.booleans()):
        with_pieces, _names = draw(_with_clause(dialect, reads))
        pieces = with_pieces + pieces
    return Statement(
        draw(joined(pieces, dialect)),
        dialect,
        writes=frozenset({target.normalised}),
        reads=frozenset(reads),
        pieces=tuple(pieces),
    )


_DDL_FORMS = (
    "CREATE TABLE {t} (a int)",
    "CREATE TEMP TABLE {t} (a int)",
    "CREATE TEMPORARY TABLE {t} AS SELECT 1",
    "CREATE UNLOGGED TABLE {t} (a int)",
    "CREATE TABLE IF NOT EXISTS {t} (a int)",
    "CREATE TABLE {t} AS SELECT * FROM post",
    "CREATE INDEX i ON {t} (a)",
    "CREATE UNIQUE INDEX IF NOT EXISTS i ON {t} (a)",
    "CREATE VIEW v AS SELECT * FROM {t}",
    "CREATE OR REPLACE VIEW v AS SELECT 1",
    "CREATE MATERIALIZED VIEW v AS SELECT 1",
    "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
    "CREATE SCHEMA s",
    "CREATE TYPE x AS ENUM ('a')",
    "CREATE EXTENSION pgcrypto",
    "CREATE SEQUENCE s",
    "CREATE TRIGGER x BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION f()",
    "CREATE RULE r AS ON INSERT TO {t} DO INSTEAD NOTHING",
    "CREATE POLICY p ON {t} USING (true)",
    "ALTER TABLE {t} ADD COLUMN x int",
    "ALTER TABLE {t} DROP COLUMN a",
    "ALTER TABLE {t} RENAME TO other",
    "ALTER TABLE {t} ALTER COLUMN a SET DEFAULT 1",
    "ALTER SEQUENCE s RESTART",
    "DROP TABLE {t}",
    "DROP TABLE IF EXISTS {t} CASCADE",
    "DROP VIEW v",
    "DROP INDEX i",
    "DROP SCHEMA public CASCADE",
    "TRUNCATE {t}",
    "TRUNCATE TABLE {t} RESTART IDENTITY",
    "COMMENT ON TABLE {t} IS 'x'",
    "GRANT SELECT ON {t} TO someone",
    "GRANT ALL ON ALL TABLES IN SCHEMA public TO someone",
    "REVOKE INSERT ON {t} FROM someone",
    "REINDEX TABLE {t}",
    "VACUUM",
    "VACUUM FULL {t}",
    "ANALYZE {t}",
    "CLUSTER {t}",
    "SELECT * INTO {t} FROM post",
    "SELECT a INTO TEMP {t} FROM post",
    "WITH c AS (SELECT 1 AS a) SELECT a INTO {t} FROM c",
    "EXPLAIN ANALYZE CREATE TABLE {t} (a int)",
    "REFRESH MATERIALIZED VIEW v",
)


@st.composite
def ddl_statements(draw: st.DrawFn, dialect: str) -> Statement:
    """Schema changes of every kind, in random spellings: all must be refused."""
    form = draw(st.sampled_from(_DDL_FORMS))
    table = draw(table_reference(dialect))
    pieces = _words(draw, form.replace("{t}", "\x00"))
    pieces = [table.spelled if piece == "\x00" else piece for piece in pieces]
    leading = draw(st.sampled_from(("", "", "\n  ", "/* header */ ", "-- note\n")))
    trailing = draw(st.sampled_from(("", "", ";", " ; ", "; -- done")))
    return Statement(leading + draw(joined(pieces, dialect)) + trailing, dialect)


def any_statement(dialect: str) -> st.SearchStrategy[Statement]:
    return st.one_of(read_statements(dialect), write_statements(dialect), ddl_statements(dialect))


@st.composite
def multi_statements(draw: st.DrawFn, dialect: str) -> Statement:
    """Two or more statements, or one with an extra empty statement: always refused."""

    def gap() -> str:
        return draw(separator(dialect))

    # A newline after each statement closes any line comment it ends with.
    first = draw(any_statement(dialect)).sql + "\n"
    shape = draw(st.sampled_from(("two", "three", "double-semicolon", "leading-semicolon")))
    if shape == "double-semicolon":
        return Statement(first + ";" + gap() + ";", dialect)
    if shape == "leading-semicolon":
        return Statement(";" + gap() + first, dialect)
    rest = [draw(any_statement(dialect)).sql + "\n"]
    if shape == "three":
        rest.append(draw(ddl_statements(dialect)).sql + "\n")
    text = first
    for statement in rest:
        text += gap() + ";" + gap() + statement
    if draw(st.booleans()):
        text += ";"
    return Statement(text, dialect)
