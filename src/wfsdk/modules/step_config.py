"""Step configs: the ``config`` JSON of ``workflow_step_entity``, parsed into typed parts.

Real configs vary in shape (missing keys, empty ``db_field``, extra keys, JSON
stored as text); :func:`parse_step_config` takes every variant and notes what
it cannot understand as :class:`ConfigProblem` records, never raising, so one
bad config can never break the workflow tree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import attrs


@attrs.frozen
class StepField:
    """One input or output of a step's form: ``config.inputs``/``config.outputs``.

    ``field`` and ``table`` are the config's ``db_field`` and ``db_table``;
    ``None`` where the config leaves them out or empty.
    """

    key: str
    field: str | None
    table: str | None
    label: str | None = None
    type: str | None = None
    required: bool = False


@attrs.frozen
class FieldRef:
    """A field named by the LLM settings (``{"field": ..., "table": ...}``) under ``key``."""

    key: str
    field: str | None
    table: str | None
    description: str | None = None


@attrs.frozen
class LlmSettings:
    """``config.settings.llm``: how the step's LLM call is made and where its result goes.

    ``output`` is ``user_output_mapping`` (what the CMS's editor saves), else
    ``output_mapping``. ``input_mapping`` binds prompt placeholders,
    ``user_input_mapping`` and ``context_mapping`` are the editor's
    ``user_input_mappings`` and ``user_context_mappings``.
    """

    model: str | None
    provider: str | None
    parameters: Mapping[str, Any] = attrs.field(factory=dict)
    output: FieldRef | None = None
    task_prompt: str | None = None
    system_prompt: str | None = None
    input_mapping: tuple[FieldRef, ...] = ()
    user_input_mapping: tuple[FieldRef, ...] = ()
    context_mapping: tuple[FieldRef, ...] = ()
    timeout: int | None = None


@attrs.frozen
class ConfigProblem:
    """A part of a step's ``config`` that could not be understood; ``path`` says where."""

    step_id: int
    path: str
    message: str


@attrs.frozen
class StepConfig:
    """A step's ``config`` JSON, parsed. ``raw`` is the whole decoded object, extra keys included.

    Parts that could not be understood are left out and described in
    ``problems``; the rest is still parsed.
    """

    title: str | None = None
    inputs: tuple[StepField, ...] = ()
    outputs: tuple[StepField, ...] = ()
    llm: LlmSettings | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict)
    problems: tuple[ConfigProblem, ...] = ()

    def references(self) -> Iterator[tuple[str, str | None, str | None]]:
        """``(where, table, field)`` for every field the config names."""
        for section, fields in (("input", self.inputs), ("output", self.outputs)):
            for f in fields:
                yield f"{section} {f.key!r}", f.table, f.field
        llm = self.llm
        if llm is None:
            return
        if llm.output is not None:
            yield "LLM output", llm.output.table, llm.output.field
        for label, refs in (
            ("LLM input", llm.input_mapping),
            ("LLM user input", llm.user_input_mapping),
            ("LLM context", llm.context_mapping),
        ):
            for ref in refs:
                yield f"{label} {ref.key!r}", ref.table, ref.field


# -- step config -------------------------------------------------------------------


def _json_kind(value: object) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean"}
    return kinds.get(type(value), "number" if isinstance(value, int | float) else "value")


