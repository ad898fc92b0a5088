"""The memory tools: recent_events, search, context, actions [read]; remember, forget [write].

They answer from the memory store config chose (``ctx.memory()``), whichever plugin provides it,
so over MQTT (``<base>/bridge/request/tool/memory.search``), the CLI, an LLM or the monitor.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

from jarvis.core import MemoryStore, PluginContext, Risk, Tool, ToolCall, ToolError
from pydantic import BaseModel, Field

Severity = Literal["info", "warning", "error", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")
Table = Literal["events", "actions", "conversations", "memories", "preferences"]
_ID = r"^[A-Za-z0-9_.:@/-]+$"


class RecentEventsArgs(BaseModel):
    """Arguments of ``memory.recent_events``."""

    node: str | None = Field(None, max_length=64, description="only events about this node, e.g. pve2")
    vmid: int | None = Field(None, ge=0, description="only events about this guest (its vmid)")
    type: str | None = Field(None, max_length=32, description="only this type: alert, action, remediation, "
                             "status, chat, task or confirmation")
    min_severity: Severity | None = Field(None, description="only events at least this severe")
    hours: float | None = Field(None, gt=0, le=24 * 3650, description="only events of the last N hours")
    unresolved: bool = Field(False, description="only open alerts (not resolved yet)")
    details: bool = Field(False, description="include each event's details object")
    limit: int = Field(20, ge=1, le=200, description="at most this many, newest first")


class SearchArgs(BaseModel):
    """Arguments of ``memory.search``."""

    text: str = Field(min_length=1, max_length=200, description="words that must all occur (any case), "
                      "e.g. 'vm 105 disk'")
    tables: list[Table] | None = Field(None, description="where to look (default: events, actions, "
                                       "conversations, memories, preferences)")
    days: float = Field(30, gt=0, le=3650, description="how far back to look, in days")
    limit: int = Field(20, ge=1, le=100, description="at most this many, newest first")


class ContextArgs(BaseModel):
    """Arguments of ``memory.context``."""

    budget: str = Field("small", max_length=32, description="small (a 4,096-token local model) or large "
                        "(a 200k-token model), or a budget named in config")
    tokens: int | None = Field(None, ge=100, le=200_000, description="a token budget instead of a named one")
    session: str | None = Field(None, max_length=128, pattern=_ID, description="a chat session: its last "
                                "messages come with the context")
    topic: str | None = Field(None, max_length=200, description="what the user asks about: the large budget "
                              "adds what they said about it before")


class ActionsArgs(BaseModel):
    """Arguments of ``memory.actions``."""

    call_id: str | None = Field(None, max_length=64, pattern=_ID, description="one tool call's audit entry")
    target: str | None = Field(None, max_length=200, pattern=_ID, description="actions on one thing: "
                               "'guest:105', 'node:pve2', 'host:nas', 'docker:host/container'")
    tool: str | None = Field(None, max_length=100, description="only calls of this tool, e.g. proxmox.guest_start")
    status: str | None = Field(None, max_length=40, description="only this outcome: ok, error, "
                               "confirmation_required")
    hours: float | None = Field(None, gt=0, le=24 * 3650, description="only actions of the last N hours")
    limit: int = Field(20, ge=1, le=200, description="at most this many, newest first")


class RememberArgs(BaseModel):
    """Arguments of ``memory.remember``."""

    text: str = Field(min_length=1, max_length=1000, description="the fact, e.g. 'vm 105 is my k3s master'")
    tier: Literal["7d", "30d", "permanent"] = Field("30d", description="how long to keep it")
    tags: list[str] = Field(default_factory=list, max_length=10, description="words to find it by, e.g. ['pve3']")
    key: str | None = Field(None, max_length=100, pattern=_ID, description="store it as the user preference "
                            "of this name instead (permanent; replaces that preference's earlier value)")


class ForgetArgs(BaseModel):
    """Arguments of ``memory.forget``."""

    id: str = Field(min_length=1, max_length=100, pattern=_ID, description="a memory's id (from memory.remember "
                    "or memory.search), or a preference's key")


def _store(ctx: PluginContext) -> MemoryStore:
    store = ctx.memory()
    if store is None:
        raise ToolError("unreachable", "no memory store is in use (hub.memory is off, or its plugin failed: "
                        "see bridge/health)")
    return store


def _event_view(event: dict[str, Any], details: bool) -> dict[str, Any]:
    keep = ("id", "ts", "type", "severity", "source", "node", "vmid", "summary", "resolved", "resolved_by",
            "event_id")
    view = {k: event.get(k) for k in keep if event.get(k) not in (None, "")}
    if details:
        view["details"] = event.get("details") or {}
    return view


def register_memory_tools(register: Callable[[Tool], str], ctx: PluginContext) -> None:
    """Register the memory plugin's six tools."""

    async def recent_events(args: RecentEventsArgs, call: ToolCall) -> dict[str, Any]:
        severity = SEVERITIES[SEVERITIES.index(args.min_severity):] if args.min_severity else None
        since = timedelta(hours=args.hours) if args.hours else None
        events = await _store(ctx).recent_events(
            node=args.node, vmid=args.vmid, type=args.type, severity=severity, since=since,
            unresolved=args.unresolved, limit=args.limit)
        return {"count": len(events), "events": [_event_view(e, args.details) for e in events]}

    async def search(args: SearchArgs, call: ToolCall) -> dict[str, Any]:
        found = await _store(ctx).search(args.text, tables=args.tables, since=timedelta(days=args.days),
                                         limit=args.limit)
        return {"count": len(found), "results": found}

    async def context(args: ContextArgs, call: ToolCall) -> dict[str, Any]:
        try:
            return await _store(ctx).context(args.tokens or args.budget, session=args.session, topic=args.topic)
        except ValueError as exc:
            raise ToolError("invalid_args", str(exc)) from None

    async def actions(args: ActionsArgs, call: ToolCall) -> dict[str, Any]:
        since = timedelta(hours=args.hours) if args.hours else None
        found = await _store(ctx).actions(call_id=args.call_id, target=args.target, tool=args.tool,
                                          status=args.status, since=since, limit=args.limit)
        if args.call_id and not found:
            raise ToolError("not_found", f"no audit entry for call {args.call_id!r}")
        return {"count": len(found), "actions": found}

    async def remember(args: RememberArgs, call: ToolCall) -> dict[str, Any]:
        store = _store(ctx)
        if args.key is not None:
            store.set_preference(args.key, args.text)
            return {"preference": args.key, "value": args.text}
        return {"id": store.remember(args.text, args.tier, args.tags), "tier": args.tier}

    async def forget(args: ForgetArgs, call: ToolCall) -> dict[str, Any]:
        if not _store(ctx).forget(args.id):
            raise ToolError("not_found", f"no memory with id {args.id!r} and no preference named {args.id!r}")
        return {"forgotten": args.id}

    register(Tool(
        name="recent_events", args=RecentEventsArgs, risk=Risk.READ, handler=recent_events,
        description="Recent cluster events from memory, newest first: alerts, actions, status changes, "
        "remediations. Filter by node, guest (vmid), type, minimum severity, the last N hours, or only the "
        "open (unresolved) alerts.",
    ))
    register(Tool(
        name="search", args=SearchArgs, risk=Risk.READ, handler=search, timeout_s=60,
        description="Search Jarvis's memory (events, the audit trail of actions, conversations, remembered "
        "facts, preferences) for records containing every word of a text, newest first, over the last N days.",
    ))
    register(Tool(
        name="context", args=ContextArgs, risk=Risk.READ, handler=context, timeout_s=60,
        description="A summary of the cluster and its recent history for an LLM, within a token budget "
        "(small: a 4,096-token model; large: a 200k model): nodes, guests (top by CPU and memory, the "
        "stopped and crashed ones), open alerts, recent actions, preferences and remembered facts.",
    ))
    register(Tool(
        name="actions", args=ActionsArgs, risk=Risk.READ, handler=actions, timeout_s=60,
        description="The audit trail: tool calls Jarvis ran or refused, newest first, with who asked, who "
        "approved, the arguments (secrets masked), the outcome and the duration. One call by call_id, the "
        "actions on one target ('guest:105'), or filtered by tool, status and hours.",
    ))
    register(Tool(
        name="remember", args=RememberArgs, risk=Risk.WRITE, handler=remember,
        description="Remember a fact the user told you, for 7 days, 30 days or permanently (e.g. 'pve3 has a "
        "flaky NIC'); with a key, set a user preference instead (e.g. key 'k3s_master', text 'vm 105').",
    ))
    register(Tool(
        name="forget", args=ForgetArgs, risk=Risk.WRITE, handler=forget,
        description="Forget a remembered fact (by its id) or a user preference (by its key).",
    ))

