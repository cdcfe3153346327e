"""The SQL that schema documents write: types, column definitions, constraints, DDL.

One grammar serves the Markdown cells (``SERIAL (PK)``, ``INTEGER, FK to post(id)``),
the fenced SQL blocks (column lists and ``CREATE TABLE`` / ``CREATE TYPE`` / ``ALTER
TABLE ... ADD CONSTRAINT``) and the type names a live database reports, so that the
document and the database are reduced to the same facts. Nothing here is ever
executed: statements are documentation text.

``markdown=True`` accepts the shorthand people write in tables (``PK``, ``FK → t(c)``,
``nullable``, parenthesised notes); plain SQL does not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from wfsdk.schema.types import SERIAL_TYPES, SIMPLE_TYPES, SqlType


class SqlSyntaxError(ValueError):
    """Text that the grammar does not understand, with the (document) line it is on."""

    def __init__(self, message: str, line: int) -> None:
        self.line = line
        super().__init__(message)


@attrs.frozen
class Tok:
    kind: str  # word, ident (double-quoted), string, number, punct, comment
    text: str  # value for ident and string, source text otherwise
    line: int
    start: int
    end: int
    first_on_line: bool = False

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""

    def is_punct(self, text: str) -> bool:
        return self.kind == "punct" and self.text == text


_TOKEN_RE = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>[EeNn]?'(?:[^']|'')*(?P<close>')?)
    | (?P<dollar>\$(?P<tag>[A-Za-z_]\w*|)\$.*?(?:\$(?P=tag)\$|\Z))
    | (?P<ident>"(?:[^"]|"")*"?)
    | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<word>[^\W\d]\w*(?:\$\w*)*)
    | (?P<punct>::|->|=>|<=|>=|<>|!=|\|\||.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(text: str, first_line: int = 1) -> list[Tok]:
    """Split SQL text into tokens that know their line (``first_line`` is the text's first)."""
    tokens: list[Tok] = []
    line = first_line
    line_has_token = False
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup or "punct"
        raw = match.group()
        if kind == "space":
            if "\n" in raw:
                line += raw.count("\n")
                line_has_token = False
            continue
        if kind == "string":
            if match.group("close") is None:
                raise SqlSyntaxError("unterminated string literal", line)
            value = raw[raw.index("'") + 1 : -1].replace("''", "'")
            tok = Tok("string", value, line, match.start(), match.end(), not line_has_token)
        elif kind == "dollar":
            tok = Tok("string", raw, line, match.start(), match.end(), not line_has_token)
        elif kind == "ident":
            if len(raw) < 2 or not raw.endswith('"'):
                raise SqlSyntaxError("unterminated quoted identifier", line)
            tok = Tok("ident", raw[1:-1].replace('""', '"'), line, match.start(), match.end())
        else:
            tok = Tok(kind, raw, line, match.start(), match.end(), not line_has_token)
        tokens.append(tok)
        line_has_token = True
        line += raw.count("\n")
    return tokens


@attrs.define
class Reference:
    table: str
    columns: tuple[str, ...] = ()


@attrs.define
class TableConstraint:
    kind: str  # primary_key, unique, foreign_key
    columns: tuple[str, ...]
    line: int
    reference: Reference | None = None


@attrs.define
class ColumnDef:
    name: str
    line: int
    type: SqlType | None = None
    nullable: bool | None = None
    primary_key: bool = False
    unique: bool = False
    references: list[Reference] = attrs.field(factory=list)
    fk_marker: bool = False
    identity: bool = False
    default: str | None = None
    table_constraints: list[TableConstraint] = attrs.field(factory=list)

    def set_nullable(self, value: bool, line: int) -> None:
        if self.nullable is not None and self.nullable != value:
            raise SqlSyntaxError(f"column {self.name!r} is said to be both NULL and NOT NULL", line)
        self.nullable = value


@attrs.define
class TableDef:
    """What one statement, column list or section says about one table."""

    name: str
    line: int
    columns: list[ColumnDef] = attrs.field(factory=list)
    constraints: list[TableConstraint] = attrs.field(factory=list)


@attrs.define
class EnumDef:
    name: str
    labels: tuple[str, ...]
    line: int


@attrs.define
class BlockResult:
    tables: list[TableDef] = attrs.field(factory=list)
    enums: list[EnumDef] = attrs.field(factory=list)
    errors: list[tuple[int, str]] = attrs.field(factory=list)


class Stream:
    """Tokens with one position; ``accept`` takes a sequence of words or punctuation."""

    def __init__(self, tokens: Sequence[Tok], text: str) -> None:
        self.tokens = [t for t in tokens if t.kind != "comment"]
        self.text = text
        self.pos = 0

    @property
    def line(self) -> int:
        tok = self.peek()
        if tok is not None:
            return tok.line
        return self.tokens[-1].line if self.tokens else 0

    def peek(self, ahead: int = 0) -> Tok | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def at_end(self) -> bool:
        return self.pos >= len(self.tokens)

    def next(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise SqlSyntaxError("unexpected end of text", self.line)
        self.pos += 1
        return tok

    def _matches(self, tok: Tok | None, item: str) -> bool:
        if tok is None:
            return False
        if item[0].isalpha():
            return tok.upper == item
        return tok.is_punct(item)

    def at(self, *items: str) -> bool:
        return all(self._matches(self.peek(i), item) for i, item in enumerate(items))

    def accept(self, *items: str) -> bool:
        if self.at(*items):
            self.pos += len(items)
            return True
        return False

    def expect(self, *items: str) -> None:
        if not self.accept(*items):
            raise SqlSyntaxError(f"expected {' '.join(items)}, found {self.rest()!r}", self.line)

    def rest(self) -> str:
        tok = self.peek()
        if tok is None:
            return ""
        return " ".join(self.text[tok.start :].split())[:60]

    def source(self, start: int, end: int) -> str:
        """The original text of tokens ``start`` to ``end`` (exclusive)."""
        if start >= end:
            return ""
        return self.text[self.tokens[start].start : self.tokens[end - 1].end]


# Words that end a column's type or a DEFAULT expression.
_CONSTRAINT_WORDS = frozenset(
    {"NOT", "NULL", "PRIMARY", "UNIQUE", "REFERENCES", "CHECK", "CONSTRAINT", "COLLATE"}
    | {"GENERATED", "DEFAULT", "FOREIGN", "DEFERRABLE", "INITIALLY", "AUTOINCREMENT"}
    | {"AUTO_INCREMENT"}
)
_MARKDOWN_WORDS = frozenset(
    {"PK", "FK", "NULLABLE", "OPTIONAL", "REQUIRED", "INDEX", "INDEXED", "ENUM"}
)


def identifier(tok: Tok) -> str:
    """An identifier as the database stores it: unquoted names fold to lower case."""
    return tok.text if tok.kind == "ident" else tok.text.lower()


def parse_ident(stream: Stream) -> str:
    tok = stream.next()
    if tok.kind not in ("word", "ident"):
        raise SqlSyntaxError(f"expected a name, found {tok.text!r}", tok.line)
    return identifier(tok)


def unqualified(parts: Sequence[str]) -> str:
    # The CMS lives in the default schema; "public.post" and "post" are one table.
    if len(parts) > 1 and parts[0] in ("public", "pg_catalog"):
        parts = parts[1:]
    return ".".join(parts)


def parse_qualified(stream: Stream) -> list[str]:
    parts = [parse_ident(stream)]
    while stream.at(".") and stream.peek(1) is not None:
        stream.next()
        parts.append(parse_ident(stream))
    return parts


def parse_name_list(stream: Stream) -> tuple[str, ...]:
    stream.expect("(")
    names = [parse_ident(stream)]
    while stream.accept(","):
        names.append(parse_ident(stream))
    stream.expect(")")
    return tuple(names)


def _optional_args(stream: Stream, allowed: int, what: str) -> tuple[int, ...]:
    nxt = stream.peek(1)
    if not (stream.at("(") and nxt is not None and nxt.kind == "number"):
        return ()
    line = stream.line
    stream.next()
    args: list[int] = []
    while True:
        tok = stream.next()
        if tok.kind != "number" or not tok.text.isdigit():
            raise SqlSyntaxError(f"{what}: expected a whole number, found {tok.text!r}", tok.line)
        args.append(int(tok.text))
        if not stream.accept(","):
            break
    stream.expect(")")
    if len(args) > allowed:
        raise SqlSyntaxError(f"{what} takes at most {allowed} argument(s), not {len(args)}", line)
    return tuple(args)


def parse_type(stream: Stream) -> SqlType:
    """A column type; an unknown name is taken as a user-defined type (checked later)."""
    first = stream.pos
    tok = stream.next()
    if tok.kind not in ("word", "ident") or tok.upper in _CONSTRAINT_WORDS | {"PK", "FK"}:
        raise SqlSyntaxError(f"expected a type, found {tok.text!r}", tok.line)
    word = tok.text.lower()
    serial = user = False
    args: tuple[int, ...] = ()
    if tok.kind == "ident":
        name, user = tok.text, True
    elif word in SERIAL_TYPES:
        name, serial = SERIAL_TYPES[word], True
    elif word == "double":
        stream.accept("PRECISION")
        name = "double precision"
    elif word == "float":
        precision = _optional_args(stream, 1, "FLOAT")
        # PostgreSQL's rule: FLOAT(1..24) is real, FLOAT and FLOAT(25..53) double precision.
        name = "real" if precision and precision[0] <= 24 else "double precision"
    elif word in ("character", "char", "national"):
        if word == "national" and not (stream.accept("CHARACTER") or stream.accept("CHAR")):
            raise SqlSyntaxError("expected NATIONAL CHARACTER", tok.line)
        name = "varchar" if stream.accept("VARYING") else "char"
        args = _optional_args(stream, 1, name.upper())
    elif word == "bit":
        name = "varbit" if stream.accept("VARYING") else "bit"
        args = _optional_args(stream, 1, "BIT")
    elif word in ("timestamp", "time"):
        args = _optional_args(stream, 1, word.upper())
        zone = stream.accept("WITH", "TIME", "ZONE")
        if not zone:
            stream.accept("WITHOUT", "TIME", "ZONE")
        name = word + ("tz" if zone else "")
    elif word in SIMPLE_TYPES:
        name, allowed = SIMPLE_TYPES[word]
        if allowed:
            args = _optional_args(stream, allowed, word.upper())
    elif word == "enum":
        if not (stream.accept("(") and stream.peek() is not None):
            raise SqlSyntaxError(
                "ENUM needs the name of the enum type (write the type's name as the column "
                "type and document its labels in an 'Enum: name' section)",
                tok.line,
            )
        name, user = unqualified(parse_qualified(stream)), True
        stream.expect(")")
    else:
        stream.pos -= 1
        name, user = unqualified(parse_qualified(stream)), True
        if stream.at("(") and (nxt := stream.peek(1)) is not None and nxt.kind == "number":
            raise SqlSyntaxError(f"unknown type {stream.source(first, stream.pos + 3)!r}", tok.line)
    array = 0
    while True:
        if stream.accept("ARRAY") or stream.at("["):
            if stream.accept("["):
                if (size := stream.peek()) is not None and size.kind == "number":
                    stream.next()
                stream.expect("]")
            array += 1
        else:
            break
    written = stream.source(first, stream.pos)
    return SqlType(name, args, array, serial, user, written)


def parse_reference(stream: Stream, *, markdown: bool) -> Reference:
    """``table(cols)``, ``schema.table(cols)``, ``table``; in Markdown also ``table.column``."""
    parts = parse_qualified(stream)
    if stream.at("("):
        return Reference(unqualified(parts), parse_name_list(stream))
    if markdown and len(parts) >= 2:
        return Reference(unqualified(parts[:-1]), (parts[-1],))
    return Reference(unqualified(parts))


def _skip_reference_options(stream: Stream) -> None:
    while True:
        if stream.accept("MATCH"):
            stream.next()
        elif stream.accept("ON", "DELETE") or stream.accept("ON", "UPDATE"):
            if not (
                stream.accept("CASCADE")
                or stream.accept("RESTRICT")
                or stream.accept("NO", "ACTION")
                or stream.accept("SET", "NULL")
                or stream.accept("SET", "DEFAULT")
            ):
                raise SqlSyntaxError(f"unknown referential action {stream.rest()!r}", stream.line)
            if stream.at("("):
                parse_name_list(stream)
        elif not _skip_deferrable(stream):
            return


def _skip_deferrable(stream: Stream) -> bool:
    if stream.accept("DEFERRABLE") or stream.accept("NOT", "DEFERRABLE"):
        return True
    if stream.accept("INITIALLY"):
        if not (stream.accept("DEFERRED") or stream.accept("IMMEDIATE")):
            raise SqlSyntaxError("expected INITIALLY DEFERRED or IMMEDIATE", stream.line)
        return True
    return False


def _skip_group(stream: Stream) -> None:
    """Skip a parenthesised group (CHECK bodies, identity options)."""
    stream.expect("(")
    depth = 1
    while depth:
        tok = stream.next()
        if tok.is_punct("("):
            depth += 1
        elif tok.is_punct(")"):
            depth -= 1


def _default_expression(stream: Stream, *, markdown: bool, closing: str | None) -> str:
    start = stream.pos
    depth = 0
    while (tok := stream.peek()) is not None:
        if depth == 0 and stream.pos > start:
            if tok.upper in _CONSTRAINT_WORDS or (markdown and tok.upper in _MARKDOWN_WORDS):
                break
            if tok.is_punct(",") or (closing is not None and tok.is_punct(closing)):
                break
            previous = stream.tokens[stream.pos - 1]
            # "DEFAULT 0 (PK)": a bracket after a value is a note, after a name a call.
            if markdown and tok.is_punct("(") and previous.kind not in ("word", "ident"):
                break
        if tok.is_punct("("):
            depth += 1
        elif tok.is_punct(")"):
            if depth == 0:
                break
            depth -= 1
        stream.next()
    if stream.pos == start:
        raise SqlSyntaxError("DEFAULT without a value", stream.line)
    return stream.source(start, stream.pos)


def parse_column_constraints(
    stream: Stream, column: ColumnDef, *, markdown: bool, closing: str | None = None
) -> None:
    """Constraints after a column's type, until the end (or ``closing``)."""
    while (tok := stream.peek()) is not None:
        line = tok.line
        if closing is not None and tok.is_punct(closing):
            return
        if markdown and (tok.is_punct(",") or tok.is_punct(";")):
            stream.next()
        elif markdown and tok.is_punct("("):
            stream.next()
            parse_column_constraints(stream, column, markdown=True, closing=")")
            stream.expect(")")
        elif stream.accept("NOT", "NULL") or (markdown and stream.accept("REQUIRED")):
            column.set_nullable(False, line)
        elif stream.accept("NULL") or (
            markdown and (stream.accept("NULLABLE") or stream.accept("OPTIONAL"))
        ):
            column.set_nullable(True, line)
        elif stream.accept("PRIMARY", "KEY") or (markdown and stream.accept("PK")):
            column.primary_key = True
        elif stream.accept("UNIQUE"):
            stream.accept("NULLS", "NOT", "DISTINCT") or stream.accept("NULLS", "DISTINCT")
            if markdown and stream.at("("):
                columns = parse_name_list(stream)
                column.table_constraints.append(TableConstraint("unique", columns, line))
            else:
                column.unique = True
        elif stream.accept("REFERENCES"):
            column.references.append(parse_reference(stream, markdown=markdown))
            _skip_reference_options(stream)
        elif markdown and (
            stream.accept("FOREIGN", "KEY")
            or stream.accept("FK")
            or stream.at("->")
            or stream.at("\u2192")
        ):
            stream.accept("TO") or stream.accept("->") or stream.accept("\u2192")
            stream.accept(":")
            stream.accept("REFERENCES")
            target = stream.peek()
            if target is not None and target.kind in ("word", "ident"):
                column.references.append(parse_reference(stream, markdown=True))
                _skip_reference_options(stream)
            else:
                column.fk_marker = True
        elif stream.accept("DEFAULT"):
            column.default = _default_expression(stream, markdown=markdown, closing=closing)
        elif stream.accept("CHECK"):
            _skip_group(stream)
            stream.accept("NO", "INHERIT")
        elif stream.accept("CONSTRAINT") or stream.accept("COLLATE"):
            parse_qualified(stream)
        elif stream.accept("GENERATED"):
            stream.accept("ALWAYS") or stream.accept("BY", "DEFAULT")
            stream.expect("AS")
            if stream.accept("IDENTITY"):
                column.identity = True
                if stream.at("("):
                    _skip_group(stream)
            else:
                _skip_group(stream)
                stream.accept("STORED") or stream.accept("VIRTUAL")
        elif (
            stream.accept("AUTOINCREMENT")
            or stream.accept("AUTO_INCREMENT")
            or (markdown and stream.accept("AUTO", "-", "INCREMENT"))
        ):
            column.identity = True
        elif markdown and (
            stream.accept("INDEX") or stream.accept("INDEXED") or stream.accept("ENUM")
        ):
            pass
        elif not _skip_deferrable(stream):
            raise SqlSyntaxError(f"not understood: {stream.rest()!r}", line)


def parse_column(stream: Stream, *, markdown: bool = False) -> ColumnDef:
    tok = stream.peek()
    line = tok.line if tok is not None else stream.line
    column = ColumnDef(parse_ident(stream), line)
    column.type = parse_type(stream)
    parse_column_constraints(stream, column, markdown=markdown)
    finish_column(column)
    return column


def finish_column(column: ColumnDef) -> None:
    """Fold identity and AUTOINCREMENT into the type: all three mean "filled by a sequence"."""
    if column.identity and column.type is not None and not column.type.user:
        column.type = attrs.evolve(column.type, serial=True)


_TABLE_CONSTRAINT_START = frozenset(
    {"CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "EXCLUDE"}
)


def parse_table_constraint(stream: Stream, *, prose: bool = False) -> TableConstraint | None:
    """A table constraint; ``None`` for kinds that are not compared (CHECK, EXCLUDE).

    ``prose`` reads a line of a document: ``UNIQUE constraint on (a, b)`` is accepted,
    and whatever follows a complete constraint is commentary.
    """
    line = stream.line
    if stream.accept("CONSTRAINT"):
        parse_ident(stream)
    if stream.accept("PRIMARY", "KEY"):
        constraint = TableConstraint("primary_key", parse_name_list(stream), line)
    elif stream.accept("UNIQUE"):
        stream.accept("NULLS", "NOT", "DISTINCT") or stream.accept("NULLS", "DISTINCT")
        if prose:
            stream.accept("CONSTRAINT")
            stream.accept("KEY")
            stream.accept("ON") or stream.accept("OVER")
        constraint = TableConstraint("unique", parse_name_list(stream), line)
    elif stream.accept("FOREIGN", "KEY"):
        columns = parse_name_list(stream)
        stream.expect("REFERENCES")
        reference = parse_reference(stream, markdown=False)
        constraint = TableConstraint("foreign_key", columns, line, reference)
        _skip_reference_options(stream)
    elif stream.accept("CHECK") or stream.accept("EXCLUDE"):
        stream.pos = len(stream.tokens)
        return None
    else:
        raise SqlSyntaxError(f"not a table constraint: {stream.rest()!r}", line)
    if prose:
        return constraint
    _skip_deferrable(stream)
    if stream.accept("USING", "INDEX", "TABLESPACE"):
        parse_ident(stream)
    if stream.accept("INCLUDE"):
        parse_name_list(stream)
    if not stream.at_end():
        raise SqlSyntaxError(f"not understood after the constraint: {stream.rest()!r}", line)
    return constraint


def _split(tokens: Sequence[Tok], separator: str) -> list[list[Tok]]:
    """Split at top-level ``separator`` tokens (not inside brackets)."""
    parts: list[list[Tok]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind == "punct":
            if tok.text in "([":
                depth += 1
            elif tok.text in ")]":
                depth -= 1
            elif tok.text == separator and depth == 0:
                parts.append([])
                continue
        parts[-1].append(tok)
    return [p for p in parts if p]


def _table_item(tokens: Sequence[Tok], text: str, table: TableDef) -> None:
    stream = Stream(tokens, text)
    first = stream.peek()
    if first is not None and first.upper in _TABLE_CONSTRAINT_START:
        constraint = parse_table_constraint(stream)
        if constraint is not None:
            table.constraints.append(constraint)
        return
    column = parse_column(stream)
    if not stream.at_end():  # pragma: no cover - parse_column reads to the end
        raise SqlSyntaxError(f"not understood: {stream.rest()!r}", stream.line)
    table.columns.append(column)


_STATEMENT_WORDS = frozenset(
    {"CREATE", "ALTER", "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "DROP", "GRANT"}
    | {"REVOKE", "BEGIN", "COMMIT", "ROLLBACK", "TRUNCATE", "EXPLAIN", "VALUES", "ANALYZE"}
    | {"VACUUM", "REFRESH", "CALL", "COPY", "DO"}
)


def _is_statement_text(tokens: Sequence[Tok]) -> bool:
    code = [t for t in tokens if t.kind != "comment"]
    if not code:
        return False
    if any(t.is_punct(";") for t in code):
        return True
    first = code[0].upper
    second = code[1].upper if len(code) > 1 else ""
    return first in _STATEMENT_WORDS or (first == "COMMENT" and second == "ON")


_MARKER_RE = re.compile(r"^--\s*(?:table\s*[:\-]?\s*)?[`\"]?([A-Za-z_][\w.]*)[`\"]?\s*:?\s*$", re.I)


def parse_block(text: str, first_line: int, default_table: str | None) -> BlockResult:
    """A fenced SQL block: DDL statements, or a column list under ``-- table`` comments."""
    result = BlockResult()
    try:
        tokens = tokenize(text, first_line)
    except SqlSyntaxError as exc:
        result.errors.append((exc.line, str(exc)))
        return result
    if _is_statement_text(tokens):
        for statement in _split([t for t in tokens if t.kind != "comment"], ";"):
            try:
                _statement(statement, text, result)
            except SqlSyntaxError as exc:
                result.errors.append((exc.line, str(exc)))
    else:
        _column_list(tokens, text, default_table, result)
    return result


def _column_list(
    tokens: Sequence[Tok], text: str, default_table: str | None, result: BlockResult
) -> None:
    table: TableDef | None = None
    item: list[Tok] = []

    def flush() -> None:
        nonlocal table
        if not item:
            return
        if table is None:
            if default_table is None:
                result.errors.append(
                    (item[0].line, "SQL column list without a table: put '-- table_name' above it")
                )
                item.clear()
                return
            table = TableDef(default_table, item[0].line)
            result.tables.append(table)
        try:
            _table_item(item, text, table)
        except SqlSyntaxError as exc:
            result.errors.append((exc.line, str(exc)))
        item.clear()

    depth = 0
    for tok in tokens:
        if tok.kind == "comment":
            marker = _MARKER_RE.match(tok.text) if tok.first_on_line else None
            if marker and depth == 0:
                flush()
                name = unqualified(marker.group(1).lower().split("."))
                table = TableDef(name, tok.line)
                result.tables.append(table)
            continue
        # A column list is one definition per line, commas optional.
        if depth == 0 and item and tok.line > item[-1].line and not item[-1].is_punct(","):
            flush()
        if tok.is_punct("("):
            depth += 1
        elif tok.is_punct(")"):
            depth -= 1
        if tok.is_punct(",") and depth == 0:
            flush()
            continue
        item.append(tok)
    flush()


def _statement(tokens: list[Tok], text: str, result: BlockResult) -> None:
    stream = Stream(tokens, text)
    line = stream.line
    if stream.accept("CREATE"):
        stream.accept("OR", "REPLACE")
        stream.accept("GLOBAL") or stream.accept("LOCAL")
        stream.accept("TEMPORARY") or stream.accept("TEMP") or stream.accept("UNLOGGED")
        if stream.accept("TABLE"):
            _create_table(stream, text, line, result)
        elif stream.accept("TYPE"):
            _create_type(stream, line, result)
    elif stream.accept("ALTER", "TABLE"):
        _alter_table(stream, text, line, result)
    # Anything else (indexes, sequences, example queries) documents nothing compared.


def _create_table(stream: Stream, text: str, line: int, result: BlockResult) -> None:
    stream.accept("IF", "NOT", "EXISTS")
    table = TableDef(unqualified(parse_qualified(stream)), line)
    if not stream.at("("):
        raise SqlSyntaxError(f"CREATE TABLE {table.name} without a column list", line)
    result.tables.append(table)
    start = stream.pos + 1
    _skip_group(stream)
    for item in _split(stream.tokens[start : stream.pos - 1], ","):
        try:
            _table_item(item, text, table)
        except SqlSyntaxError as exc:
            result.errors.append((exc.line, str(exc)))


def _create_type(stream: Stream, line: int, result: BlockResult) -> None:
    name = unqualified(parse_qualified(stream))
    if not stream.accept("AS", "ENUM"):
        return  # composite and range types are not part of the contract
    stream.expect("(")
    labels: list[str] = []
    while not stream.accept(")"):
        tok = stream.next()
        if tok.kind != "string":
            raise SqlSyntaxError(f"enum {name}: expected a quoted label, found {tok.text!r}", line)
        labels.append(tok.text)
        if not stream.accept(","):
            stream.expect(")")
            break
    result.enums.append(EnumDef(name, tuple(labels), line))


def _alter_table(stream: Stream, text: str, line: int, result: BlockResult) -> None:
    stream.accept("IF", "EXISTS")
    stream.accept("ONLY")
    name = unqualified(parse_qualified(stream))
    stream.accept("*")
    table = TableDef(name, line)
    for action in _split(stream.tokens[stream.pos :], ","):
        sub = Stream(action, text)
        if not sub.accept("ADD"):
            continue
        head = sub.peek()
        if head is not None and head.upper in _TABLE_CONSTRAINT_START:
            constraint = parse_table_constraint(sub)
            if constraint is not None:
                table.constraints.append(constraint)
        else:
            sub.accept("COLUMN")
            sub.accept("IF", "NOT", "EXISTS")
            table.columns.append(parse_column(sub))
    if table.columns or table.constraints:
        result.tables.append(table)
