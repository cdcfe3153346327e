"""Built-in module ``workflow``: steps, field mappings, step actions and a post's stage status.

Owns ``workflow_step_entity``, ``workflow_field_mapping`` and
``post_workflow_step_action`` (read-only), and ``post_workflow_stage``, whose
``status``, ``started_at`` and ``completed_at`` are the only columns anyone may
write (the integration guide's ``update_workflow_status``).

Stages and sub-stages come back as core's public value objects, but this
module runs its own queries on them: it never calls into core, so each module
can be disabled or replaced on its own.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from wfsdk import hookimpl
from wfsdk.errors import ConfigurationError, IntegrityProblem
from wfsdk.gateway import Gateway
from wfsdk.integrity import order_ties
from wfsdk.modules.core import Stage, SubStage
from wfsdk.modules.step_config import (
    ConfigProblem,
    FieldRef,
    LlmSettings,
    StepConfig,
    StepField,
    parse_step_config,
)
from wfsdk.values import DataProblem, Declaration, OwnedTable

if TYPE_CHECKING:
    from wfsdk.kernel import QueryResult

NAME = "workflow"
STEPS = "workflow_step_entity"
FIELD_MAPPINGS = "workflow_field_mapping"
STEP_ACTIONS = "post_workflow_step_action"
READ_ONLY = (STEPS, FIELD_MAPPINGS, STEP_ACTIONS)
STAGE_STATUS = "post_workflow_stage"
STATUS_COLUMNS = frozenset({"status", "started_at", "completed_at"})
STATUS_MAX_LENGTH = 32  # post_workflow_stage.status is VARCHAR(32)
# Where a field lives when the row or config naming it gives no table: the CMS keeps a
# post's content fields there.
CONTENT_TABLE = "post_development"

__all__ = [
    "TREE_STATEMENTS",
    "ConfigProblem",
    "FieldMapping",
    "FieldRef",
    "LlmSettings",
    "MissingStageStatusError",
    "StageNode",
    "StageStatus",
    "Step",
    "StepAction",
    "StepConfig",
    "StepField",
    "SubStageNode",
    "WorkflowApi",
    "WorkflowTree",
    "build_tree",
    "parse_step_config",
]


class MissingStageStatusError(ConfigurationError):
    """No ``post_workflow_stage`` row exists for the (post, stage) whose status was to be set.

    wfsdk updates workflow state; it never creates it, so nothing was changed.
    """


# -- value objects -----------------------------------------------------------------


@attrs.frozen
class Step:
    """A step of a sub-stage; ``order`` is its ``step_order``."""

    id: int
    sub_stage_id: int | None
    name: str
    description: str | None
    order: int
    field_name: str | None
    order_index: int | None
    config: StepConfig


@attrs.frozen
class SubStageNode:
    sub_stage: SubStage
    steps: tuple[Step, ...]


@attrs.frozen
class StageNode:
    stage: Stage
    sub_stages: tuple[SubStageNode, ...]


@attrs.frozen
class WorkflowTree:
    """Stage → sub-stage → step, each level in order (order value, then id).

    Sub-stages and steps whose parent does not exist are not in the tree;
    ``WorkflowApi.problems()`` reports them.
    """

    stages: tuple[StageNode, ...]

    def steps(self) -> tuple[Step, ...]:
        """Every step in the tree, in workflow order."""
        return tuple(step for s in self.stages for sub in s.sub_stages for step in sub.steps)

    def config_problems(self) -> tuple[ConfigProblem, ...]:
        return tuple(p for step in self.steps() for p in step.config.problems)


@attrs.frozen
class FieldMapping:
    """A row of ``workflow_field_mapping``: a post field tied to a stage, sub-stage or step.

    ``sub_stage_id`` is the table's ``substage_id``, ``step_id`` its
    ``workflow_step_id``, ``order`` its ``order_index``, ``required`` its
    ``is_required``.
    """

    id: int
    field_name: str
    stage_id: int | None
    sub_stage_id: int | None
    step_id: int | None
    order: int | None
    field_type: str | None
    table_name: str | None
    column_name: str | None
    display_name: str | None
    required: bool
    default_value: str | None
    validation_rules: Any


@attrs.frozen
class StepAction:
    """The LLM action used at a step of a post, with the action's name and button.

    ``action_field_name`` is ``llm_action.field_name`` (``None`` when the action
    does not exist).
    """

    id: int
    post_id: int | None
    step_id: int | None
    action_id: int | None
    action_field_name: str | None
    button_label: str | None
    button_order: int | None
    input_field: str | None
    output_field: str | None


@attrs.frozen
class StageStatus:
    """Where a post is in a stage: a row of ``post_workflow_stage``."""

    id: int
    post_id: int | None
    stage_id: int | None
    status: str | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None


# -- rows --------------------------------------------------------------------------


def _id(value: Any) -> int | None:
    return None if value is None else int(value)


def _step(row: Mapping[str, Any]) -> Step:
    step_id = int(row["id"])
    return Step(
        id=step_id,
        sub_stage_id=_id(row["sub_stage_id"]),
        name=row["name"],
        description=row["description"],
        order=int(row["step_order"]),
        field_name=row["field_name"],
        order_index=_id(row["order_index"]),
        config=parse_step_config(step_id, row["config"]),
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _field_mapping(row: Mapping[str, Any]) -> FieldMapping:
    return FieldMapping(
        id=int(row["id"]),
        field_name=row["field_name"],
        stage_id=_id(row["stage_id"]),
        sub_stage_id=_id(row["substage_id"]),
        step_id=_id(row["workflow_step_id"]),
        order=_id(row["order_index"]),
        field_type=row["field_type"],
        table_name=row["table_name"],
        column_name=row["column_name"],
        display_name=row["display_name"],
        required=bool(row["is_required"]),
        default_value=row["default_value"],
        validation_rules=_json_value(row["validation_rules"]),
    )


def _step_action(row: Mapping[str, Any]) -> StepAction:
    return StepAction(
        id=int(row["id"]),
        post_id=_id(row["post_id"]),
        step_id=_id(row["step_id"]),
        action_id=_id(row["action_id"]),
        action_field_name=row["action_field_name"],
        button_label=row["button_label"],
        button_order=_id(row["button_order"]),
        input_field=row["input_field"],
        output_field=row["output_field"],
    )


def _timestamp(row: Mapping[str, Any], column: str) -> dt.datetime | None:
    value = row[column]
    if value is None or isinstance(value, dt.datetime):
        return value
    # SQLite keeps timestamps as text.
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise IntegrityProblem(
            f"{STAGE_STATUS} row {row['id']}: {column} holds {value!r}, which is not a "
            "timestamp; nothing was changed"
        ) from None


def _stage_status(row: Mapping[str, Any]) -> StageStatus:
    return StageStatus(
        id=int(row["id"]),
        post_id=_id(row["post_id"]),
        stage_id=_id(row["stage_id"]),
        status=row["status"],
        started_at=_timestamp(row, "started_at"),
        completed_at=_timestamp(row, "completed_at"),
    )


def _require_id(what: str, value: object) -> int:
    # bool is an int to Python, never an id to the database.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{what} must be an integer id, not {value!r}")
    return value


def _require_text(what: str, value: object, limit: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{what} must be a non-empty string, not {value!r}")
    if limit is not None and len(value) > limit:
        raise ConfigurationError(
            f"{what} must be at most {limit} characters (the column is VARCHAR({limit})); "
            f"{value[:20]!r}... has {len(value)}"
        )
    return value


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


_STEP_COLUMNS = (
    "st.id, st.sub_stage_id, st.name, st.description, st.step_order, st.config, "
    "st.field_name, st.order_index"
)
_STEP = f"SELECT {_STEP_COLUMNS} FROM workflow_step_entity AS st"
_TREE_STAGES = (
    "SELECT id, name, description, stage_order FROM workflow_stage_entity ORDER BY stage_order, id"
)
_TREE_SUB_STAGES = (
    "SELECT id, stage_id, name, description, sub_stage_order "
    "FROM workflow_sub_stage_entity ORDER BY sub_stage_order, id"
)
_TREE_STEPS = f"{_STEP} ORDER BY st.step_order, st.id"
#: What ``tree()`` reads, one statement per level, in one transaction.
TREE_STATEMENTS = (_TREE_STAGES, _TREE_SUB_STAGES, _TREE_STEPS)
_MAPPING = (
    "SELECT id, field_name, stage_id, substage_id, order_index, workflow_step_id, field_type, "
    "table_name, column_name, display_name, is_required, default_value, validation_rules "
    "FROM workflow_field_mapping"
)
_MAPPING_ORDER = "ORDER BY CASE WHEN order_index IS NULL THEN 1 ELSE 0 END, order_index, id"
_STATUS = (
    "SELECT pws.id, pws.post_id, pws.stage_id, pws.status, pws.started_at, pws.completed_at "
    "FROM post_workflow_stage AS pws"
)

_Reference = tuple[str, str, str, bool, bool]
# (table, column, referenced table, declared as a foreign key, NULL means "in no tree").
# The undeclared ones are references the CMS and these modules rely on all the same.
REFERENCES: tuple[_Reference, ...] = (
    (STEPS, "sub_stage_id", "workflow_sub_stage_entity", True, True),
    (FIELD_MAPPINGS, "stage_id", "workflow_stage_entity", True, False),
    (FIELD_MAPPINGS, "substage_id", "workflow_sub_stage_entity", True, False),
    (FIELD_MAPPINGS, "workflow_step_id", STEPS, True, False),
    (STEP_ACTIONS, "post_id", "post", True, False),
    (STEP_ACTIONS, "step_id", STEPS, True, False),
    (STEP_ACTIONS, "action_id", "llm_action", True, False),
    (STAGE_STATUS, "stage_id", "workflow_stage_entity", True, False),
    (STAGE_STATUS, "post_id", "post", False, False),
    ("post", "substage_id", "workflow_sub_stage_entity", False, False),
)


def build_tree(
    stages: Iterable[Mapping[str, Any]],
    sub_stages: Iterable[Mapping[str, Any]],
    steps: Iterable[Mapping[str, Any]],
) -> WorkflowTree:
    """The tree from the rows of :data:`TREE_STATEMENTS`, in their order."""
    steps_of: dict[int | None, list[Step]] = {}
    for row in steps:
        step = _step(row)
        steps_of.setdefault(step.sub_stage_id, []).append(step)
    subs_of: dict[int | None, list[SubStageNode]] = {}
    for row in sub_stages:
        sub = SubStage(
            int(row["id"]),
            _id(row["stage_id"]),
            row["name"],
            row["description"],
            int(row["sub_stage_order"]),
        )
        node = SubStageNode(sub, tuple(steps_of.get(sub.id, ())))
        subs_of.setdefault(sub.stage_id, []).append(node)
    return WorkflowTree(
        tuple(
            StageNode(
                Stage(int(r["id"]), r["name"], r["description"], int(r["stage_order"])),
                tuple(subs_of.get(int(r["id"]), ())),
            )
            for r in stages
        )
    )


class WorkflowApi:
    """Steps, step configs, field mappings, step actions and stage status.

    Reach it with ``kernel.api(WorkflowApi)``. Everything is read-only except
    :meth:`set_stage_status`, a guarded write.
    """

    name = NAME

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def __repr__(self) -> str:
        return f"<wfsdk WorkflowApi via {self._gateway!r}>"

    # -- steps and the tree --------------------------------------------------------

    def tree(self) -> WorkflowTree:
        """The whole workflow in three reads, one per level, however many rows there are.

        The three run in one read-only transaction, so the levels come from one
        snapshot of the database and always fit together.
        """
        with self._gateway.reading() as reads:
            stages, sub_stages, steps = (reads.read(sql) for sql in TREE_STATEMENTS)
        return build_tree(stages, sub_stages, steps)

    def steps(self, sub_stage_id: int) -> tuple[Step, ...]:
        """The steps of one sub-stage, in order (``step_order``, then id)."""
        rows = self._gateway.read(
            f"{_STEP} WHERE st.sub_stage_id = :sub ORDER BY st.step_order, st.id",
            {"sub": _require_id("sub_stage_id", sub_stage_id)},
        )
        return tuple(_step(r) for r in rows)

    def stage_steps(self, stage_id: int) -> tuple[Step, ...]:
        """The steps of every sub-stage of one stage, sub-stage by sub-stage, in order."""
        rows = self._gateway.read(
            f"{_STEP} JOIN workflow_sub_stage_entity AS ss ON ss.id = st.sub_stage_id "
            "WHERE ss.stage_id = :stage "
            "ORDER BY ss.sub_stage_order, ss.id, st.step_order, st.id",
            {"stage": _require_id("stage_id", stage_id)},
        )
        return tuple(_step(r) for r in rows)

    def step(self, step_id: int) -> Step | None:
        """The step with this id, or ``None``."""
        rows = self._gateway.read(
            f"{_STEP} WHERE st.id = :id", {"id": _require_id("step_id", step_id)}
        )
        return _step(rows[0]) if rows else None

    # -- field mappings and step actions ----------------------------------------------

    def field_mappings(
        self,
        *,
        stage_id: int | None = None,
        sub_stage_id: int | None = None,
        step_id: int | None = None,
    ) -> tuple[FieldMapping, ...]:
        """Field mappings matching every filter given (none: all), by ``order_index`` then id.

        Mappings without an ``order_index`` come last.
        """
        terms = []
        params: dict[str, int] = {}
        for column, what, value in (
            ("stage_id", "stage_id", stage_id),
            ("substage_id", "sub_stage_id", sub_stage_id),
            ("workflow_step_id", "step_id", step_id),
        ):
            if value is not None:
                params[column] = _require_id(what, value)
                terms.append(f"{column} = :{column}")
        where = f" WHERE {' AND '.join(terms)}" if terms else ""
        rows = self._gateway.read(f"{_MAPPING}{where} {_MAPPING_ORDER}", params)
        return tuple(_field_mapping(r) for r in rows)

    def step_actions(self, post_id: int, step_id: int | None = None) -> tuple[StepAction, ...]:
        """The actions mapped to a post's steps (one step, or all), by step then button order."""
        params = {"post": _require_id("post_id", post_id)}
        step_term = ""
        if step_id is not None:
            params["step"] = _require_id("step_id", step_id)
            step_term = " AND a.step_id = :step"
        rows = self._gateway.read(
            "SELECT a.id, a.post_id, a.step_id, a.action_id, a.input_field, a.output_field, "
            "a.button_label, a.button_order, la.field_name AS action_field_name "
            "FROM post_workflow_step_action AS a "
            "LEFT JOIN llm_action AS la ON la.id = a.action_id "
            f"WHERE a.post_id = :post{step_term} "
            "ORDER BY CASE WHEN a.step_id IS NULL THEN 1 ELSE 0 END, a.step_id, "
            "CASE WHEN a.button_order IS NULL THEN 1 ELSE 0 END, a.button_order, a.id",
            params,
        )
        return tuple(_step_action(r) for r in rows)

    # -- stage status --------------------------------------------------------------

    def stage_status(self, post_id: int, stage_id: int) -> StageStatus | None:
        """The post's status row for the stage, or ``None`` when it has none."""
        rows = self._gateway.read(
            f"{_STATUS} WHERE pws.post_id = :post AND pws.stage_id = :stage ORDER BY pws.id",
            {"post": _require_id("post_id", post_id), "stage": _require_id("stage_id", stage_id)},
        )
        return _stage_status(rows[0]) if rows else None

    def stage_statuses(self, post_id: int) -> tuple[StageStatus, ...]:
        """Every stage status of a post, in workflow order of the stages."""
        rows = self._gateway.read(
            f"{_STATUS} LEFT JOIN workflow_stage_entity AS s ON s.id = pws.stage_id "
            "WHERE pws.post_id = :post "
            "ORDER BY CASE WHEN s.id IS NULL THEN 1 ELSE 0 END, s.stage_order, s.id, "
            "pws.stage_id, pws.id",
            {"post": _require_id("post_id", post_id)},
        )
        return tuple(_stage_status(r) for r in rows)

    def set_stage_status(
        self,
        post_id: int,
        stage_id: int,
        status: str,
        *,
        actor: str,
        reason: str,
        started_at: dt.datetime | None = None,
        completed_at: dt.datetime | None = None,
        dry_run: bool = False,
    ) -> QueryResult:
        """Set a post's status in a stage (and, if given, when it started or completed).

        A guarded write: previewed, voted on by the policy plugins (refused
        unless one allows), checked, verified, logged. ``dry_run`` returns the
        preview and the votes and changes nothing. ``started_at`` and
        ``completed_at`` left ``None`` are not changed; they are naive
        datetimes, as the columns have no time zone.

        Raises :class:`ConfigurationError` for bad arguments before any
        statement runs, and :class:`MissingStageStatusError` when the post has
        no row for the stage: status rows are never created here.
        """
        post_id = _require_id("post_id", post_id)
        stage_id = _require_id("stage_id", stage_id)
        values: dict[str, Any] = {
            "status": _require_text("status", status, STATUS_MAX_LENGTH),
        }
        _require_text("actor", actor)
        _require_text("reason", reason)
        for column, value in (("started_at", started_at), ("completed_at", completed_at)):
            if value is not None:
                values[column] = self._timestamp_parameter(column, value)
        missing = MissingStageStatusError(
            f"post {post_id} has no {STAGE_STATUS} row for stage {stage_id}; nothing was "
            "changed (wfsdk sets the status of an existing row, it never creates one)"
        )
        if self.stage_status(post_id, stage_id) is None:
            raise missing
        result = self._gateway.update(
            STAGE_STATUS,
            {"post_id": post_id, "stage_id": stage_id},
            values,
            actor=actor,
            reason=reason,
            dry_run=dry_run,
        )
        # The row can vanish between the look-up and the preview.
        if result.preview is not None and not result.preview.rows:
            raise missing
        return result

    def _timestamp_parameter(self, column: str, value: object) -> object:
        if not isinstance(value, dt.datetime):
            raise ConfigurationError(f"{column} must be a datetime or None, not {value!r}")
        if value.tzinfo is not None:
            raise ConfigurationError(
                f"{column} must be a naive datetime: {STAGE_STATUS}.{column} is a TIMESTAMP "
                "without time zone, so an aware value would be silently shifted"
            )
        if self._gateway.dialect == "sqlite":
            # The text form SQLAlchemy itself stores in SQLite, so every row reads alike.
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    # -- integrity -----------------------------------------------------------------

    def problems(self) -> tuple[DataProblem, ...]:
        """What is wrong in the workflow data; nothing is fixed.

        Kinds: ``duplicate-order`` (steps of a sub-stage sharing a
        ``step_order``), ``missing-reference`` (a row naming a stage,
        sub-stage, step, post or action that does not exist, declared foreign
        keys and the undeclared references alike), ``bad-config`` (a step
        config that cannot be understood), ``unknown-field``,
        ``undocumented-table`` and ``empty-field`` (field names in configs,
        field mappings, step actions and stage status rows checked against the
        schema contract).
        """
        # One snapshot for every question, so the answers fit together.
        with self._gateway.reading() as reads:
            step_rows = reads.read(_TREE_STEPS)
            dangling = [(ref, reads.read(_dangling_sql(ref))) for ref in REFERENCES]
            mapping_rows = reads.read(f"{_MAPPING} {_MAPPING_ORDER}")
            field_rows = {
                table: reads.read(f"SELECT id, input_field, output_field FROM {table} ORDER BY id")
                for table in (STEP_ACTIONS, STAGE_STATUS)
            }
        found: list[DataProblem] = []
        steps = [_step(r) for r in step_rows]
        names = {s.id: s.name for s in steps}
        for sub_stage_id, order, ids in order_ties(
            (s.sub_stage_id, s.order, s.id) for s in steps if s.sub_stage_id is not None
        ):
            listed = ", ".join(f"{i} ({names[i]})" for i in ids)
            found.append(
                _problem(
                    "duplicate-order",
                    STEPS,
                    ids,
                    f"steps {listed} of sub-stage {sub_stage_id} share step_order {order}; "
                    "they are listed by id",
                )
            )
        for reference, rows in dangling:
            found += _missing_references(reference, rows)
        for step in steps:
            label = f"step {step.id} ({step.name})"
            for p in step.config.problems:
                found.append(
                    _problem("bad-config", STEPS, step.id, f"{label}: config {p.path} {p.message}")
                )
            for where, named_table, field in step.config.references():
                found += self._check_field(
                    STEPS, step.id, f"{label}: config {where}", named_table, field
                )
            if step.field_name is not None:
                found += self._check_field(
                    STEPS, step.id, f"{label}: field_name", CONTENT_TABLE, step.field_name
                )
        for mapping in (_field_mapping(r) for r in mapping_rows):
            found += self._check_field(
                FIELD_MAPPINGS,
                mapping.id,
                f"field mapping {mapping.id} ({mapping.field_name})",
                mapping.table_name,
                mapping.column_name or mapping.field_name,
            )
        for table, rows in field_rows.items():
            for row in rows:
                for column in ("input_field", "output_field"):
                    if row[column] is not None:
                        found += self._check_field(
                            table,
                            int(row["id"]),
                            f"{table} row {row['id']}: {column}",
                            CONTENT_TABLE,
                            row[column],
                        )
        return tuple(found)

    def _check_field(
        self, table: str, row_id: int, where: str, field_table: str | None, field: str | None
    ) -> list[DataProblem]:
        if field_table is None:
            where += f" (no table given, so a {CONTENT_TABLE} field)"
            field_table = CONTENT_TABLE
        if not field:
            return [_problem("empty-field", table, row_id, f"{where} names no field")]
        columns = self._gateway.documented_columns(field_table)
        if columns is None:
            return [
                _problem(
                    "undocumented-table",
                    table,
                    row_id,
                    f"{where} names table {field_table!r}, which the schema contract does not "
                    f"document, so its field {_short(field)} cannot be checked",
                )
            ]
        if field not in columns:
            return [
                _problem(
                    "unknown-field",
                    table,
                    row_id,
                    f"{where} names {_short(field)}, which is not a documented column of "
                    f"{field_table}",
                )
            ]
        return []


