"""Asking a person at a terminal, and the preview text shown to them (and to any UI)."""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from wfsdk.values import WriteIntent

_LIMIT = 200
NO_TERMINAL = (
    "no terminal for interactive approval (for unattended use set WFSDK_APPROVAL_MODE to "
    "'rules' or 'callback')"
)


def _show(value: Any) -> str:
    text = "NULL" if value is None else repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _LIMIT else text[: _LIMIT - 1] + "…"


def describe(intent: WriteIntent) -> str:
    """The preview as text: who, why, the table, and each row's columns before → after."""
    count = len(intent.rows)
    lines = [
        f"{intent.actor} asks to {intent.operation.value} {count} row{'s' if count != 1 else ''} "
        f"of {intent.table} (through {intent.caller})",
        f"reason: {intent.reason}",
        f"change: {intent.change_id}",
    ]
    for row in intent.rows:
        key = ", ".join(f"{k}={_show(v)}" for k, v in row.key.items()) or "(new row)"
        lines.append(f"  row {key}")
        before = row.before or {}
        after = row.after or {}
        if row.before is None:
            lines += [f"      {c}: (new) → {_show(v)}" for c, v in after.items()]
        elif row.after is None:
            lines += [f"      {c}: {_show(v)} → (deleted)" for c, v in before.items()]
        else:
            lines += [
                f"      {c}: {_show(before.get(c))} → {_show(after.get(c))}"
                for c in row.changed_columns()
            ] or ["      (no value changes)"]
    return "\n".join(lines)


@contextlib.contextmanager
def _terminal() -> Iterator[tuple[IO[str], IO[str], str] | None]:
    """The controlling terminal, else standard input if it is one, else ``None``."""
    try:
        # As getpass does: read and write the terminal itself, whatever stdin and stdout are.
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        fd = -1
    if fd >= 0:
        # One stream each way: a terminal cannot seek, which a read-write stream would.
        with (
            open(fd, encoding="utf-8", errors="replace") as reader,
            open(os.dup(fd), "w", encoding="utf-8", errors="replace") as writer,
        ):
            yield reader, writer, "/dev/tty"
        return
    stdin = sys.stdin
    try:
        interactive = stdin is not None and stdin.isatty()
    except (OSError, ValueError):
        interactive = False
    if interactive:
        yield stdin, sys.stderr, "standard input"
        return
    yield None


def ask(intent: WriteIntent) -> tuple[bool | None, str, str]:
    """Show the preview and ask; (approved, reason, who). ``None``: no terminal to ask at."""
    with _terminal() as terminal:
        if terminal is None:
            return None, NO_TERMINAL, "wfsdk-approval"
        reader, writer, where = terminal
        writer.write(f"\nwfsdk: approval needed\n{describe(intent)}\nApprove? [y/N] ")
        writer.flush()
        answer = reader.readline()
        who = f"{_user()} at {where}"
        if not answer:
            writer.write("\n")
            return False, "no answer (end of input)", who
        if answer.strip().lower() in {"y", "yes"}:
            return True, "approved at the terminal", who
        return False, f"declined at the terminal (answer {answer.strip()!r})", who


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())
