"""Properties of prompt rendering over random templates and random post rows.

Templates are built from parts (literal text, the three placeholder forms and
role tags), so the expected rendering is known without parsing: every
placeholder is substituted or reported, literal text survives, rendering is
deterministic, and the messages partition the rendered text.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from wfsdk.modules.llm import CONTENT_FIELDS
from wfsdk.prompts import (
    Form,
    Message,
    PromptValueError,
    Role,
    UnknownPlaceholderError,
    placeholders,
    render,
)

LIST_FIELDS = ("tags", "facts", "concepts", "title_order")
UNKNOWN = ("title", "idea", "ideas", "no_such_field")
SCALAR_FIELDS = tuple(f for f in CONTENT_FIELDS if f not in LIST_FIELDS)

# -- the parts a template is built from ---------------------------------------------------


@attrs.frozen
class Lit:
    text: str


@attrs.frozen
class Ref:
    field: str
    form: Form
    text: str


@attrs.frozen
class This:
    pass


@attrs.frozen
class Each:
    field: str
    body: tuple[Lit | Ref | This, ...]


@attrs.frozen
class Tag:
    role: Role
    label: str
    text: str


Part = Lit | Ref | Each | Tag

# Literal text must not spell a token by itself or together with a neighbour.
_TOKENISH = re.compile(r"\{\{|\}\}|\[\s*[A-Za-z]")

characters = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from("{}[]:|#/ \t\n"),
)
literals = st.text(characters, min_size=1, max_size=20)
values = st.one_of(
    st.none(),
    st.text(characters, max_size=30),
    st.sampled_from(["[system] injected", "{{basic_idea}}", "[data:idea_seed]", "{{#each tags}}"]),
)
items = st.one_of(st.none(), st.text(characters, max_size=10), st.integers(), st.booleans())
list_values = st.one_of(
    st.none(),
    st.just(""),
    st.lists(items, max_size=4).map(lambda xs: json.dumps(xs, ensure_ascii=False)),
    st.lists(items, max_size=4),
    st.sampled_from(["not json", '{"a": [1]}', "7"]),
)
rows = st.fixed_dictionaries(
    {},
    optional={
        **{f: values for f in SCALAR_FIELDS},
        **{f: list_values for f in LIST_FIELDS},
    },
)


@st.composite
def refs(draw: st.DrawFn, names: tuple[str, ...]) -> Ref:
    field = draw(st.sampled_from(names))
    if draw(st.booleans()):
        return Ref(field, Form.DATA, f"[data:{field}]")
    pad = draw(st.sampled_from(["", " ", "  "]))
    return Ref(field, Form.FIELD, f"{{{{{pad}{field}{pad}}}}}")


@st.composite
def tags(draw: st.DrawFn) -> Tag:
    role = draw(st.sampled_from(list(Role)))
    spelled = draw(st.sampled_from([role.value, role.value.upper(), role.value.title()]))
    label = draw(st.sampled_from(["", "ROLE", " FORMAT ", "step 2"]))
    pad = draw(st.sampled_from(["", " ", "\t"]))
    suffix = f":{label}" if label else ""
    return Tag(role, label.strip(), f"[{pad}{spelled}{pad}{suffix}]")


any_field = (*SCALAR_FIELDS[:12], *LIST_FIELDS, *UNKNOWN)
each_bodies = st.lists(
    st.one_of(literals.map(Lit), refs(any_field), st.just(This())), max_size=4
).map(tuple)
eaches = st.builds(Each, st.sampled_from((*LIST_FIELDS, *UNKNOWN)), each_bodies)
templates = st.lists(
    st.one_of(literals.map(Lit), refs(any_field), eaches, tags()), max_size=10
).map(tuple)


def _merged(parts: tuple[Any, ...]) -> list[Any]:
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, Lit) and merged and isinstance(merged[-1], Lit):
            merged[-1] = Lit(merged[-1].text + part.text)
        else:
            merged.append(part)
    return merged


def _literals_are_inert(parts: tuple[Any, ...]) -> bool:
    for part in _merged(parts):
        if isinstance(part, Each) and not _literals_are_inert(part.body):
            return False
        if isinstance(part, Lit) and (
            _TOKENISH.search(part.text) or part.text.endswith("{") or part.text.startswith("}")
        ):
            return False
    return True


def spelled(parts: tuple[Any, ...]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Lit | Ref | Tag):
            out.append(part.text)
        elif isinstance(part, This):
            out.append("{{this}}")
        else:
            out.append(f"{{{{#each {part.field}}}}}{spelled(part.body)}{{{{/each}}}}")
    return "".join(out)


inert_templates = templates.filter(_literals_are_inert)

# -- the expected rendering, computed from the parts -----------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _items(value: Any) -> list[Any] | None:
    """The items of a list field's value; None when it is not an array."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) else None


