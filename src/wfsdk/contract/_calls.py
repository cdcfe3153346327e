"""Calling one hook implementation directly, under the suite's time budget."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs
import pluggy

from wfsdk.plugins import call_impl


@attrs.frozen
class Outcome:
    """What one call did: its return value or the exception it raised, and how long it took."""

    value: Any = None
    error: BaseException | None = None
    elapsed_s: float = 0.0


class OverBudget(Exception):
    """A hook implementation did not return within the budget (it may still be running)."""

    def __init__(self, key: str, budget_s: float, earlier: bool) -> None:
        self.key = key
        self.budget_s = budget_s
        self.earlier = earlier
        super().__init__(self.describe())

    def describe(self, on: str = "") -> str:
        what = f" on {on}" if on else ""
        when = "an earlier call has still not returned" if self.earlier else "it is still running"
        return f"did not return within {self.budget_s:g} s{what} ({when})"


def _timed(impl: pluggy.HookImpl, arguments: dict[str, Any]) -> Outcome:
    __tracebackhide__ = True
    started = time.perf_counter()
    try:
        value = call_impl(impl, **arguments)
    except BaseException as exc:  # a plugin's SystemExit is a failure to report, not an exit
        return Outcome(error=exc, elapsed_s=time.perf_counter() - started)
    return Outcome(value=value, elapsed_s=time.perf_counter() - started)


class _Worker:
    """One daemon thread taking calls from a queue.

    Daemon, unlike a ``ThreadPoolExecutor`` worker, so that a hook blocked
    forever cannot keep the interpreter from exiting at the end of the run.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Outcome], _Result] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="wfsdk-contract-hook", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            function, result = item
            result.set(function())

    def submit(self, function: Callable[[], Outcome]) -> _Result:
        result = _Result()
        self._calls.put((function, result))
        return result

    def stop(self) -> None:
        self._calls.put(None)


class _Result:
    def __init__(self) -> None:
        self._done = threading.Event()
        self._outcome: Outcome | None = None

    def set(self, outcome: Outcome) -> None:
        self._outcome = outcome
        self._done.set()

    def wait(self, timeout: float) -> Outcome | None:
        return self._outcome if self._done.wait(timeout) else None


class HookRunner:
    """Runs every call on one worker thread, so a blocking hook cannot block the suite.

    One thread rather than one per call: a plugin may keep thread-bound objects
    (an SQLite connection, say) between calls, as it may in the kernel. A call
    that overruns its budget leaves its thread behind; the next call gets a new
    one, and the implementation is remembered as over budget.
    """

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.over_budget: dict[str, str] = {}
        self._worker: _Worker | None = None

    def call(self, key: str, impl: pluggy.HookImpl, **arguments: Any) -> Outcome:
        """Call ``impl``; raise :class:`OverBudget` if it has not returned within the budget."""
        if key in self.over_budget:
            raise OverBudget(key, self.budget_s, earlier=True)
        if self._worker is None:
            self._worker = _Worker()
        outcome = self._worker.submit(lambda: _timed(impl, arguments)).wait(self.budget_s)
        if outcome is None:
            self.over_budget[key] = f"did not return within {self.budget_s:g} s"
            # The stuck thread cannot be stopped; it is left to finish on its own.
            self._worker.stop()
            self._worker = None
            raise OverBudget(key, self.budget_s, earlier=False)
        return outcome

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