class _ConfigReader:
    """Parses what it can and notes what it cannot, so one bad part never hides the rest."""

    def __init__(self, step_id: int) -> None:
        self.step_id = step_id
        self.problems: list[ConfigProblem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.step_id, path or "config", message))

    def decode(self, raw: object) -> dict[str, Any] | None:
        value = raw
        # JSON text (SQLite hands jsonb-like columns back as text), possibly encoded twice
        # (a JSON string whose content is the config).
        for _ in range(3):
            if not isinstance(value, str):
                break
            try:
                value = json.loads(value)
            except ValueError as exc:
                self.fail("", f"is not valid JSON ({exc})")
                return None
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.fail("", f"is a JSON {_json_kind(value)}, not an object")
        return None

    def mapping(self, value: object, path: str) -> dict[str, Any] | None:
        if value is None or isinstance(value, dict):
            return value
        self.fail(path, f"is a JSON {_json_kind(value)}, not an object")
        return None

    def text(self, mapping: Mapping[str, Any], key: str, path: str) -> str | None:
        value = mapping.get(key)
        if value is None or isinstance(value, str):
            return value
        self.fail(f"{path}.{key}", f"is a JSON {_json_kind(value)}, not a string")
        return None

    def name(self, mapping: Mapping[str, Any], key: str, path: str) -> str | None:
        # An empty name means "none chosen" in the CMS's editor.
        return self.text(mapping, key, path) or None

    def fields(self, config: Mapping[str, Any], section: str) -> tuple[StepField, ...]:
        entries = self.mapping(config.get(section), section) or {}
        found = []
        for key, entry in entries.items():
            path = f"{section}.{key}"
            if not isinstance(entry, dict):
                self.fail(path, f"is a JSON {_json_kind(entry)}, not an object")
                continue
            required = entry.get("required", False)
            if not isinstance(required, bool):
                self.fail(f"{path}.required", f"is a JSON {_json_kind(required)}, not a boolean")
                required = False
            found.append(
                StepField(
                    key=key,
                    field=self.name(entry, "db_field", path),
                    table=self.name(entry, "db_table", path),
                    label=self.text(entry, "label", path),
                    type=self.text(entry, "type", path),
                    required=required,
                )
            )
        return tuple(found)

    def ref(self, llm: Mapping[str, Any], key: str, path: str, name: str = "") -> FieldRef | None:
        entry = self.mapping(llm.get(key), f"{path}.{key}")
        if entry is None:
            return None
        where = f"{path}.{key}"
        return FieldRef(
            key=name,
            field=self.name(entry, "field", where),
            table=self.name(entry, "table", where),
            description=self.text(entry, "description", where),
        )

    def refs(self, llm: Mapping[str, Any], key: str, path: str) -> tuple[FieldRef, ...]:
        entries = self.mapping(llm.get(key), f"{path}.{key}") or {}
        found = []
        for name in entries:
            ref = self.ref(entries, name, f"{path}.{key}", name)
            if ref is not None:
                found.append(ref)
        return tuple(found)

    def llm(self, config: Mapping[str, Any]) -> LlmSettings | None:
        settings = self.mapping(config.get("settings"), "settings")
        if not settings:
            return None
        path = "settings.llm"
        llm = self.mapping(settings.get("llm"), path)
        if llm is None:
            return None
        parameters = self.mapping(llm.get("parameters"), f"{path}.parameters") or {}
        user_output = self.ref(llm, "user_output_mapping", path)
        output = self.ref(llm, "output_mapping", path)
        return LlmSettings(
            model=self.text(llm, "model", path),
            provider=self.text(llm, "provider", path),
            parameters=dict(parameters),
            output=user_output or output,
            task_prompt=self.text(llm, "task_prompt", path),
            system_prompt=self.text(llm, "system_prompt", path),
            input_mapping=self.refs(llm, "input_mapping", path),
            user_input_mapping=self.refs(llm, "user_input_mappings", path),
            context_mapping=self.refs(llm, "user_context_mappings", path),
            timeout=self.timeout(llm.get("timeout"), f"{path}.timeout"),
        )

    def timeout(self, value: object, path: str) -> int | None:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        self.fail(path, f"is {value!r}, not a whole number of seconds")
        return None


def parse_step_config(step_id: int, raw: object) -> StepConfig:
    """Parse a step's ``config`` as stored: a JSON object, JSON text, or JSON text in a string.

    Never raises on bad data: whatever cannot be understood is left out and
    described in the result's ``problems``. SQL NULL and JSON ``null`` read as
    an empty config.
    """
    reader = _ConfigReader(step_id)
    config = reader.decode(raw)
    if config is None:
        return StepConfig(problems=tuple(reader.problems))
    return StepConfig(
        title=reader.text(config, "title", "config"),
        inputs=reader.fields(config, "inputs"),
        outputs=reader.fields(config, "outputs"),
        llm=reader.llm(config),
        raw=config,
        problems=tuple(reader.problems),
    )
