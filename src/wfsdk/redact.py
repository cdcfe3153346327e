"""Keeping secrets out of messages, logs, reprs and hook arguments.

A DSN password or a provider's token must never leave the kernel: every text
and every parameter mapping that crosses a hook boundary or goes into an error
passes through a :class:`Redactor` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

# Column and parameter names that hold credentials in the blog database and in
# host applications (llm_provider.auth_token, api keys, passwords).
_SECRET_NAME = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|auth|credential", re.I)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


# SQLAlchemy appends the bound values to its error messages unless the engine was
# created with hide_parameters; a host's own engine may not have been.
_SQLALCHEMY_PARAMETERS = re.compile(r"^\[parameters: .*?(?=^\(Background|^\[SQL|\Z)", re.M | re.S)


class Redactor:
    """Masks known secret values anywhere in text, and values under secret-like names."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def add(self, secret: str | None) -> None:
        if secret and secret not in self._secrets:
            self._secrets = tuple(sorted({*self._secrets, secret}, key=len, reverse=True))

    def text(self, value: str) -> str:
        value = _SQLALCHEMY_PARAMETERS.sub("[parameters: hidden]\n", value)
        for secret in self._secrets:
            value = value.replace(secret, MASK)
        return value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes | bytearray):
            return MASK if any(s.encode() in value for s in self._secrets) else value
        if isinstance(value, Mapping):
            return self.mapping(value)
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        return value

    def mapping(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        if not values:
            return {}
        return {
            key: MASK if is_secret_name(str(key)) and value is not None else self.value(value)
            for key, value in values.items()
        }
