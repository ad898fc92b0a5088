"""Safety rules: protected resources, rate limits and pending confirmations."""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jarvis.core.api import Target
from jarvis.core.config import SafetyConfig
from jarvis.core.providers import Caller


def is_protected(safety: SafetyConfig, target: Target | None, guest_name: str | None = None) -> bool:
    """Return True when config protects ``target`` (a guest by vmid or by its ``guest_name``)."""
    if target is None:
        return False
    protected = safety.protected
    if target.kind == "guest":
        wanted = {str(g) for g in protected.guests}
        return target.id in wanted or (guest_name is not None and guest_name in wanted)
    if target.kind == "node":
        return target.id in protected.nodes
    if target.kind == "docker":
        return target.id in protected.containers
    if target.kind == "host":  # a Proxmox node is also an SSH host by its name
        return target.id in protected.hosts or target.id in protected.nodes
    return False


class RateLimiter:
    """Sliding one-minute windows per tool and per (tool, target)."""

    def __init__(self, per_tool: int, per_target: int, window_s: float = 60.0) -> None:
        self.per_tool = per_tool
        self.per_target = per_target
        self.window_s = window_s
        self._calls: dict[tuple[str, ...], deque[float]] = {}

    def check(self, tool: str, target: Target | None) -> str | None:
        """Record a call; return why it is refused, or None when allowed."""
        now = time.monotonic()
        keys: list[tuple[tuple[str, ...], int]] = [((tool,), self.per_tool)]
        if target is not None:
            keys.append(((tool, target.kind, target.id), self.per_target))
        for key, limit in keys:
            window = self._calls.setdefault(key, deque())
            while window and now - window[0] > self.window_s:
                window.popleft()
            if len(window) >= limit:
                scope = "per target" if len(key) > 1 else "per tool"
                return f"{tool}: more than {limit} calls a minute ({scope}); try again shortly"
        for key, _limit in keys:
            self._calls[key].append(now)
        return None


@dataclass(slots=True)
class Confirmation:
    """A dangerous call waiting for a human's approval; it runs as its requester once approved."""

    tool: str
    args: dict[str, Any]
    risk: str
    reason: str
    caller: Caller
    ttl_s: float
    source: str = ""  # the call source it runs as once approved
    target: Target | None = None
    trusted: bool = False  # asked from inside the process (no role to check)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    created: float = field(default_factory=time.monotonic)
    expires_at: str = ""

    def __post_init__(self) -> None:
        self.source = self.source or self.caller.source
        expires = datetime.now(UTC) + timedelta(seconds=self.ttl_s)
        self.expires_at = expires.isoformat(timespec="seconds").replace("+00:00", "Z")

    @property
    def requested_by(self) -> str:
        """Who asked, as events and audit entries show it (``mqtt:alice``)."""
        return self.caller.label

    def expired(self) -> bool:
        """Return True once the confirmation's time is up."""
        return time.monotonic() - self.created > self.ttl_s

    def saved(self) -> dict[str, Any]:
        """Return what memory keeps of it across a restart: the public payload, who asked, the target."""
        caller = {"source": self.caller.source, "user": self.caller.user, "role": self.caller.role}
        target = {"kind": self.target.kind, "id": self.target.id} if self.target is not None else None
        return {**self.public(), "source": self.source, "caller": caller, "trusted": self.trusted, "target": target}

    @classmethod
    def restore(cls, saved: dict[str, Any], now: datetime | None = None) -> Confirmation | None:
        """Rebuild a confirmation kept by ``saved()``; None once it has expired (or is malformed)."""
        try:
            expires = datetime.fromisoformat(str(saved["expires_at"]).replace("Z", "+00:00"))
            left = (expires - (now or datetime.now(UTC))).total_seconds()
            if left <= 0:
                return None
            who = saved.get("caller") or {}
            source, _, user = str(saved["requested_by"]).partition(":")
            caller = Caller(str(who.get("source") or source), who.get("user") or user or None, who.get("role"))
            target = saved.get("target")
            restored = cls(tool=str(saved["tool"]), args=dict(saved["args"]), risk=str(saved["risk"]),
                           reason=str(saved["reason"]), caller=caller, ttl_s=left,
                           source=str(saved.get("source") or ""), id=str(saved["id"]),
                           trusted=bool(saved.get("trusted")),
                           target=Target(str(target["kind"]), str(target["id"])) if target else None)
        except (KeyError, TypeError, ValueError):
            return None
        restored.expires_at = str(saved["expires_at"])
        return restored

    def public(self) -> dict[str, Any]:
        """Return the retained payload of ``<base>/confirm/<id>``."""
        return {
            "id": self.id,
            "tool": self.tool,
            "args": self.args,
            "risk": self.risk,
            "reason": self.reason,
            "requested_by": self.requested_by,
            "expires_at": self.expires_at,
        }
