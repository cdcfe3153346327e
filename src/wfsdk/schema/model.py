"""The schema contract: what the document says the database looks like.

Every fact carries ``source`` ("file:line") so that a report can send the
reader to the sentence that set the expectation. Sources are left out of
equality: two contracts are equal when they say the same things, wherever
they say them (a snapshot parsed back equals the contract it was made from).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar

import attrs

from wfsdk.schema.types import SqlType

V = TypeVar("V")


class FrozenMap(Mapping[str, V]):
    """A read-only, ordered, hashable mapping (attrs' frozen classes do not freeze dicts)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[str, V] | Iterable[tuple[str, V]] = ()) -> None:
        self._data: dict[str, V] = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: str) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        return isinstance(other, Mapping) and self._data == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


# One converter per field: attrs' mypy plugin cannot solve a generic one.
def _column_map(value: Mapping[str, ColumnSpec]) -> FrozenMap[ColumnSpec]:
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def _table_map(value: Mapping[str, TableSpec]) -> FrozenMap[TableSpec]:
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def _enum_map(value: Mapping[str, EnumSpec]) -> FrozenMap[EnumSpec]:
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def _columns(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class Problem:
    """Something in the document that could not be understood, and where."""

    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@attrs.frozen
class ColumnSpec:
    """One documented column.

    ``type`` is ``None`` when the document's type could not be understood (a
    problem says why); ``nullable`` is ``None`` when the document does not say,
    and then nullability is not compared. ``default`` is kept as the document
    wrote it and never compared.
    """

    name: str
    type: SqlType | None
    nullable: bool | None = None
    default: str | None = None
    description: str = ""
    source: str = attrs.field(default="", eq=False)
    nullable_source: str = attrs.field(default="", eq=False)


@attrs.frozen
class PrimaryKeySpec:
    columns: tuple[str, ...] = attrs.field(converter=_columns)
    source: str = attrs.field(default="", eq=False)


@attrs.frozen
class ForeignKeySpec:
    """``columns`` reference ``ref_table``; empty ``ref_columns`` means "whatever its key is"."""

    columns: tuple[str, ...] = attrs.field(converter=_columns)
    ref_table: str
    ref_columns: tuple[str, ...] = attrs.field(default=(), converter=_columns)
    source: str = attrs.field(default="", eq=False)

    def describe(self) -> str:
        target = self.ref_table
        if self.ref_columns:
            target += f"({', '.join(self.ref_columns)})"
        return f"({', '.join(self.columns)}) REFERENCES {target}"


@attrs.frozen
class UniqueSpec:
    columns: tuple[str, ...] = attrs.field(converter=_columns)
    source: str = attrs.field(default="", eq=False)


def _sorted_fks(value: Iterable[ForeignKeySpec]) -> tuple[ForeignKeySpec, ...]:
    # Keys are a set: the order a document lists them in says nothing.
    return tuple(sorted(value, key=lambda fk: (fk.columns, fk.ref_table, fk.ref_columns)))


def _sorted_uniques(value: Iterable[UniqueSpec]) -> tuple[UniqueSpec, ...]:
    return tuple(sorted(value, key=lambda unique: unique.columns))


@attrs.frozen
class TableSpec:
    """One documented table. ``open`` tables (a ``...`` row) may have unlisted columns."""

    name: str
    columns: FrozenMap[ColumnSpec] = attrs.field(converter=_column_map)
    primary_key: PrimaryKeySpec | None = None
    foreign_keys: tuple[ForeignKeySpec, ...] = attrs.field(default=(), converter=_sorted_fks)
    uniques: tuple[UniqueSpec, ...] = attrs.field(default=(), converter=_sorted_uniques)
    open: bool = False
    source: str = attrs.field(default="", eq=False)


@attrs.frozen
class EnumSpec:
    """A documented enum type; the order of ``labels`` is part of the contract."""

    name: str
    labels: tuple[str, ...] = attrs.field(converter=_columns)
    source: str = attrs.field(default="", eq=False)


@attrs.frozen
class Contract:
    """The parsed schema document.

    ``problems`` lists what could not be understood; a comparison reports each
    of them, so a document that was only partly read never passes a check.
    """

    tables: FrozenMap[TableSpec] = attrs.field(converter=_table_map)
    enums: FrozenMap[EnumSpec] = attrs.field(factory=FrozenMap, converter=_enum_map)
    problems: tuple[Problem, ...] = ()
    source: str = attrs.field(default="", eq=False)

    def columns_of(self, table: str) -> frozenset[str] | None:
        """The documented columns of ``table``, or ``None`` if the table is not documented."""
        spec = self.tables.get(table)
        return None if spec is None else frozenset(spec.columns)

    def is_open(self, table: str) -> bool:
        """True when the document lists ``table`` with a ``...`` row: unlisted columns are fine."""
        spec = self.tables.get(table)
        return spec is not None and spec.open


def suggest_column(contract: Contract, table: str, name: str) -> str | None:
    """The documented column of ``table`` that ``name`` was most likely meant to be.

    difflib's similarity, with a bonus for sharing a whole word of the name: the guide's
    ``order_index`` on ``workflow_stage_entity`` is as close to ``description`` as to
    ``stage_order`` letter by letter, but only ``stage_order`` is about order.
    """
    columns = contract.columns_of(table)
    if not columns or name in columns:
        return None
    words = {w for w in name.lower().split("_") if len(w) > 1}
    best: tuple[float, str] | None = None
    for column in sorted(columns):
        score = difflib.SequenceMatcher(None, name.lower(), column.lower()).ratio()
        if words & {w for w in column.lower().split("_") if len(w) > 1}:
            score += 0.3
        if score >= 0.6 and (best is None or score > best[0]):
            best = (score, column)
    return best[1] if best else None
