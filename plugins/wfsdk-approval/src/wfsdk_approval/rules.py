"""The rules file: which writes an unattended worker may make without asking anyone.

TOML, one ``[[rule]]`` table per rule. The first rule that allows a write
approves it; a write that no rule allows is refused. Keys of a rule:

- ``name`` (text), shown in every decision it makes;
- ``tables`` (required): table names, ``*`` patterns allowed;
- ``operations``: any of ``update``, ``insert``, ``delete`` (default: ``["update"]``);
- ``columns``: the only columns the write may set (default: any);
- ``statuses``: the values ``status`` may be set to; ``values`` does the same for
  any column (``values = { status = ["review", "done"] }``);
- ``max_rows``: at most this many rows in one write;
- ``actors``, ``callers``: who may ask (``actor=`` patterns) and through which
  module (``host``, ``wfsdk.modules.workflow``, ...). Default: anyone.

A file that is missing or cannot be understood refuses every write, with an
error naming the file and the line.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from wfsdk.errors import WfsdkError
from wfsdk.values import Operation, WriteIntent

_KEYS = frozenset(
    {
        "name",
        "tables",
        "operations",
        "columns",
        "statuses",
        "values",
        "max_rows",
        "actors",
        "callers",
    }
)
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]")
_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


class RulesError(WfsdkError):
    """The rules file is missing or malformed; ``path`` and ``line`` say where."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"approval rules {where}: {message}")


@attrs.frozen
class Rule:
    name: str
    line: int
    tables: tuple[str, ...]
    operations: frozenset[Operation]
    columns: frozenset[str] | None
    values: Mapping[str, tuple[Any, ...]]
    max_rows: int | None
    actors: tuple[str, ...] | None
    callers: tuple[str, ...] | None

    def refusal(self, intent: WriteIntent) -> str | None:
        """Why this rule does not allow ``intent``; ``None`` when it does."""
        if not any(fnmatch.fnmatchcase(intent.table, p) for p in self.tables):
            return f"table {intent.table} is not one of {', '.join(self.tables)}"
        if intent.operation not in self.operations:
            allowed = ", ".join(sorted(o.value for o in self.operations))
            return f"{intent.operation.value} is not one of {allowed}"
        if self.actors is not None and not _matches(intent.actor, self.actors):
            return f"actor {intent.actor!r} is not one of {', '.join(self.actors)}"
        if self.callers is not None and not _matches(intent.caller, self.callers):
            return f"caller {intent.caller!r} is not one of {', '.join(self.callers)}"
        if self.max_rows is not None and len(intent.rows) > self.max_rows:
            return f"{len(intent.rows)} rows, at most {self.max_rows} allowed"
        if intent.operation is Operation.DELETE:
            return None
        for row in intent.rows:
            after = row.after or {}
            changed = row.changed_columns() if row.before is not None else tuple(after)
            if self.columns is not None:
                extra = sorted(set(changed) - self.columns)
                if extra:
                    return f"column(s) {', '.join(extra)} may not be changed"
            for column, allowed_values in self.values.items():
                if column in changed and not _one_of(after.get(column), allowed_values):
                    shown = ", ".join(repr(v) for v in allowed_values)
                    return f"{column} = {after.get(column)!r} is not one of {shown}"
        return None


