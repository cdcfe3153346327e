"""Render the hook reference from :mod:`wfsdk.hookspecs`, so the docs cannot drift.

``python -m wfsdk.hookdoc > docs/hooks.md`` regenerates the page; a test
fails when the committed page differs from what this renders.
"""

from __future__ import annotations

import inspect
import sys

import attrs

from wfsdk import hookspecs, values

HEADER = """# Hook reference

Generated from `src/wfsdk/hookspecs.py` by `python -m wfsdk.hookdoc > docs/hooks.md`;
a test fails when this page and the specs disagree. Implement any subset of these
hooks, with any subset of their arguments, in a module or object decorated with
`@wfsdk.hookimpl`, and expose it through an entry point in the `wfsdk` group.

"""


def _hooks() -> list[tuple[str, object]]:
    # Definition order: the specs are written in the order a write lives through them.
    return [
        (name, function)
        for name, function in vars(hookspecs).items()
        if inspect.isfunction(function) and hasattr(function, "wfsdk_spec")
    ]


def _signature(name: str, function: object) -> str:
    signature = inspect.signature(function)  # type: ignore[arg-type]
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"{name}({params}) -> {signature.return_annotation}"


def _value_classes() -> list[type]:
    return [
        cls
        for _name, cls in inspect.getmembers(values, inspect.isclass)
        if attrs.has(cls) and cls.__module__ == values.__name__
    ]


def render() -> str:
    parts = [HEADER, hookspecs.__doc__ or "", "\n## Hooks\n"]
    for name, function in _hooks():
        parts.append(f"\n### `{_signature(name, function)}`\n\n")
        parts.append(inspect.cleandoc(function.__doc__ or "") + "\n")
    parts.append("\n## Value objects (`wfsdk.values`)\n")
    for cls in _value_classes():
        fields = ", ".join(f"`{field.name}`" for field in attrs.fields(cls))
        parts.append(f"\n### `{cls.__name__}`\n\n{inspect.cleandoc(cls.__doc__ or '')}\n\n")
        parts.append(f"Fields: {fields}.\n")
    return "".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
