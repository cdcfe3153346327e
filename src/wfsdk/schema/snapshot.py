"""Writing a contract: the live database, or any contract, as a schema document.

The output uses the forms the parser reads (docs/schema-contract.md), so parsing a
snapshot gives back the same contract, and checking it against the database it came
from passes. Structure only: no row is ever read.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from wfsdk.errors import ConfigurationError
from wfsdk.schema.model import (
    ColumnSpec,
    Contract,
    EnumSpec,
    ForeignKeySpec,
    PrimaryKeySpec,
    TableSpec,
    UniqueSpec,
)
from wfsdk.schema.reflect import LiveSchema, LiveTable, reflect

_HEADER = "| Column | Type | Nullable | Default | Constraints | References | Description |"
_RULE = "| --- | --- | --- | --- | --- | --- | --- |"


def snapshot(connection: sa.Connection, tables: Sequence[str] | None = None) -> str:
    """The live schema (``tables``, or every table) as a schema document."""
    live = reflect(connection, tables)
    if tables is not None:
        missing = [name for name in tables if name not in live.tables]
        if missing:
            raise ConfigurationError(
                f"cannot snapshot table(s) {', '.join(missing)}: not in the database"
            )
    return render(contract_of(live), f"a {live.dialect} database")


def contract_of(live: LiveSchema, source: str = "snapshot") -> Contract:
    """The contract that the live schema satisfies exactly."""
    tables = {name: _table_spec(table) for name, table in live.tables.items()}
    enums: dict[str, EnumSpec] = {}
    if live.enums is not None:
        used = {
            column.type.name
            for table in tables.values()
            for column in table.columns.values()
            if column.type is not None and column.type.user
        }
        every = len(live.tables) == len(live.table_names)
        for name, labels in live.enums.items():
            if every or name in used:
                enums[name] = EnumSpec(name, labels)
    return Contract(tables, enums, source=source)


def _table_spec(table: LiveTable) -> TableSpec:
    columns = {
        c.name: ColumnSpec(
            c.name,
            c.type,
            c.nullable,
            None if c.default is None else " ".join(c.default.split()),
            " ".join(c.comment.split()),
        )
        for c in table.columns.values()
    }
    return TableSpec(
        table.name,
        columns,
        PrimaryKeySpec(table.primary_key) if table.primary_key else None,
        tuple(ForeignKeySpec(k.columns, k.ref_table, k.ref_columns) for k in table.foreign_keys),
        tuple(UniqueSpec(u) for u in table.uniques),
    )


def render(contract: Contract, origin: str = "") -> str:
    """A contract as Markdown in the format :func:`~wfsdk.schema.parse_contract` reads."""
    lines = ["# Database schema", ""]
    if origin:
        lines += [
            f"<!-- Written by wfsdk snapshot from {origin}. Structure only, no data. -->",
            "",
        ]
    for enum in contract.enums.values():
        lines += [f"## Enum: {_name(enum.name)}", ""]
        lines += [f"- `{label}`" for label in enum.labels]
        lines.append("")
    for table in contract.tables.values():
        lines += _render_table(table)
    return "\n".join(lines)


def _render_table(table: TableSpec) -> list[str]:
    pk = table.primary_key.columns if table.primary_key else ()
    single_unique = {u.columns[0] for u in table.uniques if len(u.columns) == 1}
    references: dict[str, list[str]] = {}
    notes: list[str] = []
    for fk in table.foreign_keys:
        target = _name(fk.ref_table) + (f"({_names(fk.ref_columns)})" if fk.ref_columns else "")
        if len(fk.columns) == 1:
            references.setdefault(fk.columns[0], []).append(target)
        else:
            columns = f" ({_names(fk.ref_columns)})" if fk.ref_columns else ""
            notes.append(
                f"FOREIGN KEY ({_names(fk.columns)}) REFERENCES {_name(fk.ref_table)}{columns}"
            )
    if len(pk) > 1:
        notes.insert(0, f"PRIMARY KEY ({_names(pk)})")
    notes += [f"UNIQUE ({_names(u.columns)})" for u in table.uniques if len(u.columns) > 1]
    lines = [f"## Table: {_name(table.name)}", "", _HEADER, _RULE]
    for column in table.columns.values():
        constraints = []
        if len(pk) == 1 and column.name == pk[0]:
            constraints.append("PRIMARY KEY")
        if column.name in single_unique:
            constraints.append("UNIQUE")
        cells = [
            f"`{_name(column.name)}`",
            column.type.render() if column.type is not None else "",
            {True: "YES", False: "NO", None: ""}[column.nullable],
            _code(column.default) if column.default is not None else "",
            ", ".join(constraints),
            ", ".join(references.get(column.name, [])),
            _escape(column.description),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if table.open:
        lines.append("| ... | ... | | | | | |")
    lines.append("")
    if notes:
        lines += [f"- {note}" for note in notes]
        lines.append("")
    return lines


def _name(name: str) -> str:
    if "." in name:  # a table in another schema
        return ".".join(_name(part) for part in name.split("."))
    simple = name.isidentifier() and name == name.lower() and name.isascii()
    return name if simple else '"' + name.replace('"', '""') + '"'


def _names(names: Sequence[str]) -> str:
    return ", ".join(_name(n) for n in names)


def _escape(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    text = _escape(text)
    return f"`{text}`" if "`" not in text else text
