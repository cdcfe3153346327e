"""The schema contract: the documented schema, the live schema, and how they differ.

``load_contract`` reads ``docs/database/schema.md`` (fresh on every call), ``compare``
checks a live database against it with read-only reflection, and ``snapshot`` writes a
live database as such a document. docs/schema-contract.md describes the document format,
the type aliases per dialect and the report.
"""

from __future__ import annotations

from wfsdk.schema.compare import SchemaReport, compare, diff
from wfsdk.schema.model import (
    ColumnSpec,
    Contract,
    EnumSpec,
    ForeignKeySpec,
    PrimaryKeySpec,
    Problem,
    TableSpec,
    UniqueSpec,
    suggest_column,
)
from wfsdk.schema.parse import load_contract, parse_contract
from wfsdk.schema.reflect import LiveSchema, reflect
from wfsdk.schema.snapshot import contract_of, render, snapshot
from wfsdk.schema.types import SqlType, types_match

__all__ = [
    "ColumnSpec",
    "Contract",
    "EnumSpec",
    "ForeignKeySpec",
    "LiveSchema",
    "PrimaryKeySpec",
    "Problem",
    "SchemaReport",
    "SqlType",
    "TableSpec",
    "UniqueSpec",
    "compare",
    "contract_of",
    "diff",
    "load_contract",
    "parse_contract",
    "reflect",
    "render",
    "snapshot",
    "suggest_column",
    "types_match",
]
