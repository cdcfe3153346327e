"""Every refusal a caller must be able to tell apart has its own class.

Messages say what happened, to what, and what the user can do. The database
is never repaired or retried from here: an error is the end of the operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class WfsdkError(Exception):
    """Base of every error wfsdk raises on purpose."""


class ConfigurationError(WfsdkError):
    """Bad arguments to ``connect`` or the command line (unknown DSN scheme, bad option)."""


class PluginError(WfsdkError):
    """A plugin could not be loaded or does not match the hook specifications.

    Loading stops at the first such error: wfsdk never runs half-loaded.
    """

    def __init__(self, message: str, *, plugin: str, distribution: str | None) -> None:
        self.plugin = plugin
        self.distribution = distribution
        where = f"plugin {plugin!r}"
        if distribution:
            where += f" (distribution {distribution!r})"
        super().__init__(f"{where}: {message}")


class StatementRefusedError(WfsdkError):
    """The guard refused a statement: DDL, several statements, unparseable, or a forbidden form."""

    def __init__(self, message: str, *, sql: str, reason: str) -> None:
        self.sql = sql
        self.reason = reason
        super().__init__(message)


class ReadOnlyViolationError(StatementRefusedError):
    """A write aimed at a table whose owner declared it read-only."""


class AccessDeniedError(StatementRefusedError):
    """The calling module did not declare the access it attempted (least privilege)."""


class UnknownColumnError(StatementRefusedError):
    """A statement names a column the schema contract does not document for its table."""


class WriteDeniedError(WfsdkError):
    """``before_write`` refused the write: a deny, an exception, or nobody allowing it.

    ``reasons`` holds every reason given, one per voting plugin that refused.
    """

    def __init__(self, message: str, *, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__(message)


class ApprovalRequiredError(WriteDeniedError):
    """No approval could be obtained (for example no terminal for an interactive approval)."""


class UnpreviewableWriteError(StatementRefusedError):
    """A write whose changed rows cannot be known in advance (no primary key, no WHERE, ...)."""


class ChangedSincePreviewError(WfsdkError):
    """The rows a write would change are no longer what the preview (and the approval) showed."""


class VerificationFailedError(WfsdkError):
    """After executing, the affected rows were not what the preview promised; rolled back."""


class DatabaseError(WfsdkError):
    """The database or driver failed; the original exception is chained as ``__cause__``."""


class SchemaMismatchError(WfsdkError):
    """The live database does not match the documented schema. Execution stops here.

    ``report`` carries the full report. Nothing was fixed; wait for the user.
    """

    def __init__(self, message: str, *, report: Any) -> None:
        self.report = report
        super().__init__(message)


class ContractError(WfsdkError):
    """The schema document is missing, unreadable or cannot be understood."""


class IntegrityProblem(WfsdkError):
    """Raised by typed APIs when data they rely on is inconsistent (reported, never fixed)."""


class PluginHookError(WfsdkError):
    """An observing hook (``on_read``, ``after_write``) raised.

    For ``after_write`` the change has already committed: ``change_id`` names it.
    """

    def __init__(self, message: str, *, hook: str, change_id: str | None = None) -> None:
        self.hook = hook
        self.change_id = change_id
        super().__init__(message)
