"""Prompt templates of the blog CMS, rendered for one post's fields.

Pure functions: no database, no I/O. The template is read, never changed.

Syntax (the forms found in the CMS's ``llm_action.prompt_template``):

- ``[data:field]`` and ``{{field}}`` (``{{ field }}`` too): the field's value;
- ``{{#each field}}...{{/each}}``: the body once per item of the field's JSON
  array, with ``{{this}}`` standing for the item;
- ``[system]``, ``[user]``, ``[assistant]`` (also ``[system: LABEL]``): start a
  message with that role. Text before the first tag is a user message.

A placeholder naming a field that does not exist raises
:class:`UnknownPlaceholderError`; a field that exists but is NULL renders as
the empty string and is listed in :attr:`RenderedPrompt.empty_fields`.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from wfsdk.errors import WfsdkError

FORMS = "[data:field], {{field}}, {{#each field}}...{{/each}} with {{this}}"

# ASCII only, so that Unicode case folding (long s for s) never turns text into a role tag.
_TOKEN = re.compile(
    r"(?P<data>\[data:(?P<data_field>[^\[\]\n]*)\])"
    r"|(?P<role>\[[ \t]*(?P<role_name>system|user|assistant)[ \t]*(?::(?P<label>[^\[\]\n]*))?\])"
    r"|(?P<mustache>\{\{(?P<inner>.*?)\}\})",
    re.ASCII | re.IGNORECASE,
)
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_EACH = re.compile(r"#each\s+(?P<field>\S+)", re.ASCII)


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class Form(enum.StrEnum):
    """How a placeholder was written."""

    DATA = "data"  # [data:field]
    FIELD = "field"  # {{field}}
    EACH = "each"  # {{#each field}}


@attrs.frozen
class Placeholder:
    """One reference to a field, as written in the template, at ``position`` (an offset)."""

    field: str
    form: Form
    text: str
    position: int


@attrs.frozen
class Message:
    """One chat message. ``label`` is what followed the role in ``[system: LABEL]``."""

    role: Role
    content: str
    label: str = ""


@attrs.frozen
class RenderedPrompt:
    """A template filled in for one post.

    ``text`` is the whole template with every placeholder substituted and the
    role tags left as written; ``messages`` is the same split at the role tags
    (each stripped, empty ones left out). ``fields_used`` lists the fields the
    template names, in order of first use; ``empty_fields`` those of them that
    were NULL or empty, so a caller can refuse to send a prompt missing its input.
    """

    messages: tuple[Message, ...]
    text: str
    fields_used: tuple[str, ...]
    empty_fields: tuple[str, ...] = ()


class PromptError(WfsdkError):
    """A prompt template that cannot be rendered; the template itself is left as it is."""


class TemplateSyntaxError(PromptError):
    """The template uses a form wfsdk does not render (``text`` at ``position``)."""

    def __init__(self, message: str, *, text: str, position: int) -> None:
        self.text = text
        self.position = position
        super().__init__(message)


class UnknownPlaceholderError(PromptError):
    """The template names fields that do not exist.

    ``placeholders`` are the offending references, ``known_fields`` every field
    that does exist.
    """

    def __init__(
        self, message: str, *, placeholders: Sequence[Placeholder], known_fields: Sequence[str]
    ) -> None:
        self.placeholders = tuple(placeholders)
        self.known_fields = tuple(known_fields)
        super().__init__(message)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.field for p in self.placeholders))


class PromptValueError(PromptError):
    """A field's value cannot be used as the template asks (``{{#each}}`` over a non-list)."""

    def __init__(self, message: str, *, field: str) -> None:
        self.field = field
        super().__init__(message)


# -- parsing -----------------------------------------------------------------------------


@attrs.frozen
class _Text:
    text: str


@attrs.frozen
class _Field:
    placeholder: Placeholder


@attrs.frozen
class _This:
    pass


@attrs.frozen
class _Each:
    placeholder: Placeholder
    body: tuple[_Node, ...]


@attrs.frozen
class _RoleTag:
    role: Role
    label: str
    text: str


_Node = _Text | _Field | _This | _Each | _RoleTag


def _syntax(message: str, match: re.Match[str], source: str) -> TemplateSyntaxError:
    return TemplateSyntaxError(
        f"{source}: {message} at offset {match.start()}: {match.group(0)!r}; "
        f"supported forms are {FORMS}",
        text=match.group(0),
        position=match.start(),
    )


