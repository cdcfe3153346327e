"""wfsdk-approval: no write without someone, or something the user chose, saying yes.

Votes in ``before_write``. The mode is chosen with ``WFSDK_APPROVAL_MODE``:

- ``interactive`` (default): the preview is shown on the terminal and a person
  answers yes or no. Without a terminal every write is refused.
- ``callback``: the host application decides, through the function given to
  :func:`set_callback` (a web UI, say). Chosen by itself when a callback is set
  and ``WFSDK_APPROVAL_MODE`` is unset.
- ``rules``: the rules file named by ``WFSDK_APPROVAL_RULES`` decides (unattended
  workers); no matching rule means no.

Every decision, with who made it and why, is appended to the journal stream
``approvals`` and is the vote's reason in the change record. A host that wants
its own policy object per connection passes ``Approver(...)`` in
``connect(extra_plugins=[...])`` instead of loading this plugin by name.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

import wfsdk
from wfsdk.errors import WfsdkError
from wfsdk.journal import Journal
from wfsdk.values import Decision, Vote, WriteIntent
from wfsdk_approval.rules import Rules, RulesError, load_rules
from wfsdk_approval.terminal import ask, describe

__all__ = [
    "ENV_MODE",
    "ENV_RULES",
    "MODES",
    "NAME",
    "STREAM",
    "ApprovalError",
    "Approver",
    "Callback",
    "Rules",
    "RulesError",
    "clear_callback",
    "describe",
    "load_rules",
    "set_callback",
]

NAME = "wfsdk-approval"
STREAM = "approvals"
ENV_MODE = "WFSDK_APPROVAL_MODE"
ENV_RULES = "WFSDK_APPROVAL_RULES"
MODES = ("interactive", "callback", "rules")

CallbackResult: TypeAlias = bool | tuple[bool, str] | Vote
Callback: TypeAlias = Callable[[WriteIntent], CallbackResult]


class ApprovalError(WfsdkError):
    """Approval is configured wrongly (unknown mode, no callback, no rules file named)."""


_registered: list[Callback] = []


def set_callback(callback: Callback) -> None:
    """Let ``callback(intent)`` decide every write of this process (see the module docs)."""
    _registered[:] = [callback]


def clear_callback() -> None:
    _registered.clear()


class Approver:
    """An approval policy as a plugin object: ``connect(extra_plugins=[Approver(fn)])``.

    Give a ``callback``, or ``rules`` (a path), or ``mode="interactive"``. Its
    plugin name is ``wfsdk-approval``, so it cannot be loaded beside the
    installed plugin by mistake (two approvers would both have to say yes).
    """

    def __init__(
        self,
        callback: Callback | None = None,
        *,
        rules: str | os.PathLike[str] | None = None,
        mode: str | None = None,
        name: str = NAME,
    ) -> None:
        if mode is None:
            mode = "callback" if callback else "rules" if rules else "interactive"
        if mode not in MODES:
            raise ApprovalError(f"unknown approval mode {mode!r}; choose one of {MODES}")
        self.mode = mode
        self.callback = callback
        self.rules = None if rules is None else Path(rules)
        # pluggy registers a host's plugin object under its __name__.
        self.__name__ = name

    @wfsdk.hookimpl
    def before_write(self, intent: WriteIntent, journal: Journal) -> Vote | None:
        return _vote(self, intent, journal)

    def decide(self, intent: WriteIntent) -> tuple[bool | None, str, str]:
        """(approved, why, who decided); ``approved`` is ``None`` for no decision at all."""
        if self.mode == "rules":
            if self.rules is None:
                raise ApprovalError(
                    f"approval mode 'rules' needs a rules file: set {ENV_RULES}=/path/to/rules.toml"
                )
            rule, why = load_rules(self.rules).decide(intent)
            who = f"rules {self.rules}" + (f":{rule.line}" if rule else "")
            return rule is not None, why, who
        if self.mode == "callback":
            if self.callback is None:
                raise ApprovalError(
                    "approval mode 'callback' but no callback is registered: call "
                    "wfsdk_approval.set_callback(fn) in the host application"
                )
            return _ask_callback(self.callback, intent)
        if intent.dry_run:
            # Nobody is asked about a change that will not be made.
            return None, "", ""
        return ask(intent)


def _ask_callback(callback: Callback, intent: WriteIntent) -> tuple[bool, str, str]:
    name = getattr(callback, "__qualname__", None) or repr(callback)
    who = f"callback {name}"
    result = callback(intent)
    if isinstance(result, Vote):
        allowed = result.decision is Decision.ALLOW
        return allowed, result.reason or ("approved" if allowed else "refused"), result.voter or who
    if isinstance(result, bool):
        return result, "approved" if result else "refused", who
    if (
        isinstance(result, tuple)
        and len(result) == 2
        and isinstance(result[0], bool)
        and isinstance(result[1], str)
    ):
        return result[0], result[1] or ("approved" if result[0] else "refused"), who
    raise ApprovalError(
        f"the approval {who} returned {result!r}; it must return True/False, "
        "(True/False, reason) or a wfsdk Vote"
    )


def _from_environment() -> Approver:
    mode = os.environ.get(ENV_MODE, "").strip().lower() or None
    if mode is not None and mode not in MODES:
        raise ApprovalError(f"{ENV_MODE}={mode!r} is not a mode; choose one of {', '.join(MODES)}")
    callback = _registered[0] if _registered else None
    if mode is None:
        mode = "callback" if callback else "interactive"
    rules = os.environ.get(ENV_RULES) or None
    return Approver(callback, rules=rules, mode=mode)


def _record(
    journal: Journal,
    intent: WriteIntent,
    mode: str,
    approved: bool,
    why: str,
    who: str,
) -> None:
    journal.append(
        STREAM,
        {
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "change_id": intent.change_id,
            "decision": "allow" if approved else "deny",
            "decided_by": who,
            "reason": why,
            "mode": mode,
            "actor": intent.actor,
            "caller": intent.caller,
            "table": intent.table,
            "operation": intent.operation.value,
            "rows": len(intent.rows),
            "dry_run": intent.dry_run,
        },
    )


def _vote(approver: Approver, intent: WriteIntent, journal: Journal) -> Vote | None:
    try:
        approved, why, who = approver.decide(intent)
    except Exception as exc:
        # Recorded as a refusal, then raised: the kernel refuses the write and
        # reports the error (with the file and line of a bad rules file) to on_error.
        _record(journal, intent, approver.mode, False, f"{type(exc).__name__}: {exc}", NAME)
        raise
    if approved is None:
        if not why:
            return None
        _record(journal, intent, approver.mode, False, why, who)
        return Vote.deny(why, voter=NAME)
    _record(journal, intent, approver.mode, approved, why, who)
    if approved:
        return Vote.allow(f"approved by {who}: {why}", voter=NAME)
    return Vote.deny(f"refused by {who}: {why}", voter=NAME)


@wfsdk.hookimpl
def before_write(intent: WriteIntent, journal: Journal) -> Vote | None:
    try:
        approver = _from_environment()
    except ApprovalError as exc:
        _record(journal, intent, "unknown", False, str(exc), NAME)
        raise
    return _vote(approver, intent, journal)
