"""Tokenising with the server's own lexical rules, shared by every part of the guard.

Statement boundaries, comments, string literals and dollar quotes are decided
by sqlglot's tokenizer for the dialect, never by searching the text: a ``;``
inside ``$$ ... $$`` or a comment is not a boundary, and one after a comment
that ends at a carriage return (PostgreSQL) is.
"""

from __future__ import annotations

import functools
import re

from sqlglot.dialects.dialect import Dialect
from sqlglot.tokenizer_core import Token, TokenType

from wfsdk.errors import StatementRefusedError
from wfsdk.guard._names import POSTGRES


class Refused(Exception):
    """Raised inside the guard; turned into StatementRefusedError with the caller's SQL."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@functools.cache
def dialect_object(dialect: str) -> Dialect:
    return Dialect.get_or_raise(dialect)


def tokenize(sql: str, dialect: str) -> list[Token]:
    if "\x00" in sql:
        # Drivers disagree on what follows a NUL; nothing legitimate contains one.
        raise Refused("unparseable", "it contains a NUL character")
    try:
        tokens = dialect_object(dialect).tokenize(sql)
    except Exception as exc:  # sqlglot raises TokenError, but a lexer bug must refuse too
        raise Refused("unparseable", f"the {dialect} tokenizer could not read it: {exc}") from None
    _check_agreement(sql, tokens, dialect)
    return tokens


# Whitespace to the servers. sqlglot uses str.isspace(), which also accepts
# U+00A0, U+2028, U+3000, \v, \x1c... To PostgreSQL any non-ASCII character is
# part of an identifier, so where sqlglot sees a gap the server may see a name.
_SPACE = frozenset(" \t\n\r\f")
_ODD_ASCII_SPACE = re.compile(r"[\x0b\x1c-\x1f]")
_LINE_END = {POSTGRES: "\n\r"}
# A PostgreSQL dollar-quote tag cannot start with a digit ($1x$ is a parameter
# followed by a name), though sqlglot opens a string there.
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
_QUOTED = frozenset(
    {
        TokenType.STRING,
        TokenType.NATIONAL_STRING,
        TokenType.BYTE_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.HEREDOC_STRING,
        TokenType.RAW_STRING,
        TokenType.UNICODE_STRING,
        TokenType.IDENTIFIER,
    }
)


def swallowed_command(tokens: list[Token], dialect: str) -> int | None:
    """Index of a command whose rest sqlglot swallowed into one string token, if any.

    sqlglot does this for statements it cannot parse (EXPLAIN, CALL, SHOW, SQLite's
    REPLACE, ...); the string's offsets are then meaningless. Such a statement is
    always refused, so nothing after it needs to be read exactly.
    """
    tokenizer = dialect_object(dialect).tokenizer_class
    for index, token in enumerate(tokens[:-1]):
        if (
            token.token_type in tokenizer.COMMANDS
            and (index == 0 or tokens[index - 1].token_type in tokenizer.COMMAND_PREFIX_TOKENS)
            and tokens[index + 1].token_type is not TokenType.SEMICOLON
        ):
            return index
    return None


def _disagree(what: str) -> Refused:
    return Refused(
        "unparseable", f"{what}; the server could read the text differently from the guard"
    )


def _check_agreement(sql: str, tokens: list[Token], dialect: str) -> None:
    """Refuse text whose token boundaries the server might draw differently from sqlglot.

    A statement boundary the guard does not see is how a second statement hides,
    so any doubt about where a token, comment or string ends refuses the text.
    """
    if dialect == POSTGRES:
        for token in tokens:
            kind = token.token_type
            if kind is TokenType.HEREDOC_STRING and not _DOLLAR_TAG.match(sql, token.start):
                raise _disagree(f"dollar quote at offset {token.start} has an invalid tag")
            if kind in (TokenType.STRING, TokenType.NATIONAL_STRING) and "\\" in token.text:
                # With standard_conforming_strings off, '\'' is a whole string.
                raise _disagree(
                    "a backslash in a plain string literal depends on standard_conforming_strings"
                    " (bind the value as a parameter, or write E'...')"
                )
    swallowed = swallowed_command(tokens, dialect)
    if swallowed is not None:
        tokens = tokens[: swallowed + 1]
    odd_spaces = not sql.isascii() or _ODD_ASCII_SPACE.search(sql) is not None
    position = 0
    for token in tokens:
        if token.start != position + 1 or sql[position] != " ":
            # Even in plain ASCII the comment rules differ: sqlglot closes /*/* */*/
            # one level early, where PostgreSQL nests it.
            _check_gap(sql, position, token.start, dialect, final=False)
        if (
            odd_spaces
            and token.token_type not in _QUOTED
            and any(
                char.isspace() and char not in _SPACE for char in sql[token.start : token.end + 1]
            )
        ):
            raise _disagree(f"unusual whitespace inside {token.text!r}")
        position = token.end + 1
    if swallowed is None:
        _check_gap(sql, position, len(sql), dialect, final=True)


def _check_gap(sql: str, start: int, end: int, dialect: str, *, final: bool) -> None:
    """Between two tokens there may only be whitespace and comments, as the server reads them."""
    index = start
    while index < end:
        char = sql[index]
        if char in _SPACE:
            index += 1
        elif sql.startswith("--", index):
            stops = [sql.find(mark, index, end) for mark in _LINE_END.get(dialect, "\n")]
            stop = min((found for found in stops if found >= 0), default=-1)
            if stop < 0:
                if final:
                    return
                raise _disagree(
                    f"a comment at offset {index} ends where the server would not end it"
                )
            index = stop + 1
        elif sql.startswith("/*", index):
            index = _block_comment_end(sql, index, end, nested=dialect == POSTGRES)
        else:
            raise _disagree(f"{char!r} at offset {index} is whitespace to sqlglot only")


def _block_comment_end(sql: str, start: int, end: int, *, nested: bool) -> int:
    depth, index = 1, start + 2
    while index < end:
        if nested and sql.startswith("/*", index):
            depth, index = depth + 1, index + 2
        elif sql.startswith("*/", index):
            depth, index = depth - 1, index + 2
            if depth == 0:
                return index
        else:
            index += 1
    raise _disagree(f"the comment at offset {start} does not end where the server would end it")


def statement_end(sql: str, dialect: str) -> tuple[int, bool]:
    """Where the last token ends (before ``;`` and comments), and whether RETURNING is there."""
    try:
        tokens = tokenize(sql, dialect)
    except Refused as refused:
        raise StatementRefusedError(
            f"statement refused ({refused.reason}): {refused.message}",
            sql=sql,
            reason=refused.reason,
        ) from None
    while tokens and tokens[-1].token_type is TokenType.SEMICOLON:
        tokens.pop()
    if not tokens:
        raise StatementRefusedError(
            "statement refused (empty): no statement", sql=sql, reason="empty"
        )
    has_returning = any(token.token_type is TokenType.RETURNING for token in tokens)
    return tokens[-1].end + 1, has_returning