def _parse(template: str, source: str) -> tuple[_Node, ...]:
    # Each open {{#each}} pushes a frame; the bottom frame is the template itself.
    frames: list[tuple[re.Match[str] | None, list[_Node]]] = [(None, [])]
    position = 0
    for match in _TOKEN.finditer(template):
        nodes = frames[-1][1]
        if match.start() > position:
            nodes.append(_Text(template[position : match.start()]))
        position = match.end()
        if match.group("data") is not None:
            field = match.group("data_field").strip()
            if not _FIELD.fullmatch(field):
                raise _syntax("a [data:...] placeholder needs a field name", match, source)
            nodes.append(_Field(Placeholder(field, Form.DATA, match.group(0), match.start())))
        elif match.group("role") is not None:
            if len(frames) > 1:
                raise _syntax("a role tag cannot stand inside {{#each}}", match, source)
            label = (match.group("label") or "").strip()
            role = Role(match.group("role_name").lower())
            nodes.append(_RoleTag(role, label, match.group(0)))
        else:
            inner = match.group("inner").strip()
            each = _EACH.fullmatch(inner)
            if each is not None:
                if not _FIELD.fullmatch(each.group("field")):
                    raise _syntax("{{#each}} needs a field name", match, source)
                frames.append((match, []))
            elif inner == "/each":
                if len(frames) == 1:
                    raise _syntax("{{/each}} without an open {{#each}}", match, source)
                opened, body = frames.pop()
                assert opened is not None
                field = _EACH.fullmatch(opened.group("inner").strip())
                assert field is not None
                placeholder = Placeholder(
                    field.group("field"), Form.EACH, opened.group(0), opened.start()
                )
                frames[-1][1].append(_Each(placeholder, tuple(body)))
            elif inner == "this":
                if len(frames) == 1:
                    raise _syntax("{{this}} outside {{#each}}", match, source)
                nodes.append(_This())
            elif _FIELD.fullmatch(inner):
                nodes.append(_Field(Placeholder(inner, Form.FIELD, match.group(0), match.start())))
            else:
                raise _syntax("unsupported placeholder", match, source)
    if len(frames) > 1:
        opened = frames[-1][0]
        assert opened is not None
        raise _syntax("{{#each}} is never closed with {{/each}}", opened, source)
    if position < len(template):
        frames[0][1].append(_Text(template[position:]))
    return tuple(frames[0][1])


def _walk(nodes: Sequence[_Node]) -> Iterator[Placeholder]:
    for node in nodes:
        if isinstance(node, _Field):
            yield node.placeholder
        elif isinstance(node, _Each):
            yield node.placeholder
            yield from _walk(node.body)


def placeholders(template: str, *, source: str = "the template") -> tuple[Placeholder, ...]:
    """Every field reference in ``template``, in order; raises :class:`TemplateSyntaxError`."""
    return tuple(_walk(_parse(template, source)))


def role_tags(template: str, *, source: str = "the template") -> tuple[str, ...]:
    """The role tags of ``template`` as written, in order."""
    return tuple(n.text for n in _parse(template, source) if isinstance(n, _RoleTag))


# -- rendering ---------------------------------------------------------------------------


def as_text(value: Any) -> str:
    """How one value reads inside a prompt: NULL is empty, JSON items read as JSON (``false``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | dict | list | tuple):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _items(field: str, value: Any, source: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        else:
            if isinstance(parsed, list):
                return parsed
    raise PromptValueError(
        f"{source}: {{{{#each {field}}}}} needs a JSON array in field {field!r}, which holds "
        f"{_describe(value)}",
        field=field,
    )


def _describe(value: Any) -> str:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return "text that is not JSON"
        return f"a JSON {type(parsed).__name__}, not an array"
    return f"a {type(value).__name__}"


def _fill(
    nodes: Sequence[_Node], fields: Mapping[str, Any], item: Any, out: list[str], source: str
) -> None:
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Field):
            out.append(as_text(fields[node.placeholder.field]))
        elif isinstance(node, _This):
            out.append(as_text(item))
        elif isinstance(node, _Each):
            field = node.placeholder.field
            for each_item in _items(field, fields[field], source):
                _fill(node.body, fields, each_item, out, source)
        else:
            out.append(node.text)


def render(
    template: str, fields: Mapping[str, Any], *, source: str = "the template"
) -> RenderedPrompt:
    """Fill ``template`` from ``fields`` (field name → value) and split it into messages.

    Values are inserted as they are and never read as template syntax, so a
    post's text cannot add placeholders or role tags. ``source`` names the
    template in error messages.
    """
    nodes = _parse(template, source)
    found = tuple(_walk(nodes))
    unknown = [p for p in found if p.field not in fields]
    if unknown:
        known = tuple(sorted(fields))
        names = ", ".join(f"{p.text} (offset {p.position})" for p in unknown)
        raise UnknownPlaceholderError(
            f"{source} names field(s) that do not exist: {names}; known fields: "
            f"{', '.join(known) or 'none'}",
            placeholders=unknown,
            known_fields=known,
        )
    text: list[str] = []
    segments: list[tuple[Role, str, list[str]]] = [(Role.USER, "", [])]
    for node in nodes:
        if isinstance(node, _RoleTag):
            text.append(node.text)
            segments.append((node.role, node.label, []))
            continue
        part: list[str] = []
        _fill((node,), fields, None, part, source)
        text.extend(part)
        segments[-1][2].extend(part)
    messages = tuple(
        Message(role, content, label)
        for role, label, parts in segments
        if (content := "".join(parts).strip())
    )
    used = tuple(dict.fromkeys(p.field for p in found))
    return RenderedPrompt(
        messages=messages,
        text="".join(text),
        fields_used=used,
        empty_fields=tuple(f for f in used if as_text(fields[f]) == ""),
    )


__all__ = [
    "FORMS",
    "Form",
    "Message",
    "Placeholder",
    "PromptError",
    "PromptValueError",
    "RenderedPrompt",
    "Role",
    "TemplateSyntaxError",
    "UnknownPlaceholderError",
    "as_text",
    "placeholders",
    "render",
    "role_tags",
]
