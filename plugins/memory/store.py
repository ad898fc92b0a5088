"""``TinyMemory``: the memory plugin's store (``tinydb``), the MemoryStore protocol over a MemoryDB.

Writes append in memory (microseconds) and run on the event loop; the store's own thread
commits them every ``commit_interval_s``. Reads run in a worker thread (``asyncio.to_thread``):
a filtered query or a search may open old segment files. A store opened read-only (another
hub holds the directory, e.g. ``jarvis call`` beside ``jarvis run``) answers reads and counts
the writes it could not keep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from jarvis.plugins.memory.clock import normalize_ts
from jarvis.plugins.memory.context import (
    BUDGETS,
    DEFAULT_ORDER,
    Budget,
    Facts,
    build_context,
    estimate_tokens,
    pick_budget,
)
from jarvis.plugins.memory.db import MemoryDB
from jarvis.plugins.memory.outline import Key, KindView

log = logging.getLogger("jarvis.plugins.memory")
World = Callable[[], tuple[Mapping[Key, Mapping[str, Any]], Sequence[KindView]]]
SNIPPET_DAYS = 90
CHAT_ROLES = ("user", "assistant")


class TinyMemory:
    """Jarvis's memory in crash-safe tinydb files (registered as the ``tinydb`` memory store)."""

    def __init__(
        self,
        db: MemoryDB,
        *,
        world: World | None = None,
        budgets: Mapping[str, Budget] = BUDGETS,
        mask: Callable[[str], str] | None = None,
        order: Sequence[str] = DEFAULT_ORDER,
    ) -> None:
        self.db = db
        self.world = world
        self.budgets = dict(budgets)
        self.mask = mask
        self.order = tuple(order)
        self.dropped_writes = 0  # writes a read-only store could not keep

    # -- writes (cheap: on the event loop) -------------------------------------------------------

    def _writable(self) -> bool:
        if not self.db.readonly:
            return True
        if not self.dropped_writes:
            log.warning("memory at %s is read-only in this process (a running hub holds it): "
                        "what happens here is not recorded", self.db.path)
        self.dropped_writes += 1
        return False

    def record_event(self, event: Mapping[str, Any]) -> str:
        """Store one hub event; return its record id ("" when read-only)."""
        return self.db.events.add(event) if self._writable() else ""

    def record_action(self, action: Mapping[str, Any]) -> str:
        """Store one audit entry: tool, status, call_id, source, requested_by, approved_by, args,
        result, error, duration_ms, target (``{"kind", "id"}`` or ``"kind:id"``), risk."""
        if not self._writable():
            return ""
        target = action.get("target")
        kind, target_id = None, None
        if isinstance(target, Mapping):
            kind, target_id = target.get("kind"), target.get("id")
        elif isinstance(target, str) and ":" in target:
            kind, _, target_id = target.partition(":")
        record_id = self.db.actions.add(
            tool=str(action.get("tool") or "?"), status=str(action.get("status") or "?"),
            call_id=action.get("call_id"), source=action.get("source"), requested_by=action.get("requested_by"),
            approved_by=action.get("approved_by"), args=action.get("args") or {}, result=action.get("result"),
            error=_error_text(action.get("error")), duration_ms=action.get("duration_ms"),
            target_kind=kind, target_id=target_id, risk=action.get("risk"), event_id=action.get("event_id"),
            ts=action.get("ts"),
        )
        return record_id

    def add_message(
        self,
        session: str,
        role: str,
        content: str,
        *,
        backend: str | None = None,
        model: str | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        cost: float | None = None,
        tool_calls: list[Any] | None = None,
    ) -> str:
        """Store one chat message of a session."""
        if not self._writable():
            return ""
        return self.db.conversations.add(session, role, content, backend=backend, model=model, tokens_in=tokens_in,
                                         tokens_out=tokens_out, cost=cost, tool_calls=tool_calls)

    def set_preference(self, key: str, value: Any) -> None:
        """Set a user preference."""
        if self._writable():
            self.db.preferences.set(key, value)

    def remember(self, text: str, tier: str = "30d", tags: Sequence[str] = ()) -> str:
        """Remember a fact for a tier (7d, 30d, permanent)."""
        return self.db.memories.remember(text, tier, tags) if self._writable() else ""

    def forget(self, key: str) -> bool:
        """Forget a memory by id, or a preference by key."""
        if not self._writable():
            return False
        return self.db.memories.forget(key) or self.db.preferences.delete(key)

    def save_value(self, key: str, value: Any) -> None:
        """Keep a small value across restarts (``values.json``)."""
        if self._writable():
            self.db.values.set(key, value)

    def load_value(self, key: str, default: Any = None) -> Any:
        """Return a kept value, or ``default``."""
        return self.db.values.get(key, default)

    # -- reads (in a worker thread) ------------------------------------------------------------

    async def resolve_event(self, event_id: str, by: str = "user") -> dict[str, Any] | None:
        """Mark an event resolved (its record id or the hub's event id)."""
        if not self._writable():
            return None
        return await asyncio.to_thread(self.db.events.resolve, event_id, by)

    async def recent_events(
        self,
        *,
        node: str | None = None,
        type: str | None = None,
        severity: str | Sequence[str] | None = None,
        source: str | None = None,
        vmid: int | None = None,
        since: Any = None,
        unresolved: bool = False,
        limit: int | None = 50,
    ) -> list[dict[str, Any]]:
        """Return recent events matching every filter, newest first."""
        if unresolved:
            wanted = {"node": node, "type": type, "source": source, "vmid": vmid}
            levels = {severity} if isinstance(severity, str) else set(severity or ())
            after = normalize_ts(since) if since is not None else ""
            found = [e for e in self.db.events.unresolved(type or "alert", limit=None)
                     if all(v is None or e.get(k) == v for k, v in wanted.items())
                     and (not levels or e.get("severity") in levels) and str(e.get("ts", "")) >= after]
            return found[:limit] if limit is not None else found
        return await asyncio.to_thread(self.db.events.recent, node=node, type=type, severity=severity,
                                       source=source, vmid=vmid, since=since, limit=limit)

    async def actions(
        self,
        *,
        tool: str | None = None,
        status: str | None = None,
        target: str | None = None,
        call_id: str | None = None,
        since: Any = None,
        limit: int | None = 50,
    ) -> list[dict[str, Any]]:
        """Return audit entries, newest first: of one call, one target, or filtered by tool/status."""
        if call_id:
            found = await asyncio.to_thread(self.db.actions.by_call, call_id)
            return [found] if found else []
        if target:
            kind, _, target_id = target.partition(":")
            rows = await asyncio.to_thread(self.db.actions.of_target, kind, target_id, since=since, limit=None)
            rows = [r for r in rows
                    if (tool is None or r["tool"] == tool) and (status is None or r["status"] == status)]
            return rows[:limit] if limit is not None else rows
        return await asyncio.to_thread(self.db.actions.recent, tool=tool, status=status, since=since, limit=limit)

    async def history(self, session: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Return a session's last ``limit`` messages, oldest first."""
        return await asyncio.to_thread(self.db.conversations.history, session, limit)

    async def search(
        self, text: str, *, tables: Sequence[str] | None = None, since: Any = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Return records containing every word of ``text``, newest first."""
        if tables is None:
            return await asyncio.to_thread(self.db.search, text, since=since, limit=limit)
        return await asyncio.to_thread(self.db.search, text, tables=tables, since=since, limit=limit)

    async def preferences(self) -> dict[str, Any]:
        """Return every preference."""
        return self.db.preferences.all()

    async def memories(self, tag: str | None = None) -> list[dict[str, Any]]:
        """Return the memories not expired, newest first."""
        return self.db.memories.active(tag)

    async def context(
        self, budget: str | int = "small", *, session: str | None = None, topic: str | None = None
    ) -> dict[str, Any]:
        """Build an LLM's context from current state and memory within a token budget."""
        chosen = pick_budget(budget, self.budgets)
        state, kinds = self.world() if self.world is not None else ({}, [])
        facts, messages = await asyncio.to_thread(self._gather, chosen, session, topic)
        built = await asyncio.to_thread(build_context, state, kinds, facts, chosen, mask=self.mask, order=self.order)
        result = built.to_dict()
        if session is not None:
            result["messages"] = messages
            result["messages_tokens"] = sum(estimate_tokens(m["content"]) + 4 for m in messages)
        return result

    def _gather(self, budget: Budget, session: str | None, topic: str | None) -> tuple[Facts, list[dict[str, Any]]]:
        """Read what a context needs from memory (blocking: runs in a worker thread)."""
        db = self.db
        facts = Facts(unresolved=db.events.unresolved(limit=None), preferences=db.preferences.all(),
                      memories=db.memories.active())
        since = timedelta(hours=budget.actions_hours) if budget.actions_hours else None
        # Actions taken: what changed something (reads, memory.context itself included, would crowd them out).
        wanted = budget.actions if budget.actions is not None else 500
        facts.actions = db.actions.taken(since=since, limit=wanted)
        if budget.events_hours:
            recent = db.events.recent(since=timedelta(hours=budget.events_hours), limit=500)
            facts.events = [e for e in recent if e.get("type") not in ("action", "task")]
        if topic and budget.snippets:
            found = db.search(topic, tables=["conversations"], since=timedelta(days=SNIPPET_DAYS),
                              limit=budget.snippets * 4)
            # Only what the user said: old assistant replies describe a cluster that has changed since.
            facts.snippets = [m for m in found if m.get("role") == "user" and m.get("session") != session]
            facts.snippets = facts.snippets[: budget.snippets]
        messages: list[dict[str, Any]] = []
        if session is not None:
            rows = db.conversations.history(session, None if budget.messages is None else budget.messages * 3)
            messages = fit_messages([m for m in rows if m.get("role") in CHAT_ROLES], budget)
        return facts, messages

    # -- health ----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Return the store's figures for ``bridge/health``."""
        last = self.db.last_flush
        return {
            "path": str(self.db.path),
            "readonly": self.db.readonly,
            "records": {name: table["records"] for name, table in self.db.stats().items()},
            "last_flush_ms": round(last.seconds * 1000, 1) if last else None,
            "dropped_writes": self.dropped_writes,
        }


def fit_messages(messages: list[dict[str, Any]], budget: Budget) -> list[dict[str, Any]]:
    """Keep the last ``budget.messages`` chat messages within ``budget.history_tokens``, oldest first.

    The oldest go first; a newest message longer than the whole budget is cut.
    """
    wanted = messages[-budget.messages:] if budget.messages is not None else messages
    if budget.messages == 0:
        wanted = []
    kept: list[dict[str, Any]] = []
    used = 0
    for message in reversed(wanted):
        content = str(message.get("content") or "")
        cost = estimate_tokens(content) + 4
        if used + cost > budget.history_tokens:
            if kept:
                break
            content = content[: max(0, (budget.history_tokens - 8) * 2)] + "..."
            cost = estimate_tokens(content) + 4
        kept.append({"role": message["role"], "content": content, "ts": message.get("ts")})
        used += cost
    kept.reverse()
    return kept


def _error_text(error: Any) -> str | None:
    if isinstance(error, Mapping):
        return f"{error.get('code')}: {error.get('message')}"
    return None if error is None else str(error)