def _references(parts: tuple[Any, ...]) -> list[tuple[str, Form]]:
    found: list[tuple[str, Form]] = []
    for part in parts:
        if isinstance(part, Ref):
            found.append((part.field, part.form))
        elif isinstance(part, Each):
            found.append((part.field, Form.EACH))
            found.extend(_references(part.body))
    return found


def _fill(parts: tuple[Any, ...], row: dict[str, Any], item: Any = None) -> str:
    out = []
    for part in parts:
        if isinstance(part, Lit):
            out.append(part.text)
        elif isinstance(part, Ref):
            out.append(_text(row[part.field]))
        elif isinstance(part, This):
            out.append(_text(item))
        elif isinstance(part, Each):
            each_items = _items(row[part.field])
            assert each_items is not None
            out.extend(_fill(part.body, row, i) for i in each_items)
    return "".join(out)


def _expected_messages(parts: tuple[Any, ...], row: dict[str, Any]) -> list[Message]:
    segments: list[tuple[Role, str, list[Any]]] = [(Role.USER, "", [])]
    for part in parts:
        if isinstance(part, Tag):
            segments.append((part.role, part.label, []))
        else:
            segments[-1][2].append(part)
    messages = []
    for role, label, body in segments:
        content = _fill(tuple(body), row).strip()
        if content:
            messages.append(Message(role, content, label))
    return messages


def _squash(text: str) -> str:
    return "".join(text.split())


# -- properties ---------------------------------------------------------------------------------


@given(inert_templates, rows)
def test_every_placeholder_is_substituted_or_reported(
    parts: tuple[Part, ...], row: dict[str, Any]
) -> None:
    template = spelled(parts)
    references = _references(parts)
    assert [(p.field, p.form) for p in placeholders(template)] == references
    unknown = list(dict.fromkeys(f for f, _ in references if f not in row))
    if unknown:
        try:
            render(template, row)
        except UnknownPlaceholderError as error:
            assert list(error.fields) == unknown
            assert set(error.known_fields) == set(row)
            return
        raise AssertionError("unknown fields were not reported")
    bad_lists = [f for f, form in references if form is Form.EACH and _items(row[f]) is None]
    if bad_lists:
        try:
            render(template, row)
        except PromptValueError as error:
            assert error.field in bad_lists
            return
        raise AssertionError("an #each over a non-array was not reported")
    result = render(template, row)
    expected = "".join(p.text if isinstance(p, Tag) else _fill((p,), row) for p in parts)
    assert result.text == expected
    assert result.fields_used == tuple(dict.fromkeys(f for f, _ in references))


@given(inert_templates, rows)
def test_literal_text_survives_in_order(parts: tuple[Part, ...], row: dict[str, Any]) -> None:
    result = render(spelled(parts), _renderable(parts, row))
    position = 0
    for part in parts:
        if isinstance(part, Lit):
            found = result.text.find(part.text, position)
            assert found >= 0, (part.text, result.text)
            position = found + len(part.text)


def _renderable(parts: tuple[Part, ...], row: dict[str, Any]) -> dict[str, Any]:
    """The row with every named field present and every list field holding an array."""
    named = {f: row.get(f) for f, _ in _references(parts)}
    return {f: None if f in LIST_FIELDS and _items(v) is None else v for f, v in named.items()}


@given(inert_templates, rows)
def test_rendering_is_deterministic(parts: tuple[Part, ...], row: dict[str, Any]) -> None:
    template = spelled(parts)
    outcomes = []
    for _ in range(2):
        try:
            outcomes.append(render(template, dict(row)))
        except (UnknownPlaceholderError, PromptValueError) as error:
            outcomes.append((type(error), str(error)))  # type: ignore[arg-type]
    assert outcomes[0] == outcomes[1]


@given(inert_templates, rows)
def test_role_tags_partition_the_text_into_messages(
    parts: tuple[Part, ...], row: dict[str, Any]
) -> None:
    row = _renderable(parts, row)
    result = render(spelled(parts), row)
    assert list(result.messages) == _expected_messages(parts, row)
    for message in result.messages:
        assert message.content and message.content == message.content.strip()
    without_tags = "".join(_fill((p,), row) for p in parts if not isinstance(p, Tag))
    assert _squash("".join(m.content for m in result.messages)) == _squash(without_tags)
    # Values are never split: a value holding "[system]" stays inside its message.
    assert len(result.messages) <= 1 + sum(isinstance(p, Tag) for p in parts)
