"""SQL types: one canonical form for what a document writes and what a database reports.

A document writes ``FLOAT``, ``SERIAL (PK)`` or ``VARCHAR(128)``; PostgreSQL reports
``double precision``, ``integer`` with a ``nextval(...)`` default and ``character
varying(128)``. Both sides are reduced to :class:`SqlType` (by the same grammar, see
:mod:`wfsdk.schema.sqldefs`) and compared with :func:`types_match`, which knows the
aliases of each dialect.
"""

from __future__ import annotations

import attrs

# Names as the grammar resolves them: word -> (canonical name, how many arguments it takes).
# Multi-word spellings (double precision, character varying, timestamp with time zone)
# are handled by the grammar and land on the same canonical names.
SIMPLE_TYPES: dict[str, tuple[str, int]] = {
    "smallint": ("smallint", 0),
    "int2": ("smallint", 0),
    "integer": ("integer", 0),
    "int": ("integer", 0),
    "int4": ("integer", 0),
    "bigint": ("bigint", 0),
    "int8": ("bigint", 0),
    "real": ("real", 0),
    "float4": ("real", 0),
    "float8": ("double precision", 0),
    "numeric": ("numeric", 2),
    "decimal": ("numeric", 2),
    "varchar": ("varchar", 1),
    "nvarchar": ("varchar", 1),
    "bpchar": ("char", 1),
    "nchar": ("char", 1),
    "text": ("text", 0),
    "clob": ("text", 0),
    "boolean": ("boolean", 0),
    "bool": ("boolean", 0),
    "date": ("date", 0),
    "datetime": ("timestamp", 1),
    "timestamptz": ("timestamptz", 1),
    "timetz": ("timetz", 1),
    "interval": ("interval", 1),
    "json": ("json", 0),
    "jsonb": ("jsonb", 0),
    "uuid": ("uuid", 0),
    "bytea": ("bytea", 0),
    "blob": ("bytea", 0),
    "varbit": ("varbit", 1),
    # Types compared by name only: wfsdk has no alias for them.
    **{
        name: (name, 0)
        for name in (
            *("inet", "cidr", "macaddr", "macaddr8", "money", "xml", "tsvector", "tsquery"),
            *("oid", "regclass", "point", "line", "lseg", "box", "path", "polygon", "circle"),
            *("int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange"),
            *("citext", "hstore", "ltree"),
        )
    },
}

SERIAL_TYPES: dict[str, str] = {
    "serial": "integer",
    "serial4": "integer",
    "bigserial": "bigint",
    "serial8": "bigint",
    "smallserial": "smallint",
    "serial2": "smallint",
}

_SERIAL_NAMES = {"integer": "SERIAL", "bigint": "BIGSERIAL", "smallint": "SMALLSERIAL"}


@attrs.frozen
class SqlType:
    """A column type in canonical form.

    ``name`` is the canonical name (``integer``, ``double precision``, ``varchar``,
    ``timestamp``, ...) or, with ``user``, the name of a user-defined type (an enum).
    ``serial`` means "an integer filled from a sequence": SERIAL in a document, a
    ``nextval(...)`` default or an identity column in PostgreSQL. ``written`` keeps
    the text as it was found, for messages; it takes no part in equality.
    """

    name: str
    args: tuple[int, ...] = ()
    array: int = 0
    serial: bool = False
    user: bool = False
    written: str = attrs.field(default="", eq=False)

    def render(self) -> str:
        """The type as a schema document writes it (parsed back to an equal type)."""
        if self.serial and self.name in _SERIAL_NAMES:
            text = _SERIAL_NAMES[self.name]
        elif self.user:
            text = self.name
        else:
            text = self.name.upper()
            if self.args:
                text += f"({', '.join(str(a) for a in self.args)})"
        return text + "[]" * self.array

    def describe(self) -> str:
        """The type for a person reading a report: canonical, with the alias spelled out."""
        base = self.render() if not self.serial else f"{self.render()} (integer with a sequence)"
        if self.user:
            base = f"{self.name} (enum)" + "[]" * self.array
        written = " ".join(self.written.split())
        if written and written.upper() != self.render().upper():
            return f"{written} = {base}"
        return base


def normalized_args(sql_type: SqlType) -> tuple[int, ...]:
    # NUMERIC(p) is NUMERIC(p, 0) in PostgreSQL and SQLite alike.
    if sql_type.name == "numeric" and len(sql_type.args) == 1:
        return (sql_type.args[0], 0)
    return sql_type.args


# SQLite stores every integer alike and every float alike; it has no time zones and no
# binary JSON. Within these families the declared names differ, the data does not.
_SQLITE_FAMILY = {
    "smallint": "integer",
    "bigint": "integer",
    "real": "double precision",
    "timestamptz": "timestamp",
    "timetz": "time",
    "jsonb": "json",
}
_SQLITE_TEXT = {"text", "varchar", "char"}


def sqlite_affinity(declared: str) -> str:
    """SQLite's type affinity for a declared type name (sqlite.org/datatype3.html, 3.1)."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(part in upper for part in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in upper or not upper.strip():
        return "BLOB"
    if any(part in upper for part in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def types_match(want: SqlType, have: SqlType, dialect: str) -> bool:
    """Whether a live column of type ``have`` satisfies the documented type ``want``.

    Arguments (lengths, precision) are compared only when the document gives them.
    """
    if want.array != have.array:
        return False
    if dialect == "sqlite":
        return _sqlite_match(want, have)
    if want.serial and not have.serial:
        return False
    if want.user or have.user:
        return want.user and have.user and want.name.lower() == have.name.lower()
    if want.name != have.name:
        return False
    return not want.args or normalized_args(want) == normalized_args(have)


def _sqlite_match(want: SqlType, have: SqlType) -> bool:
    if want.user:
        # SQLite has no enum types; an enum column is stored as text.
        return have.name in _SQLITE_TEXT or (have.user and have.name == want.name)
    if want.name in ("json", "jsonb") and have.name == "text":
        return True
    if have.name == "numeric" and not have.args and sqlite_affinity(want.render()) == "NUMERIC":
        # SQLAlchemy reports a declared name it does not know (TIMESTAMPTZ, UUID, ...) as
        # plain NUMERIC, SQLite's affinity for it: that is all that can be checked.
        return True
    if _SQLITE_FAMILY.get(want.name, want.name) != _SQLITE_FAMILY.get(have.name, have.name):
        return False
    return not want.args or normalized_args(want) == normalized_args(have)
