"""Dialects and the normalised spelling of identifiers.

A table must get the same name however a statement spells it, or an access
rule on ``llm_action`` could be dodged with ``"public"."LLM_ACTION"``. The
folding below follows what each server does, not what looks tidy.
"""

from __future__ import annotations

import string

from sqlglot import exp

from wfsdk.errors import ConfigurationError

POSTGRES = "postgres"
SQLITE = "sqlite"

_DIALECTS = {"postgres": POSTGRES, "postgresql": POSTGRES, "sqlite": SQLITE}

# Both servers fold ASCII letters only; str.lower() would also fold characters
# such as the Kelvin sign into ASCII and so invent names the server never sees.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

# PostgreSQL silently truncates identifiers to NAMEDATALEN - 1 bytes.
_PG_MAX_IDENTIFIER_BYTES = 63

# Schemas that name the default place a table lives in; a qualified name in one
# of them is the same table as the bare name.
_DEFAULT_SCHEMAS = {POSTGRES: frozenset({"public"}), SQLITE: frozenset({"main", "public"})}


def resolve_dialect(name: str) -> str:
    """The canonical dialect name for ``name`` ("postgres" or "sqlite")."""
    try:
        return _DIALECTS[name.lower()]
    except (KeyError, AttributeError):
        known = ", ".join(sorted(_DIALECTS))
        raise ConfigurationError(f"unknown SQL dialect {name!r}; expected one of {known}") from None


def fold(name: str, *, quoted: bool, dialect: str) -> str:
    """How the server stores the identifier ``name``.

    PostgreSQL folds unquoted names to lower case and keeps quoted ones as
    written; SQLite compares every identifier case-insensitively, quoted or not,
    so ``"LLM_ACTION"`` is ``llm_action`` there.
    """
    if dialect == SQLITE or not quoted:
        name = name.translate(_ASCII_LOWER)
    if dialect == POSTGRES:
        raw = name.encode("utf-8")
        if len(raw) > _PG_MAX_IDENTIFIER_BYTES:
            name = raw[:_PG_MAX_IDENTIFIER_BYTES].decode("utf-8", errors="ignore")
    return name


def fold_identifier(identifier: exp.Expr, dialect: str) -> str:
    quoted = (
        bool(identifier.args.get("quoted")) if isinstance(identifier, exp.Identifier) else False
    )
    return fold(identifier.name, quoted=quoted, dialect=dialect)


def qualified(schema: str | None, name: str, dialect: str) -> str:
    """The normalised table name: bare in a default schema, ``schema.table`` elsewhere."""
    if schema is None or schema in _DEFAULT_SCHEMAS[dialect]:
        return name
    return f"{schema}.{name}"


def quote(name: str, dialect: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def quote_table(table: str, dialect: str) -> str:
    """Render a normalised table name; quoting keeps the case the name was normalised to."""
    schema, _, name = table.rpartition(".")
    if schema:
        return f"{quote(schema, dialect)}.{quote(name, dialect)}"
    return quote(name, dialect)
