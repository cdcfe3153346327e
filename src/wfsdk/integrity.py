"""Data problems: found, counted and reported, never fixed.

Any registered API object with a ``problems()`` method contributes to
``wfsdk integrity``: the built-in ``core`` and ``workflow`` modules do, and a
third-party plugin can by offering the same method on the object its
``register_api`` returns. Each module checks only the tables it declared.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from wfsdk.errors import PluginError, WfsdkError
from wfsdk.values import DataProblem

if TYPE_CHECKING:
    from wfsdk.kernel import Kernel

__all__ = ["DataProblem", "ReportsProblems", "collect", "counts", "order_ties"]


@runtime_checkable
class ReportsProblems(Protocol):
    """What an API object offers to take part in ``wfsdk integrity``."""

    def problems(self) -> Iterable[DataProblem]: ...


def collect(kernel: Kernel) -> tuple[DataProblem, ...]:
    """Every data problem the loaded APIs report, in the order the APIs were registered.

    A problem without ``module`` is credited to the API that reported it. An API
    that fails, or reports something that is not a ``DataProblem``, stops the
    collection with a :class:`~wfsdk.errors.PluginError`: a partial report
    could pass for a clean one.
    """
    found: list[DataProblem] = []
    for name, api in kernel.apis.items():
        if not isinstance(api, ReportsProblems):
            continue
        try:
            reported = list(api.problems())
        except WfsdkError:
            raise
        except Exception as exc:
            raise PluginError(
                f"problems() raised {type(exc).__name__}: {exc}", plugin=name, distribution=None
            ) from exc
        for problem in reported:
            if not isinstance(problem, DataProblem):
                raise PluginError(
                    f"problems() returned a {type(problem).__name__}, not a DataProblem",
                    plugin=name,
                    distribution=None,
                )
            found.append(problem if problem.module else attrs.evolve(problem, module=name))
    return tuple(found)


def counts(problems: Iterable[DataProblem]) -> dict[str, int]:
    """How many problems of each kind, by kind name."""
    return dict(sorted(Counter(p.kind for p in problems).items()))


def order_ties(
    rows: Iterable[tuple[Hashable, int, int]],
) -> list[tuple[Hashable, int, tuple[int, ...]]]:
    """Groups of rows sharing an order value within one scope.

    ``rows`` are ``(scope, order, id)``; the result is ``(scope, order, ids)``
    for every order value held by more than one row, ids ascending, in the
    order the groups were first seen.
    """
    groups: dict[tuple[Hashable, int], list[int]] = {}
    for scope, order, row_id in rows:
        groups.setdefault((scope, order), []).append(row_id)
    return [
        (scope, order, tuple(sorted(ids))) for (scope, order), ids in groups.items() if len(ids) > 1
    ]
