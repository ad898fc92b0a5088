"""The tool pipeline every action goes through, whoever asks.

validate -> risk check (protection, autonomy, confirmation) -> rate limit -> execute with a
timeout -> publish an ``action`` event (memory stores record it through ``on_event``) -> reply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jarvis.core.api import Event, Risk, Target, Tool, ToolCall, ToolError
from jarvis.core.providers import Caller
from jarvis.core.redact import redact, redact_value
from jarvis.core.registry import Registry
from jarvis.core.safety import Confirmation, RateLimiter, is_protected
from pydantic import ValidationError

if TYPE_CHECKING:
    from jarvis.core.hub import Hub

log = logging.getLogger("jarvis.tools")
TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
Reply = dict[str, Any]


def ok(data: Any) -> Reply:
    """Build a success reply."""
    return {"status": "ok", "data": data}


def error(code: str, message: str) -> Reply:
    """Build an error reply."""
    return {"status": "error", "error": {"code": code, "message": redact(message)}}


class ToolRegistry(Registry[Tool]):
    """Tools by full name (``plugin.tool``), attributed to the plugin that registered them."""

    def __init__(self) -> None:
        super().__init__("tool", Tool)

    @property
    def tools(self) -> dict[str, Tool]:
        """Tools by full name."""
        return self.items

    def register_for(self, plugin: str, name_of: Callable[[Tool], str] | None = None) -> Callable[[Tool], str]:
        """Return the ``register`` callback handed to one plugin's ``register_tools``."""

        def register(tool: Tool) -> str:
            if not isinstance(tool, Tool):
                raise TypeError(f"plugin {plugin!r} registered {tool!r}, not a jarvis.core.Tool")
            short = tool.name.removeprefix(f"{plugin}.")
            if not TOOL_NAME.match(short):
                raise ValueError(f"plugin {plugin!r}: tool name {tool.name!r} must match {TOOL_NAME.pattern}")
            if not tool.description.strip():
                raise ValueError(f"plugin {plugin!r}: tool {short!r} needs a description")
            return self.add(plugin, f"{plugin}.{short}", tool)

        return register

    def resolve(self, name: str, plugin: str | None = None) -> str:
        """Return the full name for ``name`` (a short name is looked up in ``plugin``)."""
        if name in self.tools or plugin is None:
            return name
        return f"{plugin}.{name}"

    def describe(self, name: str) -> dict[str, Any]:
        """Return what LLMs and ``bridge/info`` see of one tool."""
        tool = self.tools[name]
        return {
            "name": name,
            "plugin": self.owner[name],
            "risk": tool.risk.value,
            "description": tool.description,
            "disruptive": tool.disruptive,
            "args_schema": tool.args.model_json_schema(),
        }


