"""Everything plugins register, collected hook by hook and attributed to its plugin.

The hub calls the ``register_*`` hooks in a fixed order, each plugin with its own ``register``
callback; a plugin whose hook raises (a duplicate, an invalid entry) is failed, and everything
it registered is dropped from every registry at the end.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jarvis.core.api import BUILTIN_SOURCES, Command, Playbook, PluginContext, Source
from jarvis.core.entities import EntityKind, KindIndex
from jarvis.core.plugins import call_each
from jarvis.core.providers import CallSource, LlmBackend, MemoryStore, RequestCommand, WebBlueprint
from jarvis.core.registry import Registry
from jarvis.core.sources import SourceRunner

if TYPE_CHECKING:
    from jarvis.core.hub import Hub

log = logging.getLogger("jarvis.hub")
REQUEST_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,47}$")


def _check_request(name: str, command: RequestCommand) -> None:
    if not REQUEST_NAME.match(name):
        raise ValueError(f"request command name {name!r} must match {REQUEST_NAME.pattern}")
    if not callable(command.handler):
        raise TypeError(f"request command {name!r}: handler is not callable")


def _check_callable(name: str, build: Any) -> None:
    if not callable(build):
        raise TypeError(f"discovery builder for {name!r} is not callable")


def _check_source(name: str, source: Source) -> None:
    if source.interval_s <= 0:
        raise ValueError(f"source {name!r} needs interval_s > 0")


class Registrations:
    """One registry per kind of thing a plugin can register."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.kinds: Registry[EntityKind] = Registry("entity kind", EntityKind)
        self.kind_index = KindIndex()
        self.call_sources: Registry[CallSource] = Registry("call source", CallSource)
        self.sources: Registry[Source] = Registry("source", Source, check=_check_source)
        self.commands: Registry[Command] = Registry("command", Command)
        self.requests: Registry[RequestCommand] = Registry("request command", RequestCommand,
                                                           check=_check_request)
        self.discovery: Registry[Any] = Registry("discovery builder", object, check=_check_callable)
        self.llm_backends: Registry[LlmBackend] = Registry("LLM backend", LlmBackend)
        self.memory_stores: Registry[MemoryStore] = Registry("memory store", MemoryStore)
        self.playbooks: Registry[Playbook] = Registry("playbook", Playbook)
        self.web_routes: Registry[WebBlueprint] = Registry("web blueprint", WebBlueprint)
        for builtin in BUILTIN_SOURCES:
            self.call_sources.add("hub", builtin.name, builtin)

    def all(self) -> list[Registry[Any]]:
        """Every registry (the tool registry lives in the pipeline)."""
        return [self.kinds, self.call_sources, self.sources, self.commands, self.requests, self.discovery,
                self.llm_backends, self.memory_stores, self.playbooks, self.web_routes,
                self.hub.pipeline.registry]

    # -- the register callbacks, one per hook -------------------------------------------------

    def _kind(self, plugin: str) -> Callable[[EntityKind], None]:
        def register(kind: EntityKind) -> None:
            self.kinds.add(plugin, getattr(kind, "name", ""), kind)
            try:
                self.kind_index.add(kind)
            except ValueError:
                self.kinds.remove(kind.name)
                raise
        return register

    def _source(self, plugin: str) -> Callable[[Source], None]:
        def register(source: Source) -> None:
            name = f"{plugin}:{getattr(source, 'name', '')}"
            self.sources.add(plugin, name, source)
            self.hub.runners.append(SourceRunner(self.hub.contexts[plugin], source, self.hub.state))
        return register

    def _command(self, plugin: str) -> Callable[[Command], str]:
        return self.commands.register_for(plugin, lambda c: f"{getattr(c, 'kind', '')}/{getattr(c, 'verb', '')}")

    def _named(self, registry: Registry[Any]) -> Callable[[str], Callable[[str, Any], None]]:
        def for_plugin(plugin: str) -> Callable[[str, Any], None]:
            def register(name: str, item: Any) -> None:
                registry.add(plugin, name, item)
            return register
        return for_plugin

    def _web(self, plugin: str) -> Callable[[WebBlueprint], str]:
        return self.web_routes.register_for(plugin, lambda bp: f"{plugin}.{getattr(bp, 'name', '')}")

    def hooks(self) -> dict[str, Callable[[str], Callable[..., Any]]]:
        """Hook name -> maker of one plugin's ``register`` callback, in the order they run."""
        by_name: Callable[[Any], str] = lambda item: str(getattr(item, "name", ""))  # noqa: E731
        return {
            "register_entity_kinds": self._kind,
            "register_call_sources": lambda p: self.call_sources.register_for(p, by_name),
            "register_tools": self.hub.pipeline.registry.register_for,
            "register_sources": self._source,
            "register_commands": self._command,
            "register_request_commands": lambda p: self.requests.register_for(p, by_name),
            "register_discovery": self._named(self.discovery),
            "register_llm_backends": self._named(self.llm_backends),
            "register_memory_stores": self._named(self.memory_stores),
            "register_playbooks": lambda p: self.playbooks.register_for(p, by_name),
            "register_web_routes": self._web,
        }

    async def collect(self, live: list[str], fail: Callable[[str, str], None]) -> None:
        """Run every ``register_*`` hook for the live plugins; drop what failed plugins left."""
        contexts: dict[str, PluginContext] = self.hub.contexts
        for hook, make in self.hooks().items():
            live = [n for n in live if contexts[n].status != "failed"]

            def arguments(plugin: str, make: Callable[[str], Callable[..., Any]] = make) -> dict[str, Any]:
                return {"register": make(plugin), "ctx": contexts[plugin]}

            outcome = await call_each(self.hub.pm, hook, arguments, only=live)
            for name, exc in outcome.items():
                if exc is not None:
                    fail(name, f"{hook} failed: {type(exc).__name__}: {exc}")
        self.drop({n for n, c in contexts.items() if c.status == "failed"})

    def drop(self, failed: set[str]) -> None:
        """Forget everything failed plugins registered."""
        if not failed:
            return
        for registry in self.all():
            registry.drop(failed)
        self.kind_index.remove(k.name for k in list(self.kind_index) if k.name not in self.kinds)
        self.hub.runners[:] = [r for r in self.hub.runners if r.ctx.name not in failed]