def _dangling_sql(reference: _Reference) -> str:
    """The rows breaking a reference of REFERENCES: naming no row (or none, if required)."""
    table, column, target, _declared, required = reference
    # Identifiers come from REFERENCES, never from data or callers.
    dangling = f"t.{column} IS NOT NULL AND r.id IS NULL"
    return (
        f"SELECT t.id, t.{column} AS target FROM {table} AS t "
        f"LEFT JOIN {target} AS r ON r.id = t.{column} "
        f"WHERE {f't.{column} IS NULL OR ({dangling})' if required else dangling} "
        "ORDER BY t.id"
    )


def _missing_references(
    reference: _Reference, rows: Iterable[Mapping[str, Any]]
) -> list[DataProblem]:
    table, column, target, declared, _required = reference
    rule = "a declared foreign key" if declared else "a reference the database does not enforce"
    found = []
    for row in rows:
        if row["target"] is None:
            message = f"{table} row {row['id']} has no {column}; it is in no workflow tree"
        else:
            message = (
                f"{table} row {row['id']}: {column} = {row['target']} names a {target} row "
                f"that does not exist ({rule})"
            )
        found.append(_problem("missing-reference", table, int(row["id"]), message))
    return found


def _problem(kind: str, table: str, row_id: object, message: str) -> DataProblem:
    return DataProblem(kind=kind, table=table, row_id=row_id, message=message, module=NAME)


@hookimpl
def declare_access() -> Declaration:
    return Declaration(
        module=NAME,
        owns=(
            *(OwnedTable(table, read_only=True) for table in READ_ONLY),
            OwnedTable(STAGE_STATUS, read_only=False, writable_columns=STATUS_COLUMNS),
        ),
        reads=frozenset(
            {
                *READ_ONLY,
                STAGE_STATUS,
                "workflow_stage_entity",
                "workflow_sub_stage_entity",
                "llm_action",
                "post",
            }
        ),
        writes={STAGE_STATUS: STATUS_COLUMNS},
    )


@hookimpl
def register_api(gateway: Gateway) -> WorkflowApi:
    return WorkflowApi(gateway)
