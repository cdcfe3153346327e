"""One parameter style for everything downstream: ``:name`` with a dict.

Callers write what they know: psycopg's ``%s`` with a sequence or
``%(name)s`` with a mapping, SQLAlchemy's ``:name`` with a mapping, or on
SQLite ``?`` with a sequence. Placeholders are found among the tokens of the
statement, so a ``%s`` inside a string literal, a quoted identifier or a
comment is never one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlglot.tokenizer_core import TokenType

from wfsdk.errors import StatementRefusedError
from wfsdk.guard._names import SQLITE, resolve_dialect
from wfsdk.guard._tokens import Refused, tokenize

_PERCENT = re.compile(r"%(?:(%)|([sbt])|\((\w+)\)([sbt]))")
_COLON = re.compile(r":(\w+)")
_WORD = re.compile(r"\w")

POSITIONAL = "positional"
NAMED = "named"
NONE = "none"


class _Template(NamedTuple):
    sql: str
    style: str
    names: tuple[str, ...]
    spelling: str


def bind_parameters(
    sql: str, params: Mapping[str, Any] | Sequence[Any] | None, dialect: str
) -> tuple[str, dict[str, Any]]:
    """Rewrite ``sql`` to ``:name`` placeholders and return it with its parameters as a dict.

    Positional values become ``p1``, ``p2``, ... in order. In psycopg style,
    ``%%`` stands for ``%`` (also inside literals, as psycopg reads it). Refused
    with :class:`~wfsdk.errors.StatementRefusedError`: styles mixed in one
    statement, a sequence for named placeholders or a mapping for positional
    ones, a count mismatch, a missing name, or a lone ``%`` in psycopg style.
    """
    try:
        template = _template(sql, resolve_dialect(dialect))
        return template.sql, _bind(template, params)
    except Refused as refused:
        raise StatementRefusedError(
            f"parameters refused ({refused.reason}): {refused.message}",
            sql=sql,
            reason=refused.reason,
        ) from None


def _bind(template: _Template, params: Mapping[str, Any] | Sequence[Any] | None) -> dict[str, Any]:
    names = template.names
    if params is None:
        if names:
            raise Refused(
                "parameter-count",
                f"the statement has {len(names)} {template.spelling} placeholder(s) but no "
                "parameters were given",
            )
        return {}
    if isinstance(params, Mapping):
        if template.style == POSITIONAL:
            raise Refused(
                "parameter-style",
                f"positional placeholders ({template.spelling}) take a sequence of values, "
                "not a mapping",
            )
        missing = [name for name in dict.fromkeys(names) if name not in params]
        if missing:
            raise Refused("missing-parameter", f"no value given for {', '.join(missing)}")
        return {name: params[name] for name in names}
    if isinstance(params, (str, bytes, bytearray)) or not isinstance(params, Sequence):
        raise Refused(
            "parameter-style",
            f"parameters must be a mapping or a sequence, not {type(params).__name__}",
        )
    if template.style == NAMED:
        raise Refused(
            "parameter-style",
            f"named placeholders ({template.spelling}) take a mapping, not a sequence",
        )
    if len(params) != len(names):
        raise Refused(
            "parameter-count",
            f"the statement has {len(names)} placeholder(s) but {len(params)} value(s) were given",
        )
    return dict(zip(names, params, strict=True))


@functools.lru_cache(maxsize=4096)
def _template(sql: str, dialect: str) -> _Template:
    if not any(mark in sql for mark in "%:?$"):
        return _Template(sql, NONE, (), "")
    return _scan(sql, dialect)


def _scan(sql: str, dialect: str) -> _Template:
    edits: list[tuple[int, int, str, bool]] = []
    styles: dict[str, str] = {}
    names: list[str] = []
    lone_percent: int | None = None
    percent_pairs: list[tuple[int, int]] = []
    tokens = tokenize(sql, dialect)
    consumed = -1
    for index, token in enumerate(tokens):
        start = token.start
        if start < consumed:
            continue
        kind = token.token_type
        if kind is TokenType.MOD:
            match = _PERCENT.match(sql, start)
            if match is None:
                lone_percent = start if lone_percent is None else lone_percent
                continue
            consumed = match.end()
            if match.group(1):
                percent_pairs.append((start, consumed))
                continue
            if _WORD.match(sql, consumed):
                raise Refused(
                    "parameter-style",
                    f"placeholder {match.group(0)!r} runs into the following word; add a space",
                )
            if match.group(2):
                styles["%s"] = POSITIONAL
                name = f"p{len(names) + 1}"
            else:
                styles["%(name)s"] = NAMED
                name = match.group(3)
            names.append(name)
            edits.append((start, consumed, name, True))
        elif kind is TokenType.COLON:
            # SQLAlchemy's own rule: a colon after a word character, another colon
            # or a backslash does not start a parameter (``a[1:2]``, ``\\:``).
            if start and (_WORD.match(sql, start - 1) or sql[start - 1] in ":\\"):
                continue
            match = _COLON.match(sql, start)
            if match is None:
                continue
            consumed = match.end()
            styles[":name"] = NAMED
            names.append(match.group(1))
            edits.append((start, consumed, match.group(1), True))
        elif kind is TokenType.PLACEHOLDER and token.text == "?" and dialect == SQLITE:
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if (
                following is not None
                and following.start == token.end + 1
                and following.token_type is TokenType.NUMBER
            ):
                raise Refused("parameter-style", "numbered ?NNN placeholders are not supported")
            styles["?"] = POSITIONAL
            names.append(f"p{len(names) + 1}")
            edits.append((start, token.end + 1, names[-1], True))
        elif kind is TokenType.PARAMETER or (
            kind is TokenType.VAR and dialect == SQLITE and token.text.startswith("$")
        ):
            raise Refused(
                "parameter-style",
                f"{token.text}-style parameters are not supported; use %s, %(name)s or :name",
            )
    if len(styles) > 1:
        raise Refused(
            "mixed-parameter-styles",
            f"one statement mixes placeholder styles {', '.join(styles)}; use one style",
        )
    if not styles:
        return _Template(sql, NONE, (), "")
    spelling, style = next(iter(styles.items()))
    if spelling.startswith("%"):
        if lone_percent is not None:
            raise Refused(
                "parameter-style",
                f"a lone '%' at offset {lone_percent}: with psycopg-style placeholders write "
                "'%%' for a literal percent sign",
            )
        edits += [(start, end, "%", False) for start, end in percent_pairs]
        edits += [
            (token.start, token.end + 1, sql[token.start : token.end + 1].replace("%%", "%"), False)
            for token in tokens
            if token.token_type is not TokenType.MOD and "%%" in sql[token.start : token.end + 1]
        ]
    return _Template(_apply(sql, edits), style, tuple(names), spelling)


def _apply(sql: str, edits: list[tuple[int, int, str, bool]]) -> str:
    out: list[str] = []
    position = 0
    for start, end, text, is_name in sorted(edits):
        out.append(sql[position:start])
        out.append(_placeholder(sql, start, end, text) if is_name else text)
        position = end
    out.append(sql[position:])
    return "".join(out)


def _placeholder(sql: str, start: int, end: int, name: str) -> str:
    # SQLAlchemy's text() ignores ``:name`` glued to a word or followed by a
    # colon (``:p1::int`` is not a parameter to it), so keep the name apart.
    before = " " if start and (_WORD.match(sql, start - 1) or sql[start - 1] in ":\\") else ""
    after = " " if end < len(sql) and (_WORD.match(sql, end) or sql[end] == ":") else ""
    return f"{before}:{name}{after}"


# SQLAlchemy's text() takes any ``:word`` not after a word character, a colon or
# a backslash, and not before a colon, for a bind parameter.
_TEXT_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


@functools.lru_cache(maxsize=4096)
def text_sql(sql: str, dialect: str) -> str:
    """``sql`` (already in ``:name`` style) ready for SQLAlchemy's ``text()``.

    A colon inside a string literal, a quoted name or a comment (``'{"a":1}'``,
    ``'10:30'``) is not a parameter to the database, but ``text()`` would take
    it for one; such colons are escaped as ``\\:``, which ``text()`` turns back
    into ``:``.
    """
    if ":" not in sql:
        return sql
    placeholders = {
        token.start
        for token in tokenize(sql, resolve_dialect(dialect))
        if token.token_type is TokenType.COLON
        and not (
            token.start and (_WORD.match(sql, token.start - 1) or sql[token.start - 1] in ":\\")
        )
        and _COLON.match(sql, token.start)
    }
    return _TEXT_BIND.sub(
        lambda m: m.group(0) if m.start() in placeholders else "\\" + m.group(0), sql
    )
