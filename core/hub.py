"""The hub: loads plugins, runs their sources, owns state, events and the tool pipeline.

It knows nothing of MQTT; ``jarvis.mqtt`` attaches to it (``state.subscribe`` and
``events_subscribe``) and calls ``request``, ``call_tool`` and ``handle_command``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import psutil
from jarvis.core import __version__
from jarvis.core.api import Event, PluginContext, ToolError
from jarvis.core.auth import Authorizer
from jarvis.core.config import Config, ConfigError, validate_plugin_block
from jarvis.core.core_kinds import CORE_KINDS
from jarvis.core.memory import ConfirmationKeeper, choose_store, memory_health
from jarvis.core.plugins import call_each, load_plugins
from jarvis.core.providers import BrokerSessions, Caller, MemoryStore, ReplyStream
from jarvis.core.redact import redact, redact_value
from jarvis.core.registrations import Registrations
from jarvis.core.requests import builtin_requests, handle_request
from jarvis.core.runner import supervised
from jarvis.core.sources import SourceRunner
from jarvis.core.state import Change, StateStore
from jarvis.core.tools import Pipeline, Reply, error

log = logging.getLogger("jarvis.hub")
EventListener = Callable[[Event], None]


class Hub:
    """A running Jarvis: plugins, sources, state, tools and events."""

    def __init__(
        self,
        config: Config,
        *,
        plugins: Iterable[str] | None = None,
        entrypoints: bool = True,
        extra_plugins: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.auth = Authorizer(config)
        self.broker_sessions: BrokerSessions | None = None  # set by the MQTT bridge
        self.state = StateStore()
        self.pipeline = Pipeline(self)
        self.autonomy: str = config.safety.autonomy
        self.contexts: dict[str, PluginContext] = {}
        self.runners: list[SourceRunner] = []
        self.registrations = Registrations(self)
        for kind in CORE_KINDS:
            self.registrations.kinds.add("hub", kind.name, kind)
            self.registrations.kind_index.add(kind)
        for request in builtin_requests(self):
            self.registrations.requests.add("hub", request.name, request)
        self.health_extras: list[Callable[[], dict[str, Any]]] = []
        self._event_listeners: list[EventListener] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._state_observers: list[tuple[str, Callable[..., Any], tuple[str, ...]]] = []
        self._started_at = time.time()
        loaded = load_plugins(plugins, entrypoints=entrypoints, extra=extra_plugins)
        self.pm = loaded.pm
        self.versions = loaded.versions
        self.load_failures = loaded.failed
        self.skipped_plugins = loaded.skipped
        self._started: set[str] = set()
        self.memory_name: str | None = None  # the memory store in use (hub.memory), once started
        self.memory_problem: str | None = None
        self.state.subscribe(self._state_changed)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, *, run_sources: bool = True) -> None:
        """Validate plugin config, start every plugin and its sources; failures are isolated.

        ``on_start`` runs before the ``register_*`` hooks, so a plugin may build its clients
        first; a plugin whose ``on_start`` fails registers nothing and is marked ``failed``.
        """
        self.validate_config()
        ctx_args = lambda name: {"ctx": self.contexts[name]}  # noqa: E731
        for name, exc in (await call_each(self.pm, "on_start", ctx_args, only=self.contexts)).items():
            if exc is not None:
                self._fail(name, f"start failed: {type(exc).__name__}: {exc}")
        # Everything not failed by now gets on_stop, even if a register_* hook fails below.
        self._started = set(self._live())
        await self.registrations.collect(self._live(), self._fail)
        self._attach_memory()
        self._state_observers = self._observers("on_state_changed")
        if run_sources:
            for runner in self.runners:
                runner.start()
            self._tasks.append(asyncio.create_task(supervised(self._housekeeping, "housekeeping"),
                                                   name="housekeeping"))
        self.publish_info()
        for problem in self.auth.problems():
            log.error("users: %s", problem)
        log.info("hub started with plugins: %s", ", ".join(self.contexts) or "none")

    def _attach_memory(self) -> None:
        """Pick the memory store (``hub.memory``) and restore what the hub keeps there."""
        self.memory_name, self.memory_problem = choose_store(self.registrations.memory_stores, self.config.hub.memory)
        if self.memory_problem:
            log.error("%s", self.memory_problem)
        store = self.memory()
        if store is not None:
            keeper = ConfirmationKeeper(self, store)
            keeper.restore()
            self.state.subscribe(keeper.changed)

    def memory(self) -> MemoryStore | None:
        """Return the memory store config chose, or None (none registered, or ``hub.memory: off``)."""
        return self.registrations.memory_stores.get(self.memory_name) if self.memory_name else None

    def validate_config(self) -> None:
        """Validate every enabled plugin's block; raise ConfigError listing each bad key."""
        if self.contexts:
            return
        self._check_plugin_names()
        models: dict[str, Any] = {}
        for impl in self.pm.hook.register_config.get_hookimpls():
            name = self.pm.get_name(impl.plugin) or "?"
            try:
                impl.function(register=lambda model, name=name: models.__setitem__(name, model))
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the hub
                self.load_failures[name] = redact(f"register_config failed: {type(exc).__name__}: {exc}")
                log.error("plugin %s failed: %s", name, self.load_failures[name])
        problems: list[str] = []
        contexts: dict[str, PluginContext] = {}
        for name in (n for n in self.versions if self.config.plugin_enabled(n) and n not in self.load_failures):
            try:
                cfg = validate_plugin_block(models.get(name), name, self.config.plugin_block(name),
                                            self.config.env_paths)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            contexts[name] = PluginContext(
                name=name, hub=self, config=cfg, log=logging.getLogger(f"jarvis.plugins.{name}")
            )
        if problems:
            raise ConfigError(problems)
        self.contexts = contexts

    async def stop(self) -> None:
        """Stop sources, then every plugin in reverse order."""
        for runner in self.runners:
            await runner.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Events emitted just before the stop still reach on_event (memory records them) first.
        if self._background:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await asyncio.gather(*list(self._background), return_exceptions=True)
        # A plugin that started and failed later (e.g. in register_tools) still closes its clients.
        live = [n for n in self.contexts if n in self._started]
        for name in reversed(live):
            outcome = await call_each(self.pm, "on_stop", lambda n: {"ctx": self.contexts[n]}, only=[name])
            if outcome.get(name) is not None:
                log.warning("plugin %s failed to stop cleanly: %s", name, outcome[name])

    def _check_plugin_names(self) -> None:
        known = set(self.versions) | set(self.load_failures) | self.skipped_plugins
        unknown = [n for n in self.config.plugins if n not in known]
        if unknown:
            installed = ", ".join(sorted(self.versions)) or "none"
            raise ConfigError([
                f"plugins.{n}: no plugin named {n!r} is loaded (installed: {installed}); "
                f"install it or remove the block" for n in unknown
            ])

    def _fail(self, name: str, reason: str) -> None:
        reason = redact(reason)
        log.error("plugin %s failed: %s", name, reason)
        self.contexts[name].set_status("failed", reason)

    def _live(self) -> list[str]:
        """Names of the enabled plugins that have not failed."""
        return [n for n, c in self.contexts.items() if c.status != "failed"]

    # -- running -----------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        interval = self.config.mqtt.health_interval_s
        last_health = 0.0
        while True:
            self.pipeline.expire_confirmations()
            if time.monotonic() - last_health >= interval:
                last_health = time.monotonic()
                self.state.put("hub", ("bridge", "health"), self.health())
            await asyncio.sleep(min(1.0, interval))

    async def refresh(self) -> dict[str, bool]:
        """Poll every source once now; return owner -> success."""
        runners = [r for r in self.runners if r.ctx.status != "failed"]
        results = await asyncio.gather(*(r.run_once() for r in runners))
        self.state.put("hub", ("bridge", "health"), self.health())
        return {r.owner: ok for r, ok in zip(runners, results, strict=True)}

    def wake_sources(self, plugin: str, *names: str) -> None:
        """Ask one plugin's sources (all, or the named ones) to poll again soon."""
        unknown = set(names) - {r.source.name for r in self.runners if r.ctx.name == plugin}
        if unknown:
            raise ValueError(f"plugin {plugin!r} has no source named {', '.join(sorted(unknown))}")
        for runner in self.runners:
            if runner.ctx.name == plugin and (not names or runner.source.name in names):
                runner.wake()

    async def call_tool(
        self, name: Any, args: Any, source: str, *, confirmed: bool = False, caller: Caller | None = None
    ) -> Reply:
        """Run a tool through the full pipeline and return the contract reply."""
        return await self.pipeline.call(name, args, source, confirmed=confirmed, caller=caller)

    async def request(
        self, command: str, args: dict[str, Any], caller: Caller, *, permission: str | None = None
    ) -> Reply | ReplyStream:
        """Answer a request (``tool/<name>``, ``confirm``, a plugin's...) as ``caller``: a reply or a stream."""
        return await handle_request(self, command, args, caller, permission=permission)

    async def handle_command(
        self, kind: str, ids: tuple[str, ...], verb: str, payload: Any, source: str, *, caller: Caller | None = None
    ) -> Reply:
        """Map a command on a thing (``guest/100/action``) to its tool and run it as ``caller``."""
        if caller is not None:
            refusal = self.auth.check(caller, "commands")
            if refusal is not None:
                log.warning("refused a command on %s/.../%s: %s", kind, verb, refusal)
                return error("forbidden", refusal)
        registry = self.registrations.commands
        command = registry.get(f"{kind}/{verb}")
        if command is None:
            return error("unknown_command", f"no command {kind}/<id>/{verb} is registered")
        plugin = registry.owner[f"{kind}/{verb}"]
        if len(ids) != command.ids:
            return error("invalid_topic", f"{kind}/.../{verb} takes {command.ids} id segment(s), got {len(ids)}")
        try:
            tool, args = command.to_call(ids, payload)
        except ToolError as exc:
            return error(exc.code, exc.message)
        except (ValueError, TypeError) as exc:
            return error("invalid_args", str(exc))
        return await self.call_tool(self.pipeline.registry.resolve(tool, plugin), args, source, caller=caller)

    async def set_autonomy(self, mode: Any, *, caller: Caller | None = None) -> Reply:
        """Set the autonomy mode (``off`` is the kill switch for automated writes) if ``caller`` may."""
        if mode not in ("off", "notify", "act"):
            return error("invalid_args", 'autonomy mode must be "off", "notify" or "act"')
        if caller is not None:
            refusal = self.auth.check_autonomy(caller, mode)
            if refusal is not None:
                log.warning("refused to set autonomy to %s: %s", mode, refusal)
                return error("forbidden", refusal)
        self.autonomy = mode
        self.state.put("hub", ("bridge", "autonomy"), {"mode": mode})
        by = caller.label if caller else "hub"
        self.emit(Event(type="status", severity="warning" if mode == "off" else "info",
                        source=caller.source if caller else "hub",
                        summary=f"autonomy set to {mode} by {by}", details={"mode": mode, "requested_by": by}))
        return {"status": "ok", "data": {"mode": mode}}

    # -- events ------------------------------------------------------------------------------

    def events_subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Hear every event; returns an unsubscribe function."""
        self._event_listeners.append(listener)
        return lambda: self._event_listeners.remove(listener)

    def emit(self, event: Event) -> None:
        """Publish an event (secrets masked) to listeners and to every plugin's ``on_event``."""
        event.summary = redact(event.summary)
        event.details = redact_value(event.details)
        for listener in list(self._event_listeners):
            listener(event)
        if self.pm.hook.on_event.get_hookimpls():
            task = asyncio.get_running_loop().create_task(self._deliver(event))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _observers(self, hook: str) -> list[tuple[str, Callable[..., Any], tuple[str, ...]]]:
        """Return (plugin, implementation, its argument names) of a hook for the live plugins."""
        live = set(self._live())
        caller = getattr(self.pm.hook, hook)
        return [(name, impl.function, tuple(impl.argnames)) for impl in caller.get_hookimpls()
                if (name := self.pm.get_name(impl.plugin) or "?") in live]

    def _state_changed(self, changes: list[Change]) -> None:
        """Hand the store's changes to every ``on_state_changed`` implementation."""
        for name, function, argnames in self._state_observers:
            given = {"changes": changes, "ctx": self.contexts[name]}
            try:
                result = function(**{a: given[a] for a in argnames})
            except Exception as exc:  # noqa: BLE001 - an observer's bug must not stop the store
                log.warning("plugin %s on_state_changed failed: %s", name, exc)
                continue
            if inspect.isawaitable(result):
                task = asyncio.get_running_loop().create_task(self._observed(name, result))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _observed(self, name: str, result: Any) -> None:
        try:
            await result
        except Exception as exc:  # noqa: BLE001
            log.warning("plugin %s on_state_changed failed: %s", name, exc)

    async def _deliver(self, event: Event) -> None:
        outcome = await call_each(
            self.pm, "on_event", lambda n: {"event": event, "ctx": self.contexts[n]}, only=self._live()
        )
        for name, exc in outcome.items():
            if exc is not None:
                log.warning("plugin %s on_event failed: %s", name, exc)

    # -- reporting ---------------------------------------------------------------------------

    def plugin_statuses(self) -> dict[str, dict[str, Any]]:
        """Return name -> {status, reason, version} for every plugin, loaded or not."""
        result: dict[str, dict[str, Any]] = {}
        for name, version in self.versions.items():
            ctx = self.contexts.get(name)
            if ctx is None:
                result[name] = {"version": version, "status": "disabled", "reason": "enabled: false in config"}
                continue
            status, reason = ctx.effective_status()
            result[name] = {"version": version, "status": status, "reason": redact(reason) if reason else reason}
        for name, reason in self.load_failures.items():
            result[name] = {"version": self.versions.get(name), "status": "failed", "reason": redact(reason)}
        return result

    def info(self) -> dict[str, Any]:
        """Return the payload of ``bridge/info``."""
        registry = self.pipeline.registry
        info: dict[str, Any] = {
            "version": __version__,
            "plugins": [{"name": n, **s} for n, s in self.plugin_statuses().items()],
            "tools": [registry.describe(name) for name in sorted(registry.tools)],
            "commands": sorted(f"{c.kind}/{'+/' * c.ids}{c.verb}" for c in self.registrations.commands.items.values()),
            "requests": sorted(self.registrations.requests),
            "sources": sorted(s.name for s in self.registrations.call_sources.items.values()),
            "autonomy": self.autonomy,
            "discovery_prefix": self.config.hub.discovery_prefix,
            "base_topic": self.config.mqtt.base_topic,
        }
        return redact_value(info)

    def schema(self) -> dict[str, Any]:
        """Return the payload of ``bridge/schema``: every entity kind the hub publishes."""
        kinds = self.registrations.kinds
        return {"version": __version__, "base_topic": self.config.mqtt.base_topic,
                "kinds": [{**kind.describe(), "plugin": kinds.owner[name]} for name, kind in kinds.items.items()]}

    def publish_info(self) -> None:
        """Put ``bridge/info``, ``bridge/schema`` and ``bridge/autonomy`` into the state store."""
        self.state.put("hub", ("bridge", "info"), self.info())
        self.state.put("hub", ("bridge", "schema"), self.schema())
        self.state.put("hub", ("bridge", "autonomy"), {"mode": self.autonomy})
        self.state.put("hub", ("bridge", "health"), self.health())

    def health(self) -> dict[str, Any]:
        """Return the payload of ``bridge/health``."""
        process = psutil.Process(os.getpid())
        sources = {r.owner: dict(r.metrics) for r in self.runners}
        health: dict[str, Any] = {
            "uptime_s": round(time.time() - self._started_at),
            "rss_bytes": process.memory_info().rss,
            "entities": len(self.state),
            "pending_confirmations": len(self.pipeline.confirmations),
            "plugins": {n: {"status": s["status"], "reason": s["reason"]} for n, s in self.plugin_statuses().items()},
            "sources": sources,
            "memory": memory_health(self),
        }
        for extra in self.health_extras:
            health.update(extra())
        return redact_value(health)
