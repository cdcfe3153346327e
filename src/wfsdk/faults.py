"""Fault injection for crash tests: a process that kills itself at a named point of a write.

``checkpoint(name)`` calls sit at the steps of the write path in
:mod:`wfsdk.writes`. They do nothing unless the environment variable
``WFSDK_FAULT_POINT`` names that point, in which case the process sends itself
SIGKILL there: no ``finally`` block, no rollback, no flush runs, exactly as if
the machine had lost power at that instant (the kernel's page cache aside).
Only tests set the variable.
"""

from __future__ import annotations

import os
import signal

ENV_FAULT_POINT = "WFSDK_FAULT_POINT"

#: Every checkpoint of the write path, in the order a write passes them.
POINTS = (
    "after_preview",
    "after_votes",
    "after_lock",
    "after_execute",
    "after_verify",
    "after_before_commit",
    "after_commit",
    "after_after_write",
)


# Read once: a test arms the process it starts through its environment. A write passes
# eight checkpoints, and looking the variable up at each cost ~5 µs apiece.
_armed = os.environ.get(ENV_FAULT_POINT)


def checkpoint(name: str) -> None:
    """Die by SIGKILL here if ``WFSDK_FAULT_POINT`` names this point; otherwise nothing."""
    if _armed == name:
        os.kill(os.getpid(), signal.SIGKILL)
