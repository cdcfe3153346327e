"""Built-in module ``core``: workflow stages and their sub-stages.

Owns ``workflow_stage_entity`` and ``workflow_sub_stage_entity``, both
read-only for the modular system (integration guide, core tables 1 and 2).

Order values are not unique in real data, so every list is ordered by the
order column and then by id: the same rows always come back in the same
order, and ``problems()`` reports the ties instead of hiding them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from wfsdk import hookimpl
from wfsdk.errors import ConfigurationError
from wfsdk.gateway import Gateway
from wfsdk.integrity import order_ties
from wfsdk.values import DataProblem, Declaration, OwnedTable

NAME = "core"
STAGES = "workflow_stage_entity"
SUB_STAGES = "workflow_sub_stage_entity"
TABLES = (STAGES, SUB_STAGES)

__all__ = ["CoreApi", "Stage", "SubStage"]


@attrs.frozen
class Stage:
    """A main workflow stage (``workflow_stage_entity``); ``order`` is its ``stage_order``."""

    id: int
    name: str
    description: str | None
    order: int


@attrs.frozen
class SubStage:
    """A sub-stage of a stage; ``order`` is its ``sub_stage_order`` within the stage."""

    id: int
    stage_id: int | None
    name: str
    description: str | None
    order: int


_STAGE = "SELECT id, name, description, stage_order FROM workflow_stage_entity"
_SUB_STAGE = (
    "SELECT ss.id, ss.stage_id, ss.name, ss.description, ss.sub_stage_order "
    "FROM workflow_sub_stage_entity AS ss"
)


def _stage(row: Mapping[str, Any]) -> Stage:
    return Stage(int(row["id"]), row["name"], row["description"], int(row["stage_order"]))


def _sub_stage(row: Mapping[str, Any]) -> SubStage:
    stage_id = row["stage_id"]
    return SubStage(
        int(row["id"]),
        None if stage_id is None else int(stage_id),
        row["name"],
        row["description"],
        int(row["sub_stage_order"]),
    )


def _require_id(what: str, value: object) -> int:
    # bool is an int to Python, never an id to the database.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{what} must be an integer id, not {value!r}")
    return value


def _require_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"a name must be a non-empty string, not {value!r}")
    return value


class CoreApi:
    """Stages and sub-stages, read-only. Reach it with ``kernel.api(CoreApi)``."""

    name = NAME

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def __repr__(self) -> str:
        return f"<wfsdk CoreApi via {self._gateway!r}>"

    # -- stages --------------------------------------------------------------------

    def stages(self) -> tuple[Stage, ...]:
        """Every stage, in workflow order (``stage_order``, then id)."""
        rows = self._gateway.read(f"{_STAGE} ORDER BY stage_order, id")
        return tuple(_stage(r) for r in rows)

    def stage(self, stage_id: int) -> Stage | None:
        """The stage with this id, or ``None``."""
        rows = self._gateway.read(
            f"{_STAGE} WHERE id = :id", {"id": _require_id("stage_id", stage_id)}
        )
        return _stage(rows[0]) if rows else None

    def stage_named(self, name: str) -> Stage | None:
        """The stage with this name, compared case-insensitively (``LOWER(name)``, as the CMS).

        Names that differ only in case are reported by ``problems()``; the
        first in workflow order wins.
        """
        rows = self._gateway.read(
            f"{_STAGE} WHERE LOWER(name) = LOWER(:name) ORDER BY stage_order, id",
            {"name": _require_name(name)},
        )
        return _stage(rows[0]) if rows else None

    # -- sub-stages ----------------------------------------------------------------

    def sub_stages(self, stage_id: int) -> tuple[SubStage, ...]:
        """The sub-stages of one stage, in order (``sub_stage_order``, then id)."""
        rows = self._gateway.read(
            f"{_SUB_STAGE} WHERE ss.stage_id = :stage ORDER BY ss.sub_stage_order, ss.id",
            {"stage": _require_id("stage_id", stage_id)},
        )
        return tuple(_sub_stage(r) for r in rows)

    def all_sub_stages(self) -> tuple[SubStage, ...]:
        """Every sub-stage in workflow order: by stage, then within the stage.

        Sub-stages whose stage does not exist come last, by id.
        """
        rows = self._gateway.read(
            f"{_SUB_STAGE} LEFT JOIN workflow_stage_entity AS s ON s.id = ss.stage_id "
            "ORDER BY CASE WHEN s.id IS NULL THEN 1 ELSE 0 END, s.stage_order, s.id, "
            "ss.sub_stage_order, ss.id"
        )
        return tuple(_sub_stage(r) for r in rows)

    def sub_stage(self, sub_stage_id: int) -> SubStage | None:
        """The sub-stage with this id, or ``None``."""
        rows = self._gateway.read(
            f"{_SUB_STAGE} WHERE ss.id = :id", {"id": _require_id("sub_stage_id", sub_stage_id)}
        )
        return _sub_stage(rows[0]) if rows else None

    def sub_stage_named(self, stage_id: int, name: str) -> SubStage | None:
        """The sub-stage of ``stage_id`` with this name, compared case-insensitively."""
        rows = self._gateway.read(
            f"{_SUB_STAGE} WHERE ss.stage_id = :stage AND LOWER(ss.name) = LOWER(:name) "
            "ORDER BY ss.sub_stage_order, ss.id",
            {"stage": _require_id("stage_id", stage_id), "name": _require_name(name)},
        )
        return _sub_stage(rows[0]) if rows else None

    # -- integrity -----------------------------------------------------------------

    def problems(self) -> tuple[DataProblem, ...]:
        """Ties in order values, names equal but for case, sub-stages without a stage."""
        # One snapshot for both levels, so a sub-stage's stage is judged against the same data.
        with self._gateway.reading() as reads:
            stages = reads.read(
                "SELECT id, name, stage_order, LOWER(name) AS folded FROM workflow_stage_entity "
                "ORDER BY stage_order, id"
            )
            subs = reads.read(
                "SELECT ss.id, ss.stage_id, ss.name, ss.sub_stage_order, "
                "LOWER(ss.name) AS folded, s.id AS found_stage "
                "FROM workflow_sub_stage_entity AS ss "
                "LEFT JOIN workflow_stage_entity AS s ON s.id = ss.stage_id "
                "ORDER BY CASE WHEN ss.stage_id IS NULL THEN 1 ELSE 0 END, ss.stage_id, "
                "ss.sub_stage_order, ss.id"
            )
        found: list[DataProblem] = []
        names = {int(r["id"]): r["name"] for r in stages}
        for _scope, order, ids in order_ties(
            (None, r["stage_order"], int(r["id"])) for r in stages
        ):
            found.append(
                _problem(
                    "duplicate-order",
                    STAGES,
                    ids,
                    f"stages {_listed(ids, names)} share stage_order {order}; "
                    "they are listed by id",
                )
            )
        found += _ambiguous(
            STAGES, "stages", [(None, int(r["id"]), r["folded"]) for r in stages], names
        )

        sub_names = {int(r["id"]): r["name"] for r in subs}
        # Sub-stages with no stage_id belong to no stage, so neither their order nor their
        # names can collide with anything; they are reported as missing references.
        placed = [r for r in subs if r["stage_id"] is not None]
        for stage_id, order, ids in order_ties(
            (r["stage_id"], r["sub_stage_order"], int(r["id"])) for r in placed
        ):
            found.append(
                _problem(
                    "duplicate-order",
                    SUB_STAGES,
                    ids,
                    f"sub-stages {_listed(ids, sub_names)} of stage {stage_id} share "
                    f"sub_stage_order {order}; they are listed by id",
                )
            )
        found += _ambiguous(
            SUB_STAGES,
            "sub-stages",
            [(r["stage_id"], int(r["id"]), r["folded"]) for r in placed],
            sub_names,
        )
        for row in subs:
            if row["found_stage"] is not None:
                continue
            row_id = int(row["id"])
            where = (
                "has no stage (stage_id is NULL)"
                if row["stage_id"] is None
                else f"belongs to stage {row['stage_id']}, which does not exist"
            )
            found.append(
                _problem(
                    "missing-reference",
                    SUB_STAGES,
                    row_id,
                    f"sub-stage {row_id} ({row['name']}) {where}; it is in no workflow tree",
                )
            )
        return tuple(found)


def _problem(kind: str, table: str, row_id: object, message: str) -> DataProblem:
    return DataProblem(kind=kind, table=table, row_id=row_id, message=message, module=NAME)


def _listed(ids: tuple[int, ...], names: Mapping[int, str]) -> str:
    return ", ".join(f"{i} ({names[i]})" for i in ids)


def _ambiguous(
    table: str, what: str, rows: list[tuple[object, int, str]], names: Mapping[int, str]
) -> list[DataProblem]:
    """Names that the case-insensitive look-up cannot tell apart within one scope."""
    groups: dict[tuple[object, str], list[int]] = {}
    for scope, row_id, folded in rows:
        groups.setdefault((scope, folded), []).append(row_id)
    found = []
    for (scope, folded), ids in groups.items():
        if len(ids) < 2:
            continue
        ordered = tuple(sorted(ids))
        within = "" if scope is None else f" of stage {scope}"
        found.append(
            _problem(
                "ambiguous-name",
                table,
                ordered,
                f"{what} {_listed(ordered, names)}{within} differ only in case ({folded!r}); "
                "a look-up by name returns the first in order",
            )
        )
    return found


@hookimpl
def declare_access() -> Declaration:
    return Declaration(
        module=NAME,
        owns=tuple(OwnedTable(table, read_only=True) for table in TABLES),
        reads=frozenset(TABLES),
    )


@hookimpl
def register_api(gateway: Gateway) -> CoreApi:
    return CoreApi(gateway)
