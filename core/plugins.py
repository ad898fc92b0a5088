"""Loading plugins: in-tree defaults and ``jarvis.plugins`` entry points, the same way."""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy
from jarvis.core import hookspecs

log = logging.getLogger("jarvis.plugins")

ENTRY_POINT_GROUP = "jarvis.plugins"
# Registered with pm.register(module, name), exactly as an entry point's module would be.
DEFAULT_PLUGINS: dict[str, str] = {
    "proxmox": "jarvis.plugins.proxmox.plugin",
    "ssh": "jarvis.plugins.ssh.plugin",
    "docker": "jarvis.plugins.docker.plugin",
    "network": "jarvis.plugins.network.plugin",
    "memory": "jarvis.plugins.memory.plugin",
}
LOAD_ENV = "JARVIS_LOAD_PLUGINS"
ENTRY_POINTS_ENV = "JARVIS_ENTRY_POINTS"
"""Set to ``off`` to load no installed (entry-point) plugins: the test suite does."""


@dataclass(slots=True)
class LoadResult:
    """What was loaded, and what failed to import (name -> reason)."""

    pm: pluggy.PluginManager
    versions: dict[str, str]
    failed: dict[str, str]
    skipped: set[str] = field(default_factory=set)  # known, but left out by ``only``/JARVIS_LOAD_PLUGINS


def _wanted(only: Iterable[str] | None) -> set[str] | None:
    if only is not None:
        return set(only)
    env = os.environ.get(LOAD_ENV)
    if env is None:
        return None
    return {name.strip() for name in env.split(",") if name.strip()}


def load_plugins(
    only: Iterable[str] | None = None,
    *,
    entrypoints: bool = True,
    extra: dict[str, Any] | None = None,
) -> LoadResult:
    """Build the plugin manager: defaults, then entry points, then ``extra`` objects.

    ``only`` (or ``JARVIS_LOAD_PLUGINS=a,b``) restricts which names load; a plugin that fails
    to import is reported in ``failed`` and the rest still load.
    """
    pm = pluggy.PluginManager("jarvis")
    pm.add_hookspecs(hookspecs)
    wanted = _wanted(only)
    versions: dict[str, str] = {}
    failed: dict[str, str] = {}
    skipped: set[str] = set()

    def add(name: str, load: Callable[[], Any], version: str) -> None:
        if wanted is not None and name not in wanted:
            skipped.add(name)
            return
        if pm.has_plugin(name):
            failed[name] = f"a plugin named {name!r} is already loaded; this one was skipped"
            return
        try:
            plugin = load()
        except Exception as error:  # noqa: BLE001 - a broken plugin must not stop the hub
            failed[name] = f"import failed: {type(error).__name__}: {error}"
            log.error("plugin %s failed to load: %s", name, error)
            return
        try:
            pm.register(plugin, name)
        except Exception as error:  # noqa: BLE001 - e.g. a hook implementation naming an unknown argument
            failed[name] = f"invalid plugin: {type(error).__name__}: {error}"
            log.error("plugin %s is invalid: %s", name, error)
            return
        # pm.check_pending() would raise for the whole hub; check this plugin alone instead.
        unknown = sorted(
            caller.name
            for caller in pm.get_hookcallers(plugin) or []
            if not caller.has_spec() and not all(impl.optionalhook for impl in caller.get_hookimpls())
        )
        if unknown:
            pm.unregister(plugin, name)
            failed[name] = (
                f"implements unknown hook(s) {', '.join(unknown)} (misspelled?); "
                f"known hooks: {', '.join(hook_names())}"
            )
            log.error("plugin %s is invalid: %s", name, failed[name])
            return
        versions[name] = version

    from jarvis.core import __version__

    def importer(module: str) -> Callable[[], Any]:
        return lambda: importlib.import_module(module)

    for name, module in DEFAULT_PLUGINS.items():
        add(name, importer(module), __version__)
    if entrypoints and os.environ.get(ENTRY_POINTS_ENV, "on").lower() not in ("off", "0", "no", "false"):
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            version = ep.dist.version if ep.dist is not None else "?"
            add(ep.name, ep.load, version)

    def given(obj: Any) -> Callable[[], Any]:
        return lambda: obj

    for name, obj in (extra or {}).items():
        add(name, given(obj), getattr(obj, "__version__", "0"))
    pm.check_pending()  # never raises now: every plugin with an unknown hook was unregistered above
    return LoadResult(pm, versions, failed, skipped)


async def await_me_maybe(value: Any) -> Any:
    """Await ``value`` when a hook implementation was async; every hook result passes here."""
    if inspect.isawaitable(value):
        return await value
    return value


async def call_each(
    pm: pluggy.PluginManager,
    hook_name: str,
    kwargs_for: Callable[[str], dict[str, Any]],
    only: Iterable[str] | None = None,
) -> dict[str, BaseException | None]:
    """Call one hook plugin by plugin, so the core knows who registered what.

    ``kwargs_for(plugin_name)`` gives that plugin's arguments (its own ``register`` and
    ``ctx``); each implementation receives only the arguments it names (opt-in arguments).
    Returns plugin name -> the exception it raised, or None.
    """
    outcome: dict[str, BaseException | None] = {}
    allowed = set(only) if only is not None else None
    caller = getattr(pm.hook, hook_name)
    for impl in caller.get_hookimpls():  # registration (load) order; pluggy itself calls LIFO
        name = pm.get_name(impl.plugin) or "?"
        if allowed is not None and name not in allowed:
            continue
        available = kwargs_for(name)
        try:
            await await_me_maybe(impl.function(**{a: available[a] for a in impl.argnames}))
            outcome[name] = None
        except Exception as error:  # noqa: BLE001 - attribute the failure to its plugin
            outcome[name] = error
    return outcome


def hook_names() -> list[str]:
    """Return the name of every hook a plugin may implement."""
    return sorted(n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, "jarvis_spec"))
