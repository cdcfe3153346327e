"""Tokenising with the server's own lexical rules, shared by every part of the guard.

Statement boundaries, comments, string literals and dollar quotes are decided
by sqlglot's tokenizer for the dialect, never by searching the text: a ``;``
inside ``$$ ... $$`` or a comment is not a boundary, and one after a comment
that ends at a carriage return (PostgreSQL) is.
"""

from __future__ import annotations

import functools

from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, TokenType

from wfsdk.errors import StatementRefusedError


class Refused(Exception):  # noqa: N818 - internal signal, never escapes the guard
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
        return dialect_object(dialect).tokenize(sql)
    except Exception as exc:  # sqlglot raises TokenError, but a lexer bug must refuse too
        raise Refused("unparseable", f"the {dialect} tokenizer could not read it: {exc}") from None


def statement_end(sql: str, dialect: str) -> tuple[int, bool]:
    """Where the statement's last token ends (before ``;`` and comments), and if it has RETURNING."""
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
        raise StatementRefusedError("statement refused (empty): no statement", sql=sql, reason="empty")
    has_returning = any(token.token_type is TokenType.RETURNING for token in tokens)
    return tokens[-1].end + 1, has_returning
