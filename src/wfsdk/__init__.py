"""wfsdk: the one safe door to the blog CMS database.

``wfsdk.connect(...)`` returns a :class:`~wfsdk.kernel.Kernel`; plugins
implement the hooks in :mod:`wfsdk.hookspecs` with ``@wfsdk.hookimpl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

hookimpl = pluggy.HookimplMarker("wfsdk")

if TYPE_CHECKING:
    from wfsdk.errors import WfsdkError
    from wfsdk.kernel import Kernel, QueryResult, connect
    from wfsdk.values import Declaration, OwnedTable, Vote

# Loaded on first use so that importing a plugin (which imports ``hookimpl``
# from here) does not pull in the engine, the guard and their dependencies.
_LAZY = {
    "WfsdkError": "wfsdk.errors",
    "Kernel": "wfsdk.kernel",
    "QueryResult": "wfsdk.kernel",
    "connect": "wfsdk.kernel",
    "Declaration": "wfsdk.values",
    "OwnedTable": "wfsdk.values",
    "Vote": "wfsdk.values",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wfsdk' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "Declaration",
    "Kernel",
    "OwnedTable",
    "QueryResult",
    "Vote",
    "WfsdkError",
    "connect",
    "hookimpl",
]
