"""The types plugins use to talk to the hub: tools, entities, sources, commands, events."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import pluggy
from jarvis.core.providers import Caller, CallSource
from pydantic import BaseModel

if TYPE_CHECKING:
    from jarvis.core.hub import Hub
    from jarvis.core.providers import MemoryStore

hookimpl = pluggy.HookimplMarker("jarvis")

BUILTIN_SOURCES: tuple[CallSource, ...] = (
    CallSource(name="mqtt", human=True, description="a request or command over MQTT"),
    CallSource(name="cli", human=True, description="the jarvis command line"),
    CallSource(name="web", human=True, description="a dashboard user"),
    CallSource(name="llm", human=False, description="the assistant, on behalf of a chat"),
    CallSource(name="monitor", human=False, description="the monitor's remediation"),
)
"""The call sources of the contract; plugins register more (``register_call_sources``)."""
SOURCES: frozenset[str] = frozenset(s.name for s in BUILTIN_SOURCES)
HUMAN_SOURCES: frozenset[str] = frozenset(s.name for s in BUILTIN_SOURCES if s.human)
TOOL_ERROR_CODES = frozenset({"not_found", "invalid_args", "unreachable", "timeout", "denied", "conflict",
                              "upstream_error"})
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


def slugify(value: object) -> str:
    """Turn any identifier into a topic-safe one (``[A-Za-z0-9_-]``, never empty)."""
    slug = _SLUG.sub("_", str(value)).strip("_")
    return slug or "_"


def utcnow() -> str:
    """Return the current time as an ISO-8601 UTC string with seconds precision."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Risk(StrEnum):
    """How much a tool can change: read (never), write (reversibly), dangerous (outage)."""

    READ = "read"
    WRITE = "write"
    DANGEROUS = "dangerous"


class ToolError(Exception):
    """A failure a tool reports to its caller as ``{"code", "message"}``.

    Codes used across plugins: ``not_found``, ``invalid_args``, ``unreachable``, ``timeout``,
    ``denied``, ``conflict``, ``upstream_error``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@contextmanager
def tool_errors(*also: tuple[type[BaseException], str]) -> Iterator[None]:
    """Turn a hub-free client's exceptions into ``ToolError`` inside the block.

    An exception with a ``code`` attribute that is a tool error code keeps that code; the
    ``(exception type, code)`` pairs in ``also`` map the others; anything else propagates.
    """
    try:
        yield
    except ToolError:
        raise
    except Exception as error:
        code = getattr(error, "code", None)
        if not (isinstance(code, str) and code in TOOL_ERROR_CODES):
            code = next((c for kind, c in also if isinstance(error, kind)), None)
        if code is None:
            raise
        raise ToolError(code, str(error)) from error


class UpdateFailed(Exception):
    """Raised by a source's ``poll()``: the plugin turns ``degraded`` with this reason."""


@dataclass(frozen=True, slots=True)
class Target:
    """The thing a tool acts on, used for protection and per-target rate limits."""

    kind: str  # "guest", "node", "docker", "host"
    id: str


@dataclass(slots=True)
class ToolCall:
    """What a handler knows about the call it serves.

    ``caller`` is who asked (``Caller.label`` for messages); ``unrestricted`` is False for a
    caller whose role may only aim tools at things Jarvis knows (e.g. ``network.ping`` at a
    configured host or node, never any address). A handler answering from a cache calls
    ``report_freshness(as_of, stale)``: the reply then says how old its data is.
    """

    id: str
    tool: str
    source: str
    args: dict[str, Any]
    progress: Callable[[dict[str, Any]], None] = lambda _update: None
    caller: Caller | None = None
    unrestricted: bool = True
    freshness: dict[str, Any] | None = None

    def report_freshness(self, as_of: str | None, stale: bool) -> None:
        """Say when the data of this answer was fetched (ISO-8601 UTC) and whether it is stale."""
        self.freshness = {"as_of": as_of, "stale": bool(stale)}


Handler = Callable[[Any, ToolCall], Awaitable[Any]]


@dataclass(frozen=True, kw_only=True)
class Tool:
    """A registered action: validated args, a risk tier and an async handler.

    ``args`` is a pydantic model; its JSON Schema is what LLMs and ``bridge/info`` see.
    ``target(args)`` names the thing acted on; ``disruptive`` tools (stop, reboot, reset) are
    never run on a protected target unless a human asked and confirmed. ``risk_for(args)``
    may lower or raise the tier per call (an allowlisted shell command is only ``read``).
    """

    name: str
    description: str
    args: type[BaseModel]
    risk: Risk
    handler: Handler
    timeout_s: float = 30.0
    target: Callable[[Any], Target | None] | None = None
    disruptive: bool = False
    risk_for: Callable[[Any], Risk] | None = None


