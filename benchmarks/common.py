"""Timing shared by the benchmarks: interleaved rounds, per-call medians, fair warm-up.

Every contender of one comparison runs in the same process against the same
database, in short batches that take turns (A, B, C, then B, C, A, ...), so
that noise from the machine, the server's caches and the garbage collector
falls on all of them alike. Each call is timed on its own and the median is
reported: it is what a typical call costs, and a stray slow call (a
checkpoint, another process) does not move it.
"""

from __future__ import annotations

import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any


def timed_calls(action: Callable[[], object], count: int) -> list[float]:
    times = []
    clock = time.perf_counter
    for _ in range(count):
        start = clock()
        action()
        times.append(clock() - start)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_s": statistics.median(ordered),
        "p10_s": ordered[len(ordered) // 10],
        "p90_s": ordered[(len(ordered) * 9) // 10],
        "mean_s": statistics.fmean(ordered),
        "calls": len(ordered),
    }


def race(
    contenders: Mapping[str, Callable[[], object]], *, rounds: int, batch: int
) -> dict[str, dict[str, float]]:
    """Time every contender ``rounds * batch`` times, in interleaved batches."""
    names = list(contenders)
    for name in names:  # warm-up: pools filled, statements prepared, caches loaded
        timed_calls(contenders[name], max(5, batch // 2))
    collected: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            collected[name] += timed_calls(contenders[name], batch)
    return {name: summary(times) for name, times in collected.items()}


def micro(action: Callable[[], object], *, number: int = 20000, repeat: int = 7) -> float:
    """Seconds per call of something far too fast to time one call at a time (best of runs)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            action()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def environment(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    import os

    import psycopg
    import sqlalchemy

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "psycopg": psycopg.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        **(extra or {}),
    }


def psycopg_conninfo(url: str) -> str:
    """A libpq URL for psycopg from a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