class Pipeline:
    """Runs tool calls with the safety rules of the hub's config and the caller's role."""

    def __init__(self, hub: Hub) -> None:
        from jarvis.core.confirmations import Confirmations  # it builds on this module's replies

        self.hub = hub
        self.registry = ToolRegistry()
        self.book = Confirmations(hub)
        limits = hub.config.safety.rate_limit
        self.limiter = RateLimiter(limits.per_tool_per_min, limits.per_target_per_min)

    @property
    def confirmations(self) -> dict[str, Confirmation]:
        """Pending confirmations by id."""
        return self.book.pending

    def is_human(self, source: str) -> bool:
        """Return True when ``source`` is a registered human source (it may answer confirmations)."""
        known = self.hub.registrations.call_sources.get(source)
        return known is not None and known.human

    async def call(
        self, name: str, args: Any, source: str, *, confirmed: bool = False, caller: Caller | None = None,
        approved_by: Caller | None = None,
    ) -> Reply:
        """Run one tool call through every step and return the contract reply.

        ``caller`` is who asks (its role is checked); without one the call comes from inside the
        process (the CLI, a plugin) and only the safety rules apply. Every call publishes an
        ``action`` event with ``requested_by`` (and ``approved_by`` once confirmed), refused ones
        included (an audit trail of what was tried); executed calls publish theirs from
        ``_execute`` with the duration.
        """
        seen: dict[str, Any] = {"caller": caller or Caller(source), "trusted": caller is None,
                                "approved_by": approved_by}
        reply = await self._checked_call(name, args, source, confirmed, seen)
        if not seen.get("executed"):
            self._action_event(seen.get("tool", "(unknown tool)"), source, reply, seen.get("args", {}),
                               seen.get("risk"), None, None, seen)
        return reply

    async def _checked_call(
        self, name: str, args: Any, source: str, confirmed: bool, seen: dict[str, Any]
    ) -> Reply:
        if source not in self.hub.registrations.call_sources:
            return error("invalid_source", "unknown call source (see bridge/info: sources)")
        tool = self.registry.tools.get(name) if isinstance(name, str) else None
        if tool is None:
            # The name is not echoed: a reply must never depend on what the caller guessed.
            known = ", ".join(sorted(self.registry.tools)[:20]) or "none"
            return error("unknown_tool", f"no tool of that name (known: {known})")
        seen["tool"] = name
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return error("invalid_args", f"{name}: args must be a JSON object, got {type(args).__name__}")
        try:
            parsed = tool.args.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors()
            )
            return error("invalid_args", f"{name}: {problems}")
        clean = seen["args"] = parsed.model_dump(mode="json")
        try:
            risk = seen["risk"] = tool.risk_for(parsed) if tool.risk_for else tool.risk
            target = tool.target(parsed) if tool.target else None
        except ToolError as exc:
            return error(exc.code, exc.message)
        seen["target"] = target
        caller: Caller = seen["caller"]
        if not seen["trusted"]:
            forbidden = self.hub.auth.check_tool(caller, name, risk, target)
            if forbidden is not None:
                log.warning("refused %s: %s", name, forbidden)
                return error("forbidden", forbidden)
        protected = tool.disruptive and self._protected(target)
        refusal = self._refusal(name, risk, target, protected, source)
        if refusal is not None:
            return refusal
        if not confirmed and self._needs_confirmation(name, risk, protected, source):
            return self.book.ask(name, clean, risk, target, protected, source, caller, seen["trusted"])
        if risk is not Risk.READ:
            limited = self.limiter.check(name, target)
            if limited:
                return error("rate_limited", limited)
        seen["executed"] = True
        return await self._execute(name, tool, parsed, clean, risk, source, seen)

    def _protected(self, target: Target | None) -> bool:
        guest_name = None
        if target is not None and target.kind == "guest":
            guest = self.hub.state.get(("guest", target.id, "state")) or {}
            guest_name = str(guest["name"]) if guest.get("name") else None
        return is_protected(self.hub.config.safety, target, guest_name)

    def _refusal(
        self, name: str, risk: Risk, target: Target | None, protected: bool, source: str
    ) -> Reply | None:
        automated = not self.is_human(source)
        if protected and automated:
            return error(
                "protected",
                f"{name}: {target.kind} {target.id} is protected; only a confirmed human request may "  # type: ignore[union-attr]
                f"stop, reboot or reset it",
            )
        mode = self.hub.autonomy
        if automated and risk is not Risk.READ:
            if mode == "off":
                return error("autonomy_off", f"{name}: autonomy is off; automated writes are stopped")
            if source == "monitor" and mode != "act":
                return error("autonomy_notify", f"{name}: autonomy is {mode!r}; the monitor only notifies")
        return None

    def _needs_confirmation(self, name: str, risk: Risk, protected: bool, source: str) -> bool:
        if protected:
            return True
        if risk is not Risk.DANGEROUS:
            return False
        safety = self.hub.config.safety
        allowlisted = source == "monitor" and self.hub.autonomy == "act" and name in safety.autonomous_allow
        return not allowlisted

    async def resolve_confirmation(
        self, confirmation_id: Any, approve: Any, source: str, *, caller: Caller | None = None
    ) -> Reply:
        """Approve (run) or deny a pending confirmation; only humans whose role allows it may."""
        return await self.book.resolve(confirmation_id, approve, source, caller)

    def expire_confirmations(self) -> None:
        """Clear confirmations whose time is up."""
        self.book.expire()

    async def _execute(
        self, name: str, tool: Tool, parsed: Any, clean: dict[str, Any], risk: Risk, source: str,
        seen: dict[str, Any],
    ) -> Reply:
        call_id = uuid.uuid4().hex[:12]

        caller: Caller = seen["caller"]

        def progress(update: dict[str, Any]) -> None:
            self.hub.emit(Event(type="task", source=self.registry.owner[name],
                                summary=f"{name} in progress",
                                details={"call_id": call_id, "tool": name, "requested_by": caller.label,
                                         **redact_value(update)}))

        call = ToolCall(id=call_id, tool=name, source=source, args=clean, progress=progress, caller=caller,
                        unrestricted=seen["trusted"] or self.hub.auth.unrestricted(caller))
        started = time.perf_counter()
        try:
            async with asyncio.timeout(tool.timeout_s):  # not wait_for: it can swallow cancellation on 3.11
                result = await tool.handler(parsed, call)
            reply = ok(redact_value(result))
            if call.freshness is not None:
                reply.update(call.freshness)
        except ToolError as exc:
            reply = error(exc.code, exc.message)
        except TimeoutError:
            reply = error("timeout", f"{name} did not finish within {tool.timeout_s:g} s")
        except Exception as exc:  # noqa: BLE001 - a plugin bug becomes an error reply, not a crash
            log.exception("tool %s failed", name)
            reply = error("internal", f"{name} failed: {type(exc).__name__}: {exc}")
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        self._action_event(name, source, reply, clean, risk, call_id, duration_ms, seen)
        return reply

    def _action_event(
        self, name: str, source: str, reply: Reply, clean: dict[str, Any], risk: Risk | None,
        call_id: str | None, duration_ms: float | None, seen: dict[str, Any],
    ) -> None:
        """Publish the ``action`` event of one call (the hub masks secrets in every event).

        The details carry what the audit trail keeps: the target and, for a success, a compact
        result (``compact_result``), never the whole reply.
        """
        status = reply["status"]
        caller: Caller = seen["caller"]
        approver: Caller | None = seen.get("approved_by")
        summary = f"{name} by {caller.label}: {status}" + (
            f" ({reply['error']['code']})" if status == "error" else ""
        )
        node = clean.get("node") if isinstance(clean.get("node"), str) else None
        vmid = clean.get("vmid") if isinstance(clean.get("vmid"), int) else None
        details: dict[str, Any] = {
            "call_id": call_id, "tool": name, "args": clean, "risk": risk.value if risk else None,
            "status": status, "duration_ms": duration_ms, "requested_by": caller.label,
        }
        if approver is not None:
            details["approved_by"] = approver.label
        target: Target | None = seen.get("target")
        if target is not None:
            details["target"] = {"kind": target.kind, "id": target.id}
        if status == "ok":
            details["result"] = compact_result(reply.get("data"))
        elif status == "error":
            details["error"] = reply["error"]
        self.hub.emit(Event(
            type="action", source=source, summary=summary, node=node, vmid=vmid,
            severity="warning" if status == "error" else "info", details=details,
        ))


