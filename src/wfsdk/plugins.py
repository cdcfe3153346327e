"""Finding, loading and validating plugins.

Built-in modules are registered exactly like installed ones; the only
difference is where the module comes from (this package instead of an entry
point in the ``wfsdk`` group). Loading is all or nothing: the first plugin that
fails to import, names an unknown hook or takes arguments its spec lacks stops
it with a :class:`~wfsdk.errors.PluginError` naming the plugin and its
distribution.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Sequence
from importlib import metadata
from types import ModuleType
from typing import Any

import attrs
import pluggy

from wfsdk import hookspecs
from wfsdk.errors import PluginError

ENTRY_POINT_GROUP = "wfsdk"
BUILTIN_MODULES = ("wfsdk.modules.core", "wfsdk.modules.workflow", "wfsdk.modules.llm")
ENV_ENABLED = "WFSDK_PLUGINS"
ENV_DISABLED = "WFSDK_DISABLE_PLUGINS"


@attrs.frozen
class PluginInfo:
    """What ``wfsdk plugins`` shows about one loaded plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool


@attrs.frozen
class LoadedPlugins:
    manager: pluggy.PluginManager
    plugins: tuple[PluginInfo, ...]

    def info(self, plugin: object) -> PluginInfo:
        name = self.manager.get_name(plugin)
        for info in self.plugins:
            if info.name == name:
                return info
        raise KeyError(name)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def selection_from_env(
    enabled: Sequence[str] | None, disabled: Sequence[str] | None
) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """Arguments win over the environment; an unset ``WFSDK_PLUGINS`` loads every plugin."""
    if enabled is None and ENV_ENABLED in os.environ:
        enabled = _split(os.environ[ENV_ENABLED])
    if disabled is None:
        disabled = _split(os.environ.get(ENV_DISABLED, ""))
    return (None if enabled is None else tuple(enabled)), tuple(disabled)


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-")


def _hook_names(pm: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    callers = pm.get_hookcallers(plugin) or []
    return tuple(sorted(caller.name for caller in callers))


def _register(
    pm: pluggy.PluginManager, plugin: object, name: str, distribution: str | None
) -> None:
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc), plugin=name, distribution=distribution) from exc
    except ValueError as exc:  # pluggy refuses a second plugin under the same name
        raise PluginError(str(exc), plugin=name, distribution=distribution) from exc


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_plugins(
    enabled: Sequence[str] | None = None,
    disabled: Sequence[str] | None = None,
    *,
    extra: Sequence[object] = (),
) -> LoadedPlugins:
    """Load built-ins and installed plugins into a new plugin manager.

    ``enabled``: distribution names of third-party plugins to load (``None``:
    every installed one; empty: none). ``disabled``: plugin or distribution
    names never to load, built-ins included. ``extra``: plugin objects given by
    the host application directly (registered last, under their own names).
    """
    enabled, disabled = selection_from_env(enabled, disabled)
    blocked = {_canonical(name) for name in disabled}
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    infos: list[tuple[object, str, str | None, str | None, bool]] = []

    for module_name in BUILTIN_MODULES:
        short = module_name.rsplit(".", 1)[1]
        if _canonical(short) in blocked or _canonical(module_name) in blocked:
            pm.set_blocked(module_name)
            continue
        module = importlib.import_module(module_name)
        _register(pm, module, module_name, "wfsdk")
        infos.append((module, module_name, "wfsdk", _version("wfsdk"), True))

    wanted = None if enabled is None else {_canonical(name) for name in enabled}
    found: set[str] = set()
    for entry_point in _entry_points():
        dist = entry_point.dist.name if entry_point.dist else None
        dist_key = _canonical(dist or "")
        found.add(dist_key)
        if wanted is not None and dist_key not in wanted:
            continue
        if dist_key in blocked or _canonical(entry_point.name) in blocked:
            pm.set_blocked(entry_point.name)
            continue
        try:
            plugin = entry_point.load()
        except Exception as exc:
            raise PluginError(
                f"failed to import {entry_point.value!r}: {type(exc).__name__}: {exc}",
                plugin=entry_point.name,
                distribution=dist,
            ) from exc
        _register(pm, plugin, entry_point.name, dist)
        version = entry_point.dist.version if entry_point.dist else None
        infos.append((plugin, entry_point.name, dist, version, False))

    if wanted is not None:
        missing = sorted(wanted - found)
        if missing:
            raise PluginError(
                f"not installed (no entry point in group {ENTRY_POINT_GROUP!r}); "
                f"installed plugin distributions: {sorted(found - {''}) or 'none'}",
                plugin=", ".join(missing),
                distribution=None,
            )

    for index, plugin in enumerate(extra):
        name = getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{index}"
        _register(pm, plugin, name, None)
        infos.append((plugin, name, None, None, False))

    _check_pending(pm, infos)
    return LoadedPlugins(
        manager=pm,
        plugins=tuple(
            PluginInfo(name, dist, version, _hook_names(pm, plugin), builtin)
            for plugin, name, dist, version, builtin in infos
        ),
    )


def _check_pending(
    pm: pluggy.PluginManager, infos: list[tuple[object, str, str | None, str | None, bool]]
) -> None:
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        dist = next((d for p, _, d, _, _ in infos if p is exc.plugin), None)
        raise PluginError(str(exc), plugin=name, distribution=dist) from exc


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def call_impl(impl: pluggy.HookImpl, **arguments: Any) -> Any:
    """Call one implementation with just the arguments it asked for.

    The kernel calls voting and error hooks one implementation at a time, so
    that one plugin's exception neither hides another's vote nor masks the
    original error.
    """
    return impl.function(**{name: arguments[name] for name in impl.argnames})


def plugin_module(name: str) -> ModuleType:
    """Import a plugin module by dotted name (used by the contract suite)."""
    return importlib.import_module(name)
