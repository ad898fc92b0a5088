"""What a plugin may provide besides tools and sources, as Protocols the registries check.

The core validates each registration against its Protocol (the members must exist), so a
plugin that registers the wrong object fails at start with a message naming what is missing,
not later at the first use. The capabilities that use them (the assistant, memory, the monitor,
Home Assistant, the dashboard) define the behaviour in their own documentation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Reply = dict[str, Any]
"""A reply of the contract: ``{"status": "ok", "data": ...}`` or an error/confirmation."""

ReplyStream = AsyncIterator[dict[str, Any]]
"""Several ordered messages to one response topic; the last one is marked final."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the call source (``mqtt``, ``cli``, ``llm``...) and, when known, the user.

    ``user`` is what something the caller cannot forge says (a broker user the broker
    authenticated, a dashboard login); ``role`` is that user's role in config.
    """

    source: str
    user: str | None = None
    role: str | None = None

    @property
    def label(self) -> str:
        """Return ``source`` or ``source:user``, as events and audit entries show it."""
        return f"{self.source}:{self.user}" if self.user else self.source


@dataclass(frozen=True, slots=True, kw_only=True)
class CallSource:
    """A kind of caller of the tool pipeline. Only ``human`` sources may answer confirmations."""

    name: str
    human: bool
    description: str


RequestHandler = Callable[[dict[str, Any], Caller], Awaitable[Reply | ReplyStream] | ReplyStream]
"""``async def handler(args, caller)`` returning a reply or a stream, or an async generator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCommand:
    """A request on ``<base>/bridge/request/<name>``: ``handler(args, caller)`` returns a reply,
    or an async iterator of messages (a stream: each goes to the response topic in order).

    ``control`` requests (autonomy, confirm) are answered at once, never queued behind slow work.
    ``prefix`` commands also take ``<name>/<rest>``: ``rest`` arrives as ``args["_path"]``.
    ``permission`` is what the caller's role needs besides sending requests: ``None`` (any
    requester), or one of ``chat``, ``approve``, ``autonomy``, ``terminal``, ``commands``.
    """

    name: str
    handler: RequestHandler
    description: str
    control: bool = False
    prefix: bool = False
    permission: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerIdentity:
    """Broker credentials for one browser session, with the topics its user may use.

    ``username``/``password`` are None on an anonymous broker (the demo). The browser
    publishes under ``topic_prefix`` (``<base>/user/<user>``, or ``<base>`` in the demo) and
    reads its replies under ``reply_prefix`` (``<base>/reply/<user>``); the broker refuses
    anything else, whatever the page does.
    """

    user: str
    role: str
    username: str | None
    password: str | None
    topic_prefix: str
    reply_prefix: str
    expires_at: str


class BrokerSessionError(RuntimeError):
    """A broker identity could not be minted or revoked (no such user, no role, broker unable)."""


@runtime_checkable
class BrokerSessions(Protocol):
    """Mints short-lived broker identities whose ACL matches a user's role (the dashboard's login)."""

    async def mint(self, user: str, *, ttl_s: float | None = None) -> BrokerIdentity:
        """Create a broker identity for ``user`` (its role from the users file)."""

    async def revoke(self, username: str) -> None:
        """Delete one minted identity now (logout); its connection is dropped."""

    async def revoke_user(self, user: str) -> int:
        """Delete every identity minted for ``user``; return how many."""


@runtime_checkable
class LlmBackend(Protocol):
    """A chat model the assistant can route to (``kind``: ``local``, ``cloud`` or ``rules``)."""

    kind: str
    model: str

    def chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], **options: Any) -> Any:
        """Stream a reply as chunks (text deltas, tool calls, usage); see docs/assistant.md."""


@runtime_checkable
class MemoryStore(Protocol):
    """Where the hub's history goes: events, the audit trail, conversations, snapshots."""

    def record_event(self, event: Mapping[str, Any]) -> None:
        """Store one hub event."""

    def recent_events(self, **filters: Any) -> list[dict[str, Any]]:
        """Return recent events, newest first."""

    def search(self, text: str, **filters: Any) -> list[dict[str, Any]]:
        """Return records matching ``text``, newest first."""


@runtime_checkable
class WebBlueprint(Protocol):
    """A Quart blueprint; the dashboard mounts it under ``/plugins/<plugin>/``."""

    name: str

    def register(self, app: Any, options: dict[str, Any]) -> None:
        """Attach the blueprint's routes to the app."""


DiscoveryBuilder = Callable[[tuple[str, ...], Mapping[str, Any]], Mapping[str, Any] | None]
"""``build(key, payload)``: extra Home Assistant components for one entity, or None."""
