"""Which plugin the suite checks: a distribution, one of its entry points, or a bare module."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from importlib import metadata

import attrs
import pluggy

from wfsdk import hookspecs
from wfsdk.plugins import ENTRY_POINT_GROUP

HOOK_NAMES = tuple(
    name for name in vars(hookspecs) if hasattr(getattr(hookspecs, name), "wfsdk_spec")
)
_IMPL_MARK = f"{ENTRY_POINT_GROUP}_impl"
#: Hooks that only observe: they must accept every event.
OBSERVING_HOOKS = ("on_read", "after_write", "after_rollback", "on_schema_mismatch", "on_error")
#: Hooks the kernel calls on the read and write paths, which the suite calls directly.
CALLED_HOOKS = (
    "on_read",
    "before_write",
    "before_commit",
    "after_write",
    "after_rollback",
    "on_schema_mismatch",
    "on_error",
)


def canonical(name: str) -> str:
    return name.lower().replace("_", "-")


@attrs.frozen(repr=False)
class Target:
    """A plugin under test, as named on the command line.

    ``whole_distribution``: every entry point of ``distribution`` is under test
    and the kernel loads it by distribution name, as ``connect(plugins=[...])``
    does in production. Otherwise the named entry points (or a module that no
    entry point names) are handed to the kernel as plugin objects.
    """

    name: str
    distribution: str | None
    entry_points: tuple[metadata.EntryPoint, ...]
    whole_distribution: bool

    @property
    def id(self) -> str:
        return self.name

    @property
    def import_names(self) -> tuple[str, ...]:
        """What to import to load the plugin: entry point values, or the module itself."""
        if self.entry_points:
            return tuple(ep.value for ep in self.entry_points)
        return (self.name,)

    def load(self) -> tuple[object, ...]:
        if self.entry_points:
            return tuple(ep.load() for ep in self.entry_points)
        return (importlib.import_module(self.name),)

    def __repr__(self) -> str:
        return f"<wfsdk contract target {self.name!r}>"

    def __str__(self) -> str:
        if self.whole_distribution:
            return f"distribution {self.distribution!r}"
        if self.distribution:
            return f"plugin {self.name!r} (distribution {self.distribution!r})"
        return f"module {self.name!r}"


def installed_entry_points() -> tuple[metadata.EntryPoint, ...]:
    return tuple(metadata.entry_points(group=ENTRY_POINT_GROUP))


def resolve(name: str) -> Target:
    """A distribution name wins; then an entry point's name, module or value; then a module."""
    points = installed_entry_points()
    wanted = canonical(name)
    by_distribution = tuple(ep for ep in points if ep.dist and canonical(ep.dist.name) == wanted)
    if by_distribution:
        dist = by_distribution[0].dist
        assert dist is not None
        return Target(name, dist.name, by_distribution, whole_distribution=True)
    by_entry_point = tuple(ep for ep in points if name in (ep.name, ep.module, ep.value))
    if by_entry_point:
        dist = by_entry_point[0].dist
        return Target(name, dist.name if dist else None, by_entry_point, whole_distribution=False)
    return Target(name, None, (), whole_distribution=False)


def split_names(values: Sequence[str]) -> list[str]:
    names: list[str] = []
    for value in values:
        names.extend(part.strip() for part in value.split(",") if part.strip())
    return list(dict.fromkeys(names))


def plugin_name(plugin: object, index: int) -> str:
    # The name wfsdk.plugins.load_plugins gives an object passed as extra.
    return getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{index}"


def manager_for(plugins: Sequence[object]) -> pluggy.PluginManager:
    """A plugin manager holding only ``plugins``, validated as the kernel validates them."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    for index, plugin in enumerate(plugins):
        pm.register(plugin, name=plugin_name(plugin, index))
    pm.check_pending()
    return pm


def unmarked_hooks(plugin: object) -> list[str]:
    """Hook-named callables without ``@wfsdk.hookimpl``: pluggy ignores them silently."""
    found = []
    for name in HOOK_NAMES:
        candidate = getattr(plugin, name, None)
        if callable(candidate) and not hasattr(candidate, _IMPL_MARK):
            found.append(name)
    return found


def hook_implementations(pm: pluggy.PluginManager) -> list[tuple[str, pluggy.HookImpl]]:
    """(hook name, implementation) for every hook implemented in ``pm``."""
    return [(name, impl) for name in HOOK_NAMES for impl in getattr(pm.hook, name).get_hookimpls()]
