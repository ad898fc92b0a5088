"""The hooks a Jarvis plugin may implement.

Every ``register_*`` hook receives a ``register`` callback instead of returning a list: the core
knows which plugin called it, so it attributes, validates and de-duplicates what is registered
(a duplicate name fails the plugin with a reason naming both plugins). An implementation may
accept fewer arguments than the spec (pluggy's opt-in arguments), and may be ``async``; the core
awaits every result through one helper. No hook uses ``firstresult``.

``ctx`` is the calling plugin's :class:`jarvis.core.PluginContext`: its validated config block,
its logger, and the hub's public API (state, events, tools). The signatures are typed: with
``jarvis.core.mypy_plugin`` in mypy's ``plugins``, mypy checks every ``@hookimpl`` against them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from jarvis.core.api import Command, Event, Playbook, PluginContext, Source, Tool
    from jarvis.core.entities import EntityKind
    from jarvis.core.providers import (
        CallSource,
        DiscoveryBuilder,
        LlmBackend,
        MemoryStore,
        RequestCommand,
        WebBlueprint,
    )
    from jarvis.core.state import Change
    from pydantic import BaseModel

hookspec = pluggy.HookspecMarker("jarvis")
Done = None | Awaitable[None]
"""What a hook returns: nothing, or an awaitable when the implementation is async."""


@hookspec
def register_config(register: Callable[[type[BaseModel]], None]) -> None:
    """Register the pydantic model of this plugin's config block.

    Must be synchronous (``jarvis check-config`` runs it without an event loop). Call
    ``register(Model)`` once. The block ``plugins.<name>`` of config.yaml is validated
    against it at start; errors name the key path. Without a model the block must be empty.
    """


@hookspec
def register_entity_kinds(register: Callable[[EntityKind], None], ctx: PluginContext) -> Done:
    """Describe each kind of thing this plugin publishes: ``register(EntityKind(...))``.

    The description (fields with type, unit, meaning, Home Assistant classes, deadbands, and
    the commands the kind takes) is published on ``<base>/bridge/schema`` and drives the
    publisher's deadbands, Home Assistant discovery, the dashboard and the assistant's context.
    A kind name or topic pattern another plugin already registered fails this plugin.
    """


@hookspec
def register_call_sources(register: Callable[[CallSource], None], ctx: PluginContext) -> Done:
    """Register a new kind of caller of the tool pipeline: ``register(CallSource(...))``.

    E.g. an MCP server registers ``mcp`` (``human=False``: it cannot answer confirmations).
    The built-in sources (mqtt, cli, web, llm, monitor) cannot be registered again.
    """


@hookspec
def register_tools(register: Callable[[Tool], str], ctx: PluginContext) -> Done:
    """Register tools: ``register(Tool(...))`` for each.

    The core prefixes each name with the plugin name (``guest_start`` from ``proxmox`` becomes
    ``proxmox.guest_start``), rejects duplicates and exports the argument schema as JSON Schema.
    """


@hookspec
def register_sources(register: Callable[[Source], None], ctx: PluginContext) -> Done:
    """Register state sources: ``register(Source(name, interval_s, poll))``.

    The hub runs each source on its own schedule. ``poll()`` returns a :class:`Snapshot` of
    typed entities; only the MQTT bridge turns them into messages. Raise ``UpdateFailed`` to
    mark the plugin ``degraded`` (the last known state is kept).
    """


@hookspec
def register_commands(register: Callable[[Command], None], ctx: PluginContext) -> Done:
    """Register command topics on things: ``register(Command(kind, verb, to_call))``.

    ``<base>/<kind>/<id...>/<verb>`` messages are turned into a tool call by ``to_call(ids,
    payload)`` and run through the same pipeline as a tool request.
    """


@hookspec
def register_request_commands(register: Callable[[RequestCommand], None], ctx: PluginContext) -> Done:
    """Register requests on ``<base>/bridge/request/<name>``: ``register(RequestCommand(...))``.

    The handler gets the request's ``args`` and the :class:`Caller`; it returns a reply, or an
    async iterator of messages that go to the response topic in order (a streaming reply).
    Names are global: a name the core or another plugin already has fails this plugin.
    """


@hookspec
def register_discovery(register: Callable[[str, DiscoveryBuilder], None], ctx: PluginContext) -> Done:
    """Register extra Home Assistant components for a kind: ``register(kind, build)``.

    Discovery is built from the entity kinds' descriptions; ``build(key, payload)`` adds
    components the description cannot express, or returns None. One builder per kind.
    """


@hookspec
def register_llm_backends(register: Callable[[str, LlmBackend], None], ctx: PluginContext) -> Done:
    """Register LLM backends: ``register(name, backend)``; config picks them by name."""


@hookspec
def register_memory_stores(register: Callable[[str, MemoryStore], None], ctx: PluginContext) -> Done:
    """Register memory stores: ``register(name, store)``; config picks exactly one by name."""


@hookspec
def register_playbooks(register: Callable[[Playbook], None], ctx: PluginContext) -> Done:
    """Register remediation playbooks: ``register(Playbook(...))`` for each."""


@hookspec
def register_web_routes(register: Callable[[WebBlueprint], None], ctx: PluginContext) -> Done:
    """Register dashboard routes: ``register(blueprint)``, mounted under ``/plugins/<plugin>/``."""


@hookspec
def on_start(ctx: PluginContext) -> Done:
    """Start the plugin's clients (may be async). An exception marks the plugin ``failed``."""


@hookspec
def on_stop(ctx: PluginContext) -> Done:
    """Close the plugin's clients and connections (may be async). Called in reverse order."""


@hookspec
def on_event(event: Event, ctx: PluginContext) -> Done:
    """Observe every hub event (an :class:`Event`) after it is published; may be async."""


@hookspec
def on_state_changed(changes: Sequence[Change], ctx: PluginContext) -> Done:
    """Observe state changes after the store applied them: ``(key, data)`` pairs, ``data`` None
    when the thing vanished. Called once per store update with all its changes; keep a sync
    implementation cheap (a big cluster changes thousands of entities per poll); an async one
    runs in the background.
    """