class Entity(NamedTuple):
    """One retained piece of state: ``key`` is its topic path under the base topic.

    ``("guest", "100", "state")`` becomes ``jarvis/guest/100/state``; every part is slugged.
    """

    # A named tuple rather than a frozen dataclass: sources build thousands per poll, and a
    # tuple is several times cheaper to create (fields, keywords and immutability are kept).

    key: tuple[str, ...]
    data: Mapping[str, Any]


@dataclass(slots=True)
class Snapshot:
    """What a source saw in one poll.

    With ``complete`` the snapshot replaces everything the same source published before, and
    entities it no longer lists are cleared. Without it, only the listed entities are updated.
    """

    entities: list[Entity]
    complete: bool = True
    metrics: dict[str, Any] = field(default_factory=dict)  # e.g. {"api_calls": 2}


@dataclass(frozen=True, kw_only=True)
class Source:
    """A poller the hub runs every ``interval_s`` seconds (and on a ``refresh`` request)."""

    name: str
    interval_s: float
    poll: Callable[[], Awaitable[Snapshot]]


@dataclass(frozen=True, kw_only=True)
class Command:
    """A command topic on a thing, ``<base>/<kind>/<id...>/<verb>``, mapped onto a tool.

    ``to_call(ids, payload)`` gets the id segments and the decoded payload (a dict for JSON
    objects, else the plain string) and returns ``(tool_name, args)``; it raises ``ToolError``
    for a payload it cannot map. ``tool_name`` may be short (prefixed with the plugin name).
    """

    kind: str
    verb: str
    to_call: Callable[[tuple[str, ...], Any], tuple[str, dict[str, Any]]]
    ids: int = 1


@dataclass(frozen=True, kw_only=True)
class Playbook:
    """A remediation playbook: steps of tool calls the monitor may run for a named issue."""

    name: str
    description: str
    steps: tuple[Mapping[str, Any], ...] = ()
    escalate_if_failed: bool = True
    max_auto_attempts: int = 1


@dataclass(kw_only=True)
class Event:
    """A hub event, published on ``<base>/event`` and given to ``on_event`` hooks."""

    type: str  # alert, action, remediation, status, chat, task
    summary: str
    severity: str = "info"  # info, warning, error, critical
    source: str = "hub"
    node: str | None = None
    vmid: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    ts: str = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        """Return the event as the JSON object of the contract."""
        return {
            "id": self.id,
            "ts": self.ts,
            "type": self.type,
            "severity": self.severity,
            "source": self.source,
            "node": self.node,
            "vmid": self.vmid,
            "summary": self.summary,
            "details": self.details,
        }


PluginStatus = Literal["ok", "degraded", "failed"]


@dataclass(slots=True)
class PluginContext:
    """A plugin's handle on the hub: its config block, logger, status and the hub's API."""

    name: str
    hub: Hub
    config: Any = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("jarvis"))
    status: PluginStatus = "ok"
    reason: str | None = None
    source_errors: dict[str, str] = field(default_factory=dict)
    runtime: Any = None  # the plugin's own objects (clients, caches) for this hub, set in on_start

    def set_status(self, status: PluginStatus, reason: str | None = None) -> None:
        """Report the plugin's own health (sources report theirs separately)."""
        self.status = status
        self.reason = reason

    def effective_status(self) -> tuple[PluginStatus, str | None]:
        """Return the worst of the plugin's own status and its sources' errors."""
        if self.status == "failed":
            return "failed", self.reason
        reasons = [r for r in [self.reason, *self.source_errors.values()] if r]
        if self.status == "degraded" or self.source_errors:
            return "degraded", "; ".join(reasons) or None
        return "ok", self.reason

    def state(self, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Mapping[str, Any]]:
        """Return the hub's current entities whose key starts with ``prefix``."""
        return self.hub.state.items(prefix)

    def emit(self, event: Event) -> None:
        """Publish an event on behalf of this plugin."""
        if event.source == "hub":
            event.source = self.name
        self.hub.emit(event)

    def memory(self) -> MemoryStore | None:
        """Return the memory store config chose (``hub.memory``), or None; set once the hub started."""
        return self.hub.memory()

    def wake_sources(self, *names: str) -> None:
        """Ask this plugin's sources (all, or those named) to poll again now, e.g. after an action."""
        self.hub.wake_sources(self.name, *names)

    def has_tool(self, name: str) -> bool:
        """Return True when a tool of that full name is registered (by any plugin)."""
        return name in self.hub.pipeline.registry.tools

    async def call_tool(
        self, name: str, args: Mapping[str, Any], source: str = "monitor"
    ) -> dict[str, Any]:
        """Run a tool through the full pipeline (validation, risk, confirmation) and reply."""
        return await self.hub.call_tool(name, dict(args), source=source)