RESULT_BYTES = 400


def compact_result(data: Any, limit: int = RESULT_BYTES) -> Any:
    """Return a tool's result as the audit trail keeps it: whole when small, else its outline.

    A big result (a list of 5,000 guests) becomes its shape: the scalar fields of an object and
    the length of every list, so an action event stays small on MQTT and in memory.
    """
    if _json_size(data, limit) <= limit:
        return data
    if isinstance(data, list):
        return {"items": len(data)}
    if isinstance(data, dict):
        outline: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, list):
                outline[key] = {"items": len(value)}
            elif isinstance(value, dict):
                outline[key] = {"keys": len(value)}
            elif isinstance(value, str) and len(value) > 120:
                outline[key] = value[:117] + "..."
            else:
                outline[key] = value
            if _json_size(outline, limit) > limit:
                outline.pop(key)
                outline["truncated"] = True
                break
        return outline
    if isinstance(data, str):
        return data[: limit - 3] + "..."
    return None


def _json_size(value: Any, limit: int) -> int:
    """The size of ``value`` as JSON, exact up to ``limit``; past it, some size above ``limit``.

    Walks the value and stops as soon as the limit is passed, so a 5,000-guest result costs
    a few items, not an encoding of the whole list.
    """
    size = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            size += 2 + len(item)
            for key, sub in item.items():
                size += len(str(key)) + 3
                stack.append(sub)
        elif isinstance(item, list | tuple):
            size += 2 + len(item)
            stack.extend(item)
        elif isinstance(item, str):
            size += len(json.dumps(item)) if len(item) < limit else len(item) + 2
        else:
            size += len(json.dumps(item, default=str))
        if size > limit:
            return size
    return size
