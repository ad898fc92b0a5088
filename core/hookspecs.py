"""The hooks a Jarvis plugin may implement.

Every ``register_*`` hook receives a ``register`` callback instead of returning a list: the core
knows which plugin called it, so it attributes, validates and de-duplicates what is registered.
An implementation may accept fewer arguments than the spec (pluggy's opt-in arguments), and may
be ``async``; the core awaits every result through one helper. No hook uses ``firstresult``.

``ctx`` is the calling plugin's :class:`jarvis.core.PluginContext`: its validated config block,
its logger, and the hub's public API (state, events, tools).
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("jarvis")


@hookspec
def register_config(register: Any) -> None:
    """Register the pydantic model of this plugin's config block.

    Must be synchronous (``jarvis check-config`` runs it without an event loop). Call
    ``register(Model)`` once. The block ``plugins.<name>`` of config.yaml is validated
    against it at start; errors name the key path. Without a model the block must be empty.
    """


@hookspec
def register_tools(register: Any, ctx: Any) -> None:
    """Register tools: ``register(Tool(...))`` for each.

    The core prefixes each name with the plugin name (``guest_start`` from ``proxmox`` becomes
    ``proxmox.guest_start``), rejects duplicates and exports the argument schema as JSON Schema.
    """


@hookspec
def register_sources(register: Any, ctx: Any) -> None:
    """Register state sources: ``register(Source(name, interval_s, poll))``.

    The hub runs each source on its own schedule. ``poll()`` returns a :class:`Snapshot` of
    typed entities; only the MQTT bridge turns them into messages. Raise ``UpdateFailed`` to
    mark the plugin ``degraded`` (the last known state is kept).
    """


@hookspec
def register_commands(register: Any, ctx: Any) -> None:
    """Register command topics on things: ``register(Command(kind, verb, to_call))``.

    ``<base>/<kind>/<id...>/<verb>`` messages are turned into a tool call by ``to_call(ids,
    payload)`` and run through the same pipeline as a tool request.
    """


@hookspec
def register_discovery(register: Any, ctx: Any) -> None:
    """Register Home Assistant discovery builders: ``register(kind, build)``.

    ``build(entity)`` returns the device-based discovery payload for one entity of ``kind``
    (``node``, ``guest``, ``storage``, ``docker``, ``host``...), or None to skip it.
    """


@hookspec
def register_llm_backends(register: Any, ctx: Any) -> None:
    """Register LLM backends: ``register(name, backend)``; config picks one per route by name."""


@hookspec
def register_memory_stores(register: Any, ctx: Any) -> None:
    """Register memory stores: ``register(name, store)``; config picks exactly one by name."""


@hookspec
def register_playbooks(register: Any, ctx: Any) -> None:
    """Register remediation playbooks: ``register(Playbook(...))`` for each."""


@hookspec
def register_web_routes(register: Any, ctx: Any) -> None:
    """Register dashboard routes: ``register(blueprint)`` with a Quart blueprint."""


@hookspec
def on_start(ctx: Any) -> None:
    """Start the plugin's clients (may be async). An exception marks the plugin ``failed``."""


@hookspec
def on_stop(ctx: Any) -> None:
    """Close the plugin's clients and connections (may be async). Called in reverse order."""


@hookspec
def on_event(event: Any, ctx: Any) -> None:
    """Observe every hub event (an :class:`Event`) after it is published; may be async."""