def _matches(value: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def _one_of(value: Any, allowed: Sequence[Any]) -> bool:
    return any(value == a or str(value) == str(a) for a in allowed)


@attrs.frozen
class Rules:
    path: Path
    rules: tuple[Rule, ...]

    def decide(self, intent: WriteIntent) -> tuple[Rule | None, str]:
        """The first rule allowing ``intent`` (with why), or ``None`` and every rule's refusal."""
        refusals = []
        for index, rule in enumerate(self.rules, start=1):
            why = rule.refusal(intent)
            if why is None:
                return rule, f"rule {rule.name!r} allows it"
            refusals.append(f"rule {index} {rule.name!r} (line {rule.line}): {why}")
        if not refusals:
            return None, "the file has no rules, so nothing is allowed"
        return None, "no rule allows it: " + "; ".join(refusals)


_cache: dict[Path, tuple[tuple[int, int], Rules]] = {}


def load_rules(path: str | Path) -> Rules:
    """The rules in ``path``, read again whenever the file changes."""
    path = Path(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise RulesError(path, None, "file not found") from None
    except OSError as exc:
        raise RulesError(path, None, f"cannot read it: {exc.strerror or exc}") from exc
    stamp = (status.st_mtime_ns, status.st_size)
    cached = _cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(path, None, f"cannot read it: {exc}") from exc
    rules = parse_rules(text, path)
    _cache[path] = (stamp, rules)
    return rules


def parse_rules(text: str, path: Path) -> Rules:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = _AT_LINE.search(str(exc))
        line = int(at.group(1)) if at else None
        if line is None and "end of document" in str(exc):
            line = max(1, len(text.splitlines()))
        message = _AT_LINE.sub("", str(exc)).replace("(at end of document)", "").strip()
        raise RulesError(path, line, f"not valid TOML: {message}") from exc
    lines = text.splitlines()
    for key in document:
        if key != "rule":
            raise RulesError(
                path, _key_line(lines, 0, len(lines), key), f"unknown key {key!r} (only [[rule]])"
            )
    raw_rules = document.get("rule", [])
    if not isinstance(raw_rules, list):
        raise RulesError(path, _key_line(lines, 0, len(lines), "rule"), "write rules as [[rule]]")
    headers = [i for i, line in enumerate(lines) if _RULE_HEADER.match(line)]
    rules = []
    for index, raw in enumerate(raw_rules):
        start = headers[index] if index < len(headers) else 0
        end = headers[index + 1] if index + 1 < len(headers) else len(lines)
        rules.append(_rule(raw, index + 1, _Where(path, lines, start, end)))
    return Rules(path, tuple(rules))


@attrs.frozen
class _Where:
    path: Path
    lines: list[str]
    start: int
    end: int

    def error(self, key: str | None, message: str) -> RulesError:
        line = _key_line(self.lines, self.start, self.end, key) if key else self.start + 1
        return RulesError(self.path, line, message)


def _key_line(lines: Sequence[str], start: int, end: int, key: str) -> int:
    pattern = re.compile(rf"^\s*(\[\s*rule\.)?[\"']?{re.escape(key)}[\"']?\s*(=|\])")
    for number in range(start, end):
        if pattern.match(lines[number]):
            return number + 1
    return start + 1


def _rule(raw: Any, index: int, where: _Where) -> Rule:
    if not isinstance(raw, dict):
        raise where.error(None, f"rule {index} is not a table")
    for key in raw:
        if key not in _KEYS:
            raise where.error(
                key, f"unknown key {key!r} in rule {index} (known: {', '.join(sorted(_KEYS))})"
            )
    name = raw.get("name", f"rule {index}")
    if not isinstance(name, str):
        raise where.error("name", "name must be text")
    if "tables" not in raw:
        raise where.error(None, f"rule {index} ({name!r}) has no 'tables'")
    tables = _texts(raw, "tables", where)
    assert tables is not None
    operations = _texts(raw, "operations", where) or ("update",)
    try:
        parsed_operations = frozenset(Operation(o) for o in operations)
    except ValueError:
        raise where.error(
            "operations", f"operations must be among update, insert, delete; got {operations}"
        ) from None
    columns = _texts(raw, "columns", where)
    values: dict[str, tuple[Any, ...]] = {}
    raw_values = raw.get("values", {})
    if not isinstance(raw_values, dict):
        raise where.error("values", "values must map a column to a list of allowed values")
    for column, allowed in raw_values.items():
        if not isinstance(allowed, list) or not allowed:
            raise where.error("values", f"values.{column} must be a non-empty list")
        values[column] = tuple(allowed)
    statuses = _texts(raw, "statuses", where)
    if statuses is not None:
        values["status"] = (*values.get("status", ()), *statuses)
    max_rows = raw.get("max_rows")
    if max_rows is not None and (
        not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1
    ):
        raise where.error("max_rows", f"max_rows must be a positive integer, not {max_rows!r}")
    return Rule(
        name=name,
        line=where.start + 1,
        tables=tables,
        operations=parsed_operations,
        columns=None if columns is None else frozenset(columns),
        values=values,
        max_rows=max_rows,
        actors=_texts(raw, "actors", where),
        callers=_texts(raw, "callers", where),
    )


def _texts(raw: Mapping[str, Any], key: str, where: _Where) -> tuple[str, ...] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise where.error(key, f"{key} must be a non-empty list of text, not {value!r}")
    return tuple(value)
