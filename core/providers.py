"""What a plugin may provide besides tools and sources, as Protocols the registries check.

The core validates each registration against its Protocol (the members must exist), so a
plugin that registers the wrong object fails at start with a message naming what is missing,
not later at the first use. The capabilities that use them (the assistant, memory, the monitor,
Home Assistant, the dashboard) define the behaviour in their own documentation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
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
    """What Jarvis remembers: events, the audit trail, conversations, preferences, memories.

    Config picks one store by name (``hub.memory``); ``ctx.memory()`` returns it. Writes are
    plain methods and must be cheap (an append in memory): the hub and plugins call them on
    the event loop. Reads are coroutines, because a store may read files to answer. Records
    are JSON objects with at least ``id`` and ``ts``; secrets are masked before anything is kept.
    See docs/memory.md for the fields of each record.
    """

    def record_event(self, event: Mapping[str, Any]) -> str:
        """Store one hub event (``Event.to_dict()``); return its record id."""

    def record_action(self, action: Mapping[str, Any]) -> str:
        """Store one tool call of the audit trail (tool, status, call_id, args...); return its id."""

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
        """Store one chat message of a session (role: user, assistant, system or tool)."""

    def set_preference(self, key: str, value: Any) -> None:
        """Set a user preference ("vm 105 is my k3s master"); it never expires."""

    def remember(self, text: str, tier: str = "30d", tags: Sequence[str] = ()) -> str:
        """Remember a fact for a tier (``7d``, ``30d``, ``permanent``); return its id."""

    def forget(self, key: str) -> bool:
        """Forget a memory (by id) or a preference (by key); tell whether one existed."""

    def save_value(self, key: str, value: Any) -> None:
        """Keep a small value across restarts (hub and plugin state; never shown to an LLM)."""

    def load_value(self, key: str, default: Any = None) -> Any:
        """Return a value kept with ``save_value``, or ``default``."""

    async def resolve_event(self, event_id: str, by: str = "user") -> dict[str, Any] | None:
        """Mark an event resolved (its record id or the hub's event id); None when unknown."""

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
        """Return recent events matching every filter, newest first (``unresolved``: open alerts)."""

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
        """Return audit entries, newest first (``target`` is ``"guest:105"``, ``call_id`` one call)."""

    async def history(self, session: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Return a session's last ``limit`` messages (all by default), oldest first."""

    async def search(
        self, text: str, *, tables: Sequence[str] | None = None, since: Any = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Return records containing every word of ``text``, newest first, each with its ``table``."""

    async def preferences(self) -> dict[str, Any]:
        """Return every preference."""

    async def memories(self, tag: str | None = None) -> list[dict[str, Any]]:
        """Return the memories not expired (optionally with a tag), newest first."""

    async def context(
        self, budget: str | int = "small", *, session: str | None = None, topic: str | None = None
    ) -> dict[str, Any]:
        """Build an LLM's context from current state and memory within a token budget.

        ``budget`` names a profile (``small``: a 4,096-token local model; ``large``: a 200 k
        model) or gives tokens. Returns ``text``, ``tokens``, ``budget``, ``max_tokens`` and,
        with a ``session``, its last ``messages``.
        """


@runtime_checkable
class WebBlueprint(Protocol):
    """A Quart blueprint; the dashboard mounts it under ``/plugins/<plugin>/``."""

    name: str

    def register(self, app: Any, options: dict[str, Any]) -> None:
        """Attach the blueprint's routes to the app."""


DiscoveryBuilder = Callable[[tuple[str, ...], Mapping[str, Any]], Mapping[str, Any] | None]
"""``build(key, payload)``: extra Home Assistant components for one entity, or None."""
