"""Reading a schema document written by people.

The document is Markdown: ``## Table: name`` (or ``### name``) sections with pipe tables
of columns, notes such as ``References post(id)`` or ``UNIQUE(sub_stage_id, name)``,
``...`` rows for tables that are only partly listed, fenced SQL (column lists under
``-- table`` comments, ``CREATE TABLE``, ``CREATE TYPE ... AS ENUM``, ``ALTER TABLE ...
ADD CONSTRAINT``) and ``## Enum: name`` sections. docs/schema-contract.md describes every
accepted form.

What cannot be understood becomes a :class:`~wfsdk.schema.model.Problem` with its
file and line; nothing is guessed. Prose that states no schema fact is ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import attrs

from wfsdk.errors import ContractError
from wfsdk.schema.model import (
    ColumnSpec,
    Contract,
    EnumSpec,
    ForeignKeySpec,
    PrimaryKeySpec,
    Problem,
    TableSpec,
    UniqueSpec,
)
from wfsdk.schema.sqldefs import (
    BlockResult,
    ColumnDef,
    Reference,
    SqlSyntaxError,
    Stream,
    TableConstraint,
    finish_column,
    parse_block,
    parse_column_constraints,
    parse_reference,
    parse_table_constraint,
    parse_type,
    tokenize,
    unqualified,
)
from wfsdk.schema.types import SqlType

_IDENT = r"[A-Za-z_][A-Za-z0-9_$]*"
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_FENCE_RE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([^\s`]*)")
_SEPARATOR_RE = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_EXPLICIT_RE = re.compile(
    r"^(?:\d+[.)]\s*)?(table|enum\s+type|enum|type)\s*[:\-\u2013\u2014]\s*(.+)$", re.I
)
# What may follow a table's name in its heading: "(read-only)", "- blog posts".
_HEADING_NOTE_RE = re.compile(r"^(?:\(.*\)|[:\-\u2013\u2014].*)$")
_NAME_RE = re.compile(rf'^(?:"([^"]+)"|({_IDENT}(?:\.{_IDENT})?))(.*)$')
_BULLET_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_PLACEHOLDERS = frozenset({"...", "\u2026", "etc", "etc.", "\u2026etc"})
_SQL_LANGUAGES = frozenset({"sql", "postgresql", "postgres", "pgsql", "plpgsql", "psql", "sqlite"})

# Headings that name a part of a document, not a table.
_GENERIC_HEADINGS = frozenset(
    {
        *("overview", "introduction", "notes", "note", "constraints", "indexes", "indices"),
        *("relationships", "relations", "columns", "fields", "keys", "enums", "types"),
        *("tables", "schema", "summary", "description", "purpose", "usage", "example"),
        *("examples", "changelog", "changes", "conventions", "contents", "references"),
        *("glossary", "appendix", "triggers", "views", "sequences", "functions", "access"),
        *("permissions", "todo"),
    }
)

_HEADER_ROLES: dict[str, frozenset[str]] = {
    "column": frozenset({"column", "column name", "name", "field", "field name", "col"}),
    "type": frozenset({"type", "data type", "datatype", "sql type", "column type"}),
    "description": frozenset(
        {"description", "notes", "note", "comment", "comments", "purpose", "details", "desc"}
    ),
    "nullable": frozenset({"nullable", "null", "null?", "nullable?", "null allowed"}),
    "not_null": frozenset({"not null", "required", "not nullable", "mandatory"}),
    "default": frozenset({"default", "default value", "defaults"}),
    "constraints": frozenset(
        {"constraints", "constraint", "key", "keys", "pk", "attributes", "modifiers", "flags"}
    ),
    "references": frozenset(
        {"references", "reference", "foreign key", "fk", "refs", "relation", "relationship"}
    ),
}
_ENUM_HEADERS = frozenset({"label", "labels", "value", "values", "enum value", "name"})

_YES = frozenset({"yes", "y", "true", "1", "null", "nullable", "\u2713", "\u2714", "x"})
_NO = frozenset({"no", "n", "false", "0", "not null", "\u2717", "\u2718"})
_UNSAID = frozenset({"", "-", "\u2013", "\u2014", "?", "n/a"})


# --- reading descriptions ---------------------------------------------------------------

_PK_RE = re.compile(r"(?i:\bprimary\s+key\b)(?!\s*\()|\bPK\b")
_TABLE_UNIQUE_RE = re.compile(rf"\bUNIQUE\s*\(\s*({_IDENT}(?:\s*,\s*{_IDENT})*)\s*\)", re.I)
_UNIQUE_RE = re.compile(r"(?<![\w-])(?<!not )(?<!non-)(?<!non )unique\b", re.I)
_UNIQUE_SCOPE_RE = re.compile(
    r"\bunique\s+(?:per|within|for\s+each|for|in|across|among|together|with|by|to)\b", re.I
)
_FK_RE = re.compile(
    r"(?:(?i:\breferences\b|\bforeign\s+key\b)|\bFK\b)(?:\s+(?i:to|into|on))?\s*[:\u2192]?\s*"
    r"|(?:\u2192|->)\s*"
)
_TARGET_RE = re.compile(
    rf"({_IDENT}(?:\.{_IDENT}){{0,2}})\s*(?:\(\s*({_IDENT}(?:\s*,\s*{_IDENT})*)\s*\))?"
)
_NOT_NULL_RE = re.compile(
    r"\bnot[\s-]+null(?:able)?\b|\bnon[\s-]?null(?:able)?\b|\bnever\s+null\b", re.I
)
_NULLABLE_RE = re.compile(
    r"\bnullable\b|\bnulls?\s+allowed\b|\b(?:may|can)\s+be\s+null\b|\boptional\b", re.I
)
_STOPWORDS = frozenset(
    {"the", "a", "an", "this", "that", "its", "it", "which", "another", "other", "parent"}
    | {"each", "one", "some", "their", "his", "her"}
)
_KEY_WORDS_RE = re.compile(
    r"(?i:\bprimary\s+key\b|\bforeign\s+key\b|\breferences\b|\bunique\b)|\bPK\b|\bFK\b"
)
_RELATIONSHIP_RE = re.compile(
    rf"^({_IDENT})\.({_IDENT})\s*(?:\u2192|->|(?i:references)|(?i:fk\s+to))\s*"
    rf"({_IDENT})(?:\.({_IDENT})|\s*\(\s*({_IDENT})\s*\))\s*$"
)
_MENTION_RE = re.compile(rf"^(?:`({_IDENT})`|({_IDENT})\s*:)\s*[:\-\u2013\u2014]?\s*(.*)$")


def _split_names(text: str) -> tuple[str, ...]:
    return tuple(_ident(part.strip()) for part in text.split(","))


def _ident(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return name[1:-1]
    return name.lower()


def _scan_description(text: str, column: ColumnDef, line: int, *, nullability: bool) -> list[str]:
    """Read keys, references, uniqueness (and nullability) out of free text.

    Returns what could not be understood. The patterns are deliberately narrow: a
    sentence they do not match states nothing, one they half match is a problem.
    """
    problems: list[str] = []
    text = _plain(text)
    for match in _TABLE_UNIQUE_RE.finditer(text):
        column.table_constraints.append(
            TableConstraint("unique", _split_names(match.group(1)), line)
        )
    column_text = _TABLE_UNIQUE_RE.sub(" ", text)
    if _PK_RE.search(text):
        column.primary_key = True
    if _UNIQUE_SCOPE_RE.search(column_text):
        problems.append(
            f"uniqueness not understood in {text!r}: write UNIQUE(column, other_column)"
        )
    elif _UNIQUE_RE.search(column_text):
        column.unique = True
    for match in _FK_RE.finditer(text):
        rest = text[match.end() :]
        if _FK_RE.match(rest):
            continue  # "foreign key references post(id)": the next match reads the target
        target = _TARGET_RE.match(rest)
        if target is None:
            if re.match(r"\s*(?:$|[,.;)])", rest):
                column.fk_marker = True  # "FK" alone: the target may be elsewhere in the row
                continue
            problems.append(f"reference not understood in {text!r}: write References table(column)")
            continue
        table, columns = target.group(1), target.group(2)
        bare = columns is None and "." not in table
        after = rest[target.end() :]
        if bare and (table.lower() in _STOPWORDS or not re.match(r"\s*(?:$|[,.;)])", after)):
            problems.append(f"reference not understood in {text!r}: write References table(column)")
            continue
        parts = [_ident(p) for p in table.split(".")]
        if columns is not None:
            column.references.append(Reference(unqualified(parts), _split_names(columns)))
        elif len(parts) >= 2:
            column.references.append(Reference(unqualified(parts[:-1]), (parts[-1],)))
        else:
            column.references.append(Reference(parts[0]))
    if nullability:
        problems += _scan_nullability(text, column)
    return problems


def _scan_nullability(text: str, column: ColumnDef) -> list[str]:
    text = _plain(text)
    rest = _NOT_NULL_RE.sub(" ", text)
    says_not_null = rest != text
    says_nullable = bool(_NULLABLE_RE.search(rest))
    if says_not_null and says_nullable:
        return [f"nullability not understood in {text!r}: it says both"]
    said = False if says_not_null else True if says_nullable else None
    if said is not None:
        if column.nullable is not None and column.nullable != said:
            return [f"column {column.name!r} is said to be both NULL and NOT NULL"]
        column.nullable = said
    return []


def _plain(text: str) -> str:
    """Markdown inline text without emphasis, code marks and line-break tags."""
    text = re.sub(r"<br\s*/?>", " ", text, flags=re.I)
    text = text.replace("`", "").replace("**", "")
    return " ".join(text.split())


# --- what the document says, section by section -----------------------------------------


@attrs.define
class _Column:
    definition: ColumnDef
    source: str
    description: str = ""


@attrs.define
class _Section:
    """One place that documents one table (a heading, a SQL statement, a relationship line)."""

    table: str
    source: str
    explicit: bool
    columns: list[_Column] = attrs.field(factory=list)
    constraints: list[tuple[TableConstraint, str]] = attrs.field(factory=list)
    mentions: list[_Column] = attrs.field(factory=list)
    open: bool = False
    has_column_table: bool = False
    problems: list[Problem] = attrs.field(factory=list)

    @property
    def documents_something(self) -> bool:
        return bool(self.columns or self.constraints or self.open or self.has_column_table)


@attrs.define
class _EnumSection:
    name: str
    source: str
    labels: list[str] = attrs.field(factory=list)
    has_labels: bool = False


@attrs.define
class _Heading:
    level: int
    kind: str  # table, enum, other
    section: _Section | None = None
    enum: _EnumSection | None = None


class _Reader:
    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source
        self.problems: list[Problem] = []
        self.sections: list[_Section] = []
        self.enums: list[_EnumSection] = []
        self.heading = _Heading(0, "other")

    def where(self, line: int) -> str:
        return f"{self.source}:{line}"

    def problem(self, line: int, message: str, section: _Section | None = None) -> None:
        target = section.problems if section is not None else self.problems
        target.append(Problem(self.where(line), message))

    # The document is read line by line; fences and pipe tables consume their own lines.
    def read(self) -> None:
        index = 0
        in_comment = False
        while index < len(self.lines):
            line = self.lines[index]
            number = index + 1
            if in_comment or line.lstrip().startswith("<!--"):
                in_comment = "-->" not in line
                index += 1
                continue
            fence = _FENCE_RE.match(line)
            if fence:
                index = self.fenced_block(index, fence.group(1), fence.group(2).lower())
                continue
            heading = _HEADING_RE.match(line)
            if heading:
                self.on_heading(len(heading.group(1)), heading.group(2), number)
                index += 1
                continue
            if "|" in line and _is_separator(self.lines[index + 1 : index + 2]):
                index = self.pipe_table(index)
                continue
            self.prose(line, number)
            index += 1

    # --- headings -------------------------------------------------------------------

    def on_heading(self, level: int, raw: str, line: int) -> None:
        text = _plain(raw).strip()
        current = self.heading
        explicit = _EXPLICIT_RE.match(text)
        if explicit:
            kind = "table" if explicit.group(1).lower() == "table" else "enum"
            name = self.heading_name(explicit.group(2), line)
            if name is None:
                self.heading = _Heading(level, "other")
            elif kind == "table":
                section = _Section(name, self.where(line), explicit=True)
                self.sections.append(section)
                self.heading = _Heading(level, "table", section=section)
            else:
                enum = _EnumSection(name, self.where(line))
                self.enums.append(enum)
                self.heading = _Heading(level, "enum", enum=enum)
            return
        bare = re.match(rf"^(?:\d+[.)]\s*)?({_IDENT})(?:\s*\((enum|type|[^)]*)\))?$", text)
        names_table = bare is not None and bare.group(1).lower() not in _GENERIC_HEADINGS
        if current.kind == "table" and level > current.level and not names_table:
            return  # a part of the table's section ("### Constraints", "### Foreign keys")
        if bare and bare.group(2) and bare.group(2).lower() in ("enum", "type"):
            enum = _EnumSection(bare.group(1).lower(), self.where(line))
            self.enums.append(enum)
            self.heading = _Heading(level, "enum", enum=enum)
        elif bare and names_table:
            section = _Section(bare.group(1).lower(), self.where(line), explicit=False)
            self.sections.append(section)
            self.heading = _Heading(level, "table", section=section)
        else:
            self.heading = _Heading(level, "other")

    def heading_name(self, text: str, line: int) -> str | None:
        text = text.strip()
        match = _NAME_RE.match(text)
        rest = match.group(3).strip() if match else ""
        if match is None or (rest and not _HEADING_NOTE_RE.match(rest)):
            self.problem(line, f"heading {text!r} does not name one table or type")
            return None
        if match.group(1) is not None:
            return match.group(1)
        return unqualified(match.group(2).lower().split("."))

    # --- pipe tables ----------------------------------------------------------------

    def pipe_table(self, index: int) -> int:
        header_line = index + 1
        header = [_plain(cell).lower().rstrip(":") for cell in _cells(self.lines[index])]
        rows: list[tuple[int, list[str]]] = []
        index += 2
        while index < len(self.lines) and "|" in self.lines[index] and self.lines[index].strip():
            rows.append((index + 1, _cells(self.lines[index])))
            index += 1
        heading = self.heading
        roles = [_role(cell) for cell in header]
        if "column" in roles and "type" in roles:
            if heading.kind == "table" and heading.section is not None:
                self.column_table(heading.section, header, roles, header_line, rows)
            else:
                self.problem(
                    header_line,
                    "a table of columns under a heading that names no table "
                    "(write '## Table: name' above it)",
                )
        elif heading.kind == "enum" and heading.enum is not None:
            if header and header[0] in _ENUM_HEADERS:
                heading.enum.has_labels = True
                for _line, cells in rows:
                    if cells and cells[0].strip():
                        heading.enum.labels.append(_label(cells[0]))
            else:
                self.problem(header_line, f"enum table header {header!r} not understood")
        elif heading.kind == "table" and heading.section is not None and heading.section.explicit:
            self.problem(
                header_line,
                f"table header {header!r} not understood: a table of columns needs "
                "Column and Type headers",
                heading.section,
            )
        return index

    def column_table(
        self,
        section: _Section,
        header: list[str],
        roles: list[str | None],
        header_line: int,
        rows: list[tuple[int, list[str]]],
    ) -> None:
        section.has_column_table = True
        for title, role in zip(header, roles, strict=True):
            if role is None:
                self.problem(header_line, f"unknown column header {title!r} (ignored)", section)
        if len(set(r for r in roles if r)) != len([r for r in roles if r]):
            self.problem(header_line, f"header {header!r} names the same thing twice", section)
        # Where the header has columns for keys, the description is free text; the same
        # holds for nullability. A snapshot relies on this: its descriptions are comments.
        keys_elsewhere = bool({"constraints", "references"} & set(roles))
        null_elsewhere = bool({"nullable", "not_null", "constraints"} & set(roles))
        for line, cells in rows:
            if len(cells) != len(header):
                self.problem(
                    line,
                    f"row has {len(cells)} cells, the header has {len(header)}: row skipped",
                    section,
                )
                continue
            cell = {role: text for role, text in zip(roles, cells, strict=True) if role}
            if _is_placeholder(cell.get("column", ""), cells):
                section.open = True
                continue
            column = self.column_row(
                section, cell, line, keys_elsewhere=keys_elsewhere, null_elsewhere=null_elsewhere
            )
            if column is not None:
                section.columns.append(column)

    def column_row(
        self,
        section: _Section,
        cell: dict[str, str],
        line: int,
        *,
        keys_elsewhere: bool,
        null_elsewhere: bool,
    ) -> _Column | None:
        name_text = _plain(cell.get("column", "")).strip()
        match = _NAME_RE.match(name_text)
        if match is None or "." in (match.group(2) or ""):
            self.problem(line, f"column name {name_text!r} not understood", section)
            return None
        name = match.group(1) if match.group(1) is not None else match.group(2).lower()
        column = ColumnDef(name, line)
        errors: list[str] = []
        type_text = _plain(cell.get("type", ""))
        if not type_text:
            errors.append(f"column {name!r} has no type")
        else:
            errors += _cell_facts(type_text, column, line, with_type=True)
        if match.group(3).strip():
            errors += _cell_facts(match.group(3), column, line, with_type=False)
        for role, value in (("nullable", False), ("not_null", True)):
            if role in cell:
                said = _nullable_cell(cell[role])
                if said is _INVALID:
                    errors.append(f"{role.replace('_', ' ')} value {cell[role]!r} not understood")
                elif isinstance(said, bool):
                    try:
                        column.set_nullable(said != value, line)
                    except SqlSyntaxError as exc:
                        errors.append(str(exc))
        if "constraints" in cell and _plain(cell["constraints"]) not in _UNSAID:
            errors += _cell_facts(_plain(cell["constraints"]), column, line, with_type=False)
        if "references" in cell:
            errors += _references_cell(_plain(cell["references"]), column, line)
        default = _plain(cell.get("default", "")) if "default" in cell else ""
        if default not in _UNSAID:
            column.default = default
        description = " ".join(cell.get("description", "").split())
        if description and not keys_elsewhere:
            errors += _scan_description(description, column, line, nullability=not null_elsewhere)
        elif description and not null_elsewhere:
            errors += _scan_nullability(description, column)
        if column.fk_marker and not column.references:
            errors.append(f"column {name!r} is marked FK but no referenced table is given")
        for message in errors:
            self.problem(line, message, section)
        finish_column(column)
        return _Column(column, self.where(line), description)

    # --- fenced blocks --------------------------------------------------------------

    def fenced_block(self, index: int, fence: str, language: str) -> int:
        start = index + 1
        end = start
        while end < len(self.lines):
            closing = self.lines[end].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            end += 1
        if language in _SQL_LANGUAGES or language == "":
            heading = self.heading
            default = heading.section.table if heading.section is not None else None
            result = parse_block("\n".join(self.lines[start:end]), start + 1, default)
            if language in _SQL_LANGUAGES or (
                not result.errors and (result.tables or result.enums)
            ):
                self.take_block(result, heading)
        return end + 1

    def take_block(self, result: BlockResult, heading: _Heading) -> None:
        for line, message in result.errors:
            self.problem(line, f"SQL not understood: {message}")
        for table in result.tables:
            section = _Section(table.name, self.where(table.line), explicit=True)
            for column in table.columns:
                section.columns.append(_Column(column, self.where(column.line)))
            for constraint in table.constraints:
                section.constraints.append((constraint, self.where(constraint.line)))
            self.sections.append(section)
        for enum in result.enums:
            section_enum = _EnumSection(enum.name, self.where(enum.line), list(enum.labels), True)
            self.enums.append(section_enum)

    # --- prose ----------------------------------------------------------------------

    def prose(self, raw: str, line: int) -> None:
        text = raw.strip()
        if not text:
            return
        bullet = _BULLET_RE.match(text)
        item = bullet.group(1).strip() if bullet else text.lstrip("> ").strip()
        heading = self.heading
        if heading.kind == "enum" and heading.enum is not None:
            self.enum_line(heading.enum, item, line, is_bullet=bullet is not None)
            return
        relationship = _RELATIONSHIP_RE.match(_plain(item))
        if relationship:
            table, column, target, target_column, paren_column = relationship.groups()
            section = _Section(table.lower(), self.where(line), explicit=True)
            reference = Reference(target.lower(), ((target_column or paren_column).lower(),))
            constraint = TableConstraint("foreign_key", (column.lower(),), line, reference)
            section.constraints.append((constraint, self.where(line)))
            self.sections.append(section)
            return
        if heading.kind != "table" or heading.section is None:
            return
        self.table_line(heading.section, item, line)

    def table_line(self, section: _Section, item: str, line: int) -> None:
        plain = _plain(item)
        first = plain.split("(")[0].split()[:1]
        if first and first[0].upper() in ("PRIMARY", "UNIQUE", "FOREIGN", "CONSTRAINT"):
            try:
                stream = Stream(tokenize(plain, line), plain)
                constraint = parse_table_constraint(stream, prose=True)
            except SqlSyntaxError as exc:
                self.problem(line, f"not understood: {plain!r} ({exc})", section)
                return
            if constraint is not None:
                section.constraints.append((constraint, self.where(line)))
            return
        mention = _MENTION_RE.match(item.replace("**", ""))
        if mention:
            name = mention.group(1) or mention.group(2)
            column = ColumnDef(name.lower(), line)
            for message in _scan_description(mention.group(3), column, line, nullability=True):
                self.problem(line, message, section)
            if column.fk_marker and not column.references:
                self.problem(line, f"{name!r} is marked FK but no table is given", section)
            if _says_something(column):
                section.mentions.append(_Column(column, self.where(line)))
            return
        if _KEY_WORDS_RE.search(plain):
            self.problem(
                line,
                f"not understood: {plain!r} (write e.g. 'UNIQUE(a, b)', "
                "'PRIMARY KEY (a, b)' or '`column`: References table(column)')",
                section,
            )

    def enum_line(self, enum: _EnumSection, item: str, line: int, *, is_bullet: bool) -> None:
        listed = re.match(r"^(?:values|labels)\s*:\s*(.+)$", _plain(item), re.I)
        if listed:
            enum.has_labels = True
            enum.labels.extend(_label(part) for part in listed.group(1).split(","))
        elif is_bullet:
            enum.has_labels = True
            enum.labels.append(_label(item))


# --- cells --------------------------------------------------------------------------------

_INVALID = object()


def _cells(line: str) -> list[str]:
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", text)]


def _is_separator(lines: Sequence[str]) -> bool:
    return bool(lines) and "-" in lines[0] and _SEPARATOR_RE.match(lines[0]) is not None


def _role(header: str) -> str | None:
    for role, names in _HEADER_ROLES.items():
        if header in names:
            return role
    return None


def _is_placeholder(column: str, cells: Sequence[str]) -> bool:
    if _plain(column).strip() in _PLACEHOLDERS:
        return True
    return all(_plain(c).strip() in _PLACEHOLDERS | {""} for c in cells) and any(
        _plain(c).strip() in _PLACEHOLDERS for c in cells
    )


def _label(text: str) -> str:
    text = text.strip()
    quoted = re.match(r"^\s*[`'\"]([^`'\"]*)[`'\"]", text)
    if quoted:
        return quoted.group(1)
    word = text.split()[0] if text.split() else ""
    return word.rstrip(",:;")


def _nullable_cell(value: str) -> bool | object | None:
    said = _plain(value).lower()
    if said in _UNSAID:
        return None
    if said in _YES:
        return True
    if said in _NO:
        return False
    return _INVALID


def _cell_facts(text: str, column: ColumnDef, line: int, *, with_type: bool) -> list[str]:
    """Facts from a type or constraints cell (``SERIAL (PK)``, ``NOT NULL, UNIQUE``)."""
    try:
        stream = Stream(tokenize(text, line), text)
    except SqlSyntaxError as exc:
        return [f"{text!r} not understood: {exc}"]
    if with_type:
        try:
            column.type = parse_type(stream)
        except SqlSyntaxError as exc:
            return [f"type {text!r} not understood: {exc}"]
    try:
        parse_column_constraints(stream, column, markdown=True)
    except SqlSyntaxError as exc:
        return [f"{text!r} not understood: {exc}"]
    return []


def _references_cell(text: str, column: ColumnDef, line: int) -> list[str]:
    if text in _UNSAID:
        return []
    try:
        stream = Stream(tokenize(text, line), text)
        while not stream.at_end():
            stream.accept("REFERENCES") or stream.accept("FK") or stream.accept("\u2192")
            column.references.append(parse_reference(stream, markdown=True))
            if not stream.at_end():
                stream.expect(",")
    except SqlSyntaxError as exc:
        return [f"reference {text!r} not understood: {exc} (write table(column))"]
    return []


def _says_something(column: ColumnDef) -> bool:
    return bool(
        column.primary_key
        or column.unique
        or column.references
        or column.nullable is not None
        or column.table_constraints
    )


# --- putting the sections together --------------------------------------------------------


def _line_of(source: str) -> int:
    tail = source.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class _Builder:
    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.problems = list(reader.problems)

    def problem(self, source: str, message: str) -> None:
        self.problems.append(Problem(source, message))

    def build(self) -> Contract:
        sections: dict[str, list[_Section]] = {}
        for section in self.reader.sections:
            if not section.explicit and not section.documents_something:
                continue  # a heading that turned out not to be a table
            self.problems.extend(section.problems)
            sections.setdefault(section.table, []).append(section)
        enums = self.enums()
        tables: dict[str, TableSpec] = {}
        for name, parts in sections.items():
            table = self.table(name, parts, enums)
            if table is not None:
                tables[name] = table
        if not tables:
            self.problem(f"{self.reader.source}:1", "the document describes no table")
        self.problems.sort(key=lambda p: _line_of(p.source))
        return Contract(tables, enums, tuple(self.problems), source=self.reader.source)

    def enums(self) -> dict[str, EnumSpec]:
        enums: dict[str, EnumSpec] = {}
        for part in self.reader.enums:
            labels = tuple(label for label in part.labels if label)
            if not labels:
                self.problem(part.source, f"enum {part.name!r} lists no labels")
                continue
            if len(set(labels)) != len(labels):
                self.problem(part.source, f"enum {part.name!r} lists a label twice")
            known = enums.get(part.name)
            if known is None:
                enums[part.name] = EnumSpec(part.name, labels, part.source)
            elif known.labels != labels:
                self.problem(
                    part.source,
                    f"enum {part.name!r} documented again with other labels "
                    f"({', '.join(labels)}; {known.source} says {', '.join(known.labels)})",
                )
        return enums

    def table(
        self, name: str, parts: list[_Section], enums: dict[str, EnumSpec]
    ) -> TableSpec | None:
        columns: dict[str, ColumnSpec] = {}
        flags: dict[str, list[tuple[ColumnDef, str]]] = {}
        for part in parts:
            for column in part.columns:
                self.column(name, columns, column, enums)
                flags.setdefault(column.definition.name, []).append(
                    (column.definition, column.source)
                )
        is_open = any(part.open for part in parts)
        if not columns:
            self.problem(parts[0].source, f"table {name!r} is documented with no columns")
            return None
        for part in parts:
            for mention in part.mentions:
                if mention.definition.name not in columns:
                    if not is_open:
                        self.problem(
                            mention.source,
                            f"{mention.definition.name!r} is not a documented column of {name!r}",
                        )
                    continue
                self.merge_nullable(name, columns, mention.definition, mention.source)
                flags.setdefault(mention.definition.name, []).append(
                    (mention.definition, mention.source)
                )
        primary_key = self.primary_key(name, parts)
        foreign_keys: dict[tuple[tuple[str, ...], str, tuple[str, ...]], ForeignKeySpec] = {}
        uniques: dict[frozenset[str], UniqueSpec] = {}
        constraints: list[tuple[TableConstraint, str]] = [c for p in parts for c in p.constraints]
        for column_name, entries in flags.items():
            for definition, source in entries:
                for reference in definition.references:
                    fk = ForeignKeySpec((column_name,), reference.table, reference.columns, source)
                    foreign_keys.setdefault((fk.columns, fk.ref_table, fk.ref_columns), fk)
                if definition.unique:
                    unique = UniqueSpec((column_name,), source)
                    uniques.setdefault(frozenset(unique.columns), unique)
                constraints.extend((c, source) for c in definition.table_constraints)
        for constraint, source in constraints:
            missing = [c for c in constraint.columns if c not in columns]
            if missing and not is_open:
                self.problem(
                    source,
                    f"{constraint.kind.replace('_', ' ')} of {name!r} names undocumented "
                    f"column(s) {', '.join(missing)}",
                )
                continue
            if constraint.kind == "unique":
                key = frozenset(constraint.columns)
                uniques.setdefault(key, UniqueSpec(constraint.columns, source))
            elif constraint.kind == "foreign_key" and constraint.reference is not None:
                reference = constraint.reference
                fk = ForeignKeySpec(constraint.columns, reference.table, reference.columns, source)
                foreign_keys.setdefault((fk.columns, fk.ref_table, fk.ref_columns), fk)
        if primary_key is not None:
            for column_name in primary_key.columns:
                spec = columns.get(column_name)
                if spec is None:
                    continue
                if spec.nullable is True:
                    self.problem(
                        spec.nullable_source or spec.source,
                        f"{name}.{column_name} is in the primary key but documented as nullable",
                    )
                elif spec.nullable is None:
                    columns[column_name] = attrs.evolve(
                        spec, nullable=False, nullable_source=primary_key.source
                    )
        return TableSpec(
            name,
            columns,
            primary_key,
            tuple(foreign_keys.values()),
            tuple(uniques.values()),
            is_open,
            parts[0].source,
        )

    def column(
        self,
        table: str,
        columns: dict[str, ColumnSpec],
        column: _Column,
        enums: dict[str, EnumSpec],
    ) -> None:
        definition = column.definition
        sql_type = definition.type
        if sql_type is not None and sql_type.user and sql_type.name not in enums:
            self.problem(
                column.source,
                f"{table}.{definition.name}: unknown type {sql_type.written or sql_type.name!r} "
                "(if it is an enum, document it in an 'Enum: name' section)",
            )
            sql_type = None
        known = columns.get(definition.name)
        if known is None:
            columns[definition.name] = ColumnSpec(
                definition.name,
                sql_type,
                definition.nullable,
                definition.default,
                column.description,
                column.source,
                column.source if definition.nullable is not None else "",
            )
            return
        if sql_type is not None and known.type is not None:
            merged = _merge_types(known.type, sql_type)
            if merged is None:
                self.problem(
                    column.source,
                    f"{table}.{definition.name} documented again with another type: "
                    f"{sql_type.written or sql_type.render()} here, "
                    f"{known.type.written or known.type.render()} at {known.source}",
                )
            else:
                known = attrs.evolve(known, type=merged)
        elif known.type is None and sql_type is not None:
            known = attrs.evolve(known, type=sql_type)
        if known.default is None and definition.default is not None:
            known = attrs.evolve(known, default=definition.default)
        if not known.description and column.description:
            known = attrs.evolve(known, description=column.description)
        columns[definition.name] = known
        self.merge_nullable(table, columns, definition, column.source)

    def merge_nullable(
        self, table: str, columns: dict[str, ColumnSpec], definition: ColumnDef, source: str
    ) -> None:
        known = columns[definition.name]
        said = definition.nullable
        if said is None or said == known.nullable:
            return
        if known.nullable is None:
            columns[definition.name] = attrs.evolve(known, nullable=said, nullable_source=source)
            return
        self.problem(
            source,
            f"{table}.{definition.name} is documented as {_null_word(said)} here but "
            f"{_null_word(known.nullable)} at {known.nullable_source}",
        )

    def primary_key(self, table: str, parts: list[_Section]) -> PrimaryKeySpec | None:
        found: list[PrimaryKeySpec] = []
        for part in parts:
            marked = [
                (c.definition.name, c.source) for c in part.columns if c.definition.primary_key
            ]
            marked += [
                (m.definition.name, m.source) for m in part.mentions if m.definition.primary_key
            ]
            declared = [(c, s) for c, s in part.constraints if c.kind == "primary_key"] + [
                (c, col.source)
                for col in part.columns
                for c in col.definition.table_constraints
                if c.kind == "primary_key"
            ]
            if marked:
                names = tuple(dict.fromkeys(name for name, _ in marked))
                found.append(PrimaryKeySpec(names, marked[0][1]))
            found.extend(PrimaryKeySpec(c.columns, s) for c, s in declared)
        if not found:
            return None
        first = found[0]
        for other in found[1:]:
            if set(other.columns) != set(first.columns):
                self.problem(
                    other.source,
                    f"primary key of {table!r} documented as ({', '.join(other.columns)}) here "
                    f"but ({', '.join(first.columns)}) at {first.source}",
                )
        return first


def _merge_types(first: SqlType, second: SqlType) -> SqlType | None:
    """Two mentions of one column's type agree when one only adds detail to the other.

    ``INTEGER`` and ``SERIAL``, or ``VARCHAR`` and ``VARCHAR(100)``, agree; the merged
    type keeps the detail.
    """
    if (first.name, first.array, first.user) != (second.name, second.array, second.user):
        return None
    if first.args and second.args and first.args != second.args:
        return None
    return attrs.evolve(first, args=first.args or second.args, serial=first.serial or second.serial)


def _null_word(nullable: bool) -> str:
    return "nullable" if nullable else "NOT NULL"


def parse_contract(text: str, source: str = "schema.md") -> Contract:
    """Parse a schema document. Never raises for content: problems are in ``Contract.problems``."""
    reader = _Reader(text, source)
    reader.read()
    return _Builder(reader).build()


def load_contract(path: str | os.PathLike[str]) -> Contract:
    """Read and parse the schema document at ``path``, fresh on every call.

    Raises :class:`~wfsdk.errors.ContractError` when the file cannot be read or
    documents no table at all.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(
            f"cannot read the schema document {name}: {exc}. "
            "Check the path (--contract or WFSDK_CONTRACT)."
        ) from exc
    contract = parse_contract(text, name)
    if not contract.tables:
        raise ContractError(
            f"the schema document {name} describes no table: expected '## Table: name' "
            "sections with | Column | Type | Description | tables (see docs/schema-contract.md)"
        )
    return contract
