"""The memory plugin: Jarvis remembers what happened, what it did and what it was told.

It opens a crash-safe tinydb store (``plugins.memory.path``), registers it as the memory store
``tinydb`` and, while it is the one ``hub.memory`` picks, records every hub event, every tool
call (from the ``action`` events) in the audit trail, and a compact cluster snapshot every
``snapshot_interval_s``. Tools: ``memory.recent_events``, ``memory.search``, ``memory.context``,
``memory.actions`` [read]; ``memory.remember``, ``memory.forget`` [write]. See docs/memory.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jarvis.core import Event, MemoryStore, PluginContext, Tool, hookimpl, redact
from jarvis.plugins.memory.config import MemoryConfig
from jarvis.plugins.memory.db import MemoryDB, MemoryLocked
from jarvis.plugins.memory.outline import Key, KindView, kinds_from_schema
from jarvis.plugins.memory.snapshot import compact_snapshot
from jarvis.plugins.memory.store import TinyMemory
from jarvis.plugins.memory.tools import register_memory_tools
from pydantic import BaseModel

STORE = "tinydb"
FIRST_SNAPSHOT_S = 60.0


class World:
    """The current state and the kinds describing it (from ``bridge/schema``), read on the event loop."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self._schema: Any = None
        self._kinds: list[KindView] = []

    def __call__(self) -> tuple[Mapping[Key, Mapping[str, Any]], Sequence[KindView]]:
        """Return a copy of the state and the kinds (cached while bridge/schema stays the same)."""
        state = self.ctx.state()
        schema = state.get(("bridge", "schema"))
        if schema is not self._schema:
            self._schema, self._kinds = schema, kinds_from_schema(schema)
        return state, self._kinds


@dataclass
class Runtime:
    """This hub's memory: the store and its snapshot task."""

    store: TinyMemory
    world: World
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


def _config(ctx: PluginContext) -> MemoryConfig:
    return ctx.config if isinstance(ctx.config, MemoryConfig) else MemoryConfig.model_validate(ctx.config or {})


def _runtime(ctx: PluginContext) -> Runtime | None:
    return ctx.runtime if isinstance(ctx.runtime, Runtime) else None


def _open(config: MemoryConfig, readonly: bool) -> MemoryDB:
    return MemoryDB(config.directory(), commit_interval_s=config.commit_interval_s, retention=config.retentions(),
                    mask=redact, readonly=readonly)


@hookimpl
def register_config(register: Callable[[type[BaseModel]], None]) -> None:
    """Register the config model of ``plugins.memory``."""
    register(MemoryConfig)


@hookimpl
async def on_start(ctx: PluginContext) -> None:
    """Open the memory directory (read-only when another hub holds it)."""
    chosen = ctx.hub.config.hub.memory
    if chosen not in (None, STORE):
        ctx.log.info("memory: hub.memory is %r; the tinydb store stays closed", chosen)
        return
    config = _config(ctx)
    path = config.directory()
    try:
        db = await asyncio.to_thread(_open, config, False)
    except MemoryLocked:
        db = await asyncio.to_thread(_open, config, True)
        ctx.set_status("degraded", f"memory at {path} is held by another process (a running hub?): read-only here")
    except OSError as exc:
        raise RuntimeError(f"plugins.memory.path: cannot use {path} ({exc.strerror or exc}); "
                           "set it to a writable directory") from None
    world = World(ctx)
    store = TinyMemory(db, world=world, budgets=config.budgets(), mask=redact, order=config.context_order)
    runtime = Runtime(store=store, world=world)
    if not db.readonly:
        runtime.tasks.append(asyncio.create_task(_snapshots(ctx, runtime, config.snapshot_interval_s),
                                                 name="memory-snapshots"))
    ctx.runtime = runtime
    ctx.log.info("memory at %s%s", path, " (read-only)" if db.readonly else "")


@hookimpl
def register_memory_stores(register: Callable[[str, MemoryStore], None], ctx: PluginContext) -> None:
    """Register the ``tinydb`` store."""
    runtime = _runtime(ctx)
    if runtime is not None:
        register(STORE, runtime.store)


@hookimpl
def register_tools(register: Callable[[Tool], str], ctx: PluginContext) -> None:
    """Register the memory tools (they answer from whichever store hub.memory picks)."""
    register_memory_tools(register, ctx)


@hookimpl
def on_event(event: Event, ctx: PluginContext) -> Awaitable[None] | None:
    """Record the event; an ``action`` event also goes to the audit trail; ``details.resolves`` resolves."""
    runtime = _runtime(ctx)
    if runtime is None or ctx.memory() is not runtime.store:
        return None
    store = runtime.store
    data = event.to_dict()
    store.record_event(data)
    details = data["details"] or {}
    if event.type == "action" and details.get("tool"):
        store.record_action(action_of(data))
    resolves = details.get("resolves")
    if resolves:
        return _resolve(store, resolves, by=event.source)
    return None


def action_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """Return the audit entry of an ``action`` event (who asked: ``requested_by`` when given, else the source)."""
    details = event.get("details") or {}
    return {
        "tool": details.get("tool"), "status": details.get("status"), "call_id": details.get("call_id"),
        "source": event.get("source"), "requested_by": details.get("requested_by") or event.get("source"),
        "approved_by": details.get("approved_by"), "args": details.get("args") or {},
        "result": details.get("result"), "error": details.get("error"), "duration_ms": details.get("duration_ms"),
        "target": details.get("target"), "risk": details.get("risk"), "event_id": event.get("id"),
        "ts": event.get("ts"),
    }  # fmt: skip


async def _resolve(store: TinyMemory, resolves: Any, by: str) -> None:
    for event_id in resolves if isinstance(resolves, list) else [resolves]:
        if isinstance(event_id, str) and event_id:
            await store.resolve_event(event_id, by=by)


async def take_snapshot(runtime: Runtime) -> str | None:
    """Store one compact snapshot of the current state; return its id (None when there is nothing)."""
    state, kinds = runtime.world()
    snapshot = await asyncio.to_thread(compact_snapshot, state, kinds)
    if not snapshot["counts"]:
        return None
    return runtime.store.db.snapshots.add(snapshot)


async def _snapshots(ctx: PluginContext, runtime: Runtime, interval_s: float) -> None:
    await asyncio.sleep(min(FIRST_SNAPSHOT_S, interval_s))
    while True:
        try:
            await take_snapshot(runtime)
        except Exception as exc:  # noqa: BLE001 - a bad snapshot must not stop the next ones
            ctx.log.warning("memory: snapshot failed: %s", exc)
        await asyncio.sleep(interval_s)


@hookimpl
async def on_stop(ctx: PluginContext) -> None:
    """Stop the snapshots and close the store (it commits everything first)."""
    runtime = _runtime(ctx)
    if runtime is None:
        return
    for task in runtime.tasks:
        task.cancel()
    for task in runtime.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await asyncio.to_thread(runtime.store.db.close)
    ctx.runtime = None
