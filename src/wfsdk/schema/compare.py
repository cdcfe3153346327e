"""The contract against the live database: differences, information, and the report.

A difference is something the document states that the database does not do. What the
database has beyond the document (tables, columns, keys, enum types) is information:
the document describes what wfsdk relies on, not everything that exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import attrs
import sqlalchemy as sa

from wfsdk.schema.model import Contract, ForeignKeySpec, TableSpec
from wfsdk.schema.reflect import LiveForeignKey, LiveSchema, LiveTable, reflect
from wfsdk.schema.types import types_match
from wfsdk.values import Difference, MismatchReport

KINDS = (
    "document",
    "missing_table",
    "missing_column",
    "type",
    "nullability",
    "primary_key",
    "foreign_key",
    "unique",
    "enum_labels",
)
REPORT_FORMAT = "wfsdk-schema-report/1"


@attrs.frozen
class SchemaReport:
    """The outcome of one comparison. ``ok`` means no difference at all.

    ``differences`` come in the order of the document (problems reading the document
    first, then table by table, then enums); ``information`` is never a mismatch.
    """

    contract: str
    dialect: str
    differences: tuple[Difference, ...]
    information: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    enums: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "contract": self.contract,
            "dialect": self.dialect,
            "ok": self.ok,
            "checked": {"tables": list(self.tables), "enums": list(self.enums)},
            "differences": [attrs.asdict(d) for d in self.differences],
            "information": list(self.information),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        counted = f"{len(self.tables)} table(s), {len(self.enums)} enum(s)"
        if self.ok:
            lines = [f"Schema check of {self.contract} against {self.dialect}: OK ({counted})"]
        else:
            lines = [
                f"Schema check of {self.contract} against {self.dialect}: MISMATCH, "
                f"{len(self.differences)} difference(s) ({counted} checked)"
            ]
        groups: dict[str, list[Difference]] = {}
        for difference in self.differences:
            groups.setdefault(_group(difference), []).append(difference)
        for title, differences in groups.items():
            lines += ["", title]
            for d in differences:
                if d.kind == "document":
                    lines.append(f"  {d.source}: {d.want}")
                    continue
                lines.append(f"  {_headline(d)}")
                lines.append(f"    want: {d.want}" + (f"    [{d.source}]" if d.source else ""))
                lines.append(f"    have: {d.have}")
        if self.information:
            lines += ["", "Information (not a mismatch)"]
            lines += [f"  - {item}" for item in self.information]
        return "\n".join(lines) + "\n"

    def to_mismatch_report(self) -> MismatchReport:
        return MismatchReport(self.contract, self.differences, self.information, self.to_text())


_HEADLINES = {
    "missing_table": "table missing",
    "missing_column": "column {column} missing",
    "type": "type of column {column}",
    "nullability": "nullability of column {column}",
    "primary_key": "primary key",
    "foreign_key": "foreign key",
    "unique": "unique constraint",
    "enum_labels": "labels",
}


def _headline(difference: Difference) -> str:
    text = _HEADLINES.get(difference.kind, difference.kind).format(column=difference.column)
    if difference.kind in ("foreign_key", "unique") and difference.column:
        text += f" on column {difference.column}"
    return text


def _group(difference: Difference) -> str:
    if difference.kind == "document":
        return "The document (could not be fully understood)"
    if difference.kind == "enum_labels":
        return f"Enum {difference.table}"
    return f"Table {difference.table}"


def compare(connection: sa.Connection, contract: Contract) -> SchemaReport:
    """Compare the live database with ``contract``; read-only (inspector queries only)."""
    return diff(contract, reflect(connection, list(contract.tables)))


def diff(contract: Contract, live: LiveSchema) -> SchemaReport:
    """The comparison itself, on an already reflected schema."""
    differences = [
        Difference("", "document", None, problem.message, "", problem.source)
        for problem in contract.problems
    ]
    information: list[str] = []
    for table in contract.tables.values():
        found = live.tables.get(table.name)
        if found is None:
            differences.append(
                Difference(
                    table.name,
                    "missing_table",
                    None,
                    f"table with column(s) {', '.join(table.columns)}",
                    "no such table",
                    table.source,
                )
            )
            continue
        _table(table, found, live.dialect, differences, information)
    documented = set(contract.tables)
    extra = sorted(name for name in live.table_names if name not in documented)
    if extra:
        information.append(
            f"{len(extra)} table(s) in the database are not in the document: {', '.join(extra)}"
        )
    _enums(contract, live, differences, information)
    return SchemaReport(
        contract.source,
        live.dialect,
        tuple(differences),
        tuple(information),
        tuple(contract.tables),
        tuple(contract.enums),
    )


def _table(
    table: TableSpec,
    live: LiveTable,
    dialect: str,
    differences: list[Difference],
    information: list[str],
) -> None:
    name = table.name
    unsaid: list[str] = []
    for column in table.columns.values():
        have = live.columns.get(column.name)
        if have is None:
            want = column.name + (f" {column.type.render()}" if column.type else "")
            missing = Difference(
                name, "missing_column", column.name, want, "no such column", column.source
            )
            differences.append(missing)
            continue
        if column.type is not None and not types_match(column.type, have.type, dialect):
            differences.append(
                Difference(
                    name,
                    "type",
                    column.name,
                    column.type.describe(),
                    have.type.describe(),
                    column.source,
                )
            )
        if column.nullable is None:
            unsaid.append(column.name)
        elif column.nullable != have.nullable:
            differences.append(
                Difference(
                    name,
                    "nullability",
                    column.name,
                    _null_text(column.nullable),
                    _null_text(have.nullable),
                    column.nullable_source or column.source,
                )
            )
    extra = [c for c in live.columns if c not in table.columns]
    if extra:
        listed = ", ".join(extra)
        if table.open:
            information.append(f"{name}: open table ('...'), columns not listed: {listed}")
        else:
            information.append(f"{name}: columns in the database but not in the document: {listed}")
    if unsaid:
        information.append(
            f"{name}: nullability not documented for {', '.join(unsaid)} (not compared)"
        )
    _keys(table, live, differences, information)


def _keys(
    table: TableSpec, live: LiveTable, differences: list[Difference], information: list[str]
) -> None:
    name = table.name
    live_pk = _key_text("PRIMARY KEY", live.primary_key) if live.primary_key else "no primary key"
    if table.primary_key is not None:
        if set(table.primary_key.columns) != set(live.primary_key):
            differences.append(
                Difference(
                    name,
                    "primary_key",
                    None,
                    _key_text("PRIMARY KEY", table.primary_key.columns),
                    live_pk,
                    table.primary_key.source,
                )
            )
    elif live.primary_key:
        information.append(f"{name}: {live_pk} is not in the document")
    matched: set[LiveForeignKey] = set()
    for fk in table.foreign_keys:
        hits = [k for k in live.foreign_keys if _fk_matches(fk, k)]
        matched.update(hits)
        if not hits:
            on_columns = [k for k in live.foreign_keys if set(k.columns) == set(fk.columns)]
            have = (
                "; ".join(k.describe() for k in on_columns)
                if on_columns
                else f"no foreign key on ({', '.join(fk.columns)})"
            )
            column = fk.columns[0] if len(fk.columns) == 1 else None
            differences.append(
                Difference(name, "foreign_key", column, fk.describe(), have, fk.source)
            )
    for key in live.foreign_keys:
        if key not in matched:
            information.append(f"{name}: foreign key {key.describe()} is not in the document")
    live_uniques = [set(u) for u in live.uniques]
    for unique in table.uniques:
        wanted = set(unique.columns)
        if wanted in live_uniques or wanted == set(live.primary_key):
            continue
        have = ", ".join(_key_text("UNIQUE", u) for u in live.uniques) or "no unique constraint"
        column = unique.columns[0] if len(unique.columns) == 1 else None
        differences.append(
            Difference(
                name, "unique", column, _key_text("UNIQUE", unique.columns), have, unique.source
            )
        )
    documented = [set(u.columns) for u in table.uniques]
    for found in live.uniques:
        if set(found) not in documented:
            information.append(f"{name}: {_key_text('UNIQUE', found)} is not in the document")


def _fk_matches(fk: ForeignKeySpec, live: LiveForeignKey) -> bool:
    if fk.ref_table.lower() != live.ref_table.lower():
        return False
    if not fk.ref_columns:
        return set(fk.columns) == set(live.columns)
    return dict(zip(fk.columns, fk.ref_columns, strict=False)) == dict(
        zip(live.columns, live.ref_columns, strict=False)
    )


def _enums(
    contract: Contract, live: LiveSchema, differences: list[Difference], information: list[str]
) -> None:
    if live.enums is None:
        if contract.enums:
            information.append(
                f"{live.dialect} has no enum types: enum(s) {', '.join(contract.enums)} "
                "not compared (their columns are compared as text)"
            )
        return
    for enum in contract.enums.values():
        labels = live.enums.get(enum.name)
        if labels != enum.labels:
            differences.append(
                Difference(
                    enum.name,
                    "enum_labels",
                    None,
                    _labels(enum.labels),
                    "no such enum type" if labels is None else _labels(labels),
                    enum.source,
                )
            )
    extra = sorted(name for name in live.enums if name not in contract.enums)
    if extra:
        information.append(f"enum type(s) in the database not in the document: {', '.join(extra)}")


def _labels(labels: Iterable[str]) -> str:
    return ", ".join(repr(label) for label in labels)


def _key_text(kind: str, columns: Iterable[str]) -> str:
    return f"{kind} ({', '.join(columns)})"


def _null_text(nullable: bool) -> str:
    return "NULL allowed" if nullable else "NOT NULL"
