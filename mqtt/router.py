"""Request, command and chat routing: turn incoming messages into hub calls, as their sender.

Every input topic exists twice: shared (``<base>/bridge/request/tool/x``) and per user
(``<base>/user/<u>/bridge/request/tool/x``); ``identity.py`` says who sent which. Replies go
to the request's Response Topic only when it lies in the sender's reply space.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jarvis.core.redact import MASK
from jarvis.core.tools import Reply, error
from jarvis.mqtt.codec import BadPayload, age_s, decode_command, decode_request, submitted_strings
from jarvis.mqtt.identity import Identities, Origin, valid_ids, valid_session

if TYPE_CHECKING:
    from jarvis.core.hub import Hub
    from jarvis.mqtt.client import InMessage

__all__ = ["BadPayload", "Outgoing", "Router", "decode_command", "decode_request", "safe_topic_part"]

log = logging.getLogger("jarvis.mqtt.router")
_SAFE_SEGMENT = re.compile(r"[^A-Za-z0-9_.-]+")
CONTROL_REQUESTS = frozenset({"confirm", "autonomy"})
MIN_SECRET = 4  # shorter values are never registered as secrets (core/redact.py)
TOPIC_WORDS = frozenset({"bridge", "request", "response", "autonomy", "chat", "user", "reply", "set", "action",
                         "tool", "state"})


@dataclass(slots=True)
class Outgoing:
    """A reply to send: topic, JSON payload and the correlation data to echo.

    A streaming reply has ``stream`` set instead: its messages go to ``topic`` in order, each
    with ``seq`` and the transaction, the last one with ``"final": true``.
    """

    topic: str
    payload: dict[str, Any]
    correlation_data: bytes | None = None
    stream: AsyncIterator[dict[str, Any]] | None = None
    transaction: Any = None


def safe_topic_part(value: str) -> str:
    """Keep a reply topic segment free of wildcards and odd characters."""
    return _SAFE_SEGMENT.sub("_", value)[:96] or "_"


def _safe(rel: str) -> str:
    return "/".join(safe_topic_part(p) for p in rel.split("/"))


class Router:
    """Routes request, command and chat topics under one base topic to the hub."""

    def __init__(self, hub: Hub, base: str, max_payload: int) -> None:
        self.hub = hub
        self.base = base
        self.max_payload = max_payload
        self.identities = Identities(hub, base)
        self.counters = {"requests": 0, "errors": 0, "ignored_retained": 0, "refused_reply_topics": 0,
                         "expired": 0}

    def subscriptions(self) -> list[str]:
        """Return the topic filters the router needs (shared and per-user input topics)."""
        b = self.base
        shared = [f"{b}/bridge/request/#", f"{b}/+/+/set", f"{b}/+/+/action", f"{b}/+/+/+/action", f"{b}/chat/+/in"]
        personal = [f"{b}/user/+/bridge/request/#", f"{b}/user/+/+/+/set", f"{b}/user/+/+/+/action",
                    f"{b}/user/+/+/+/+/action", f"{b}/user/+/chat/+/in"]
        return shared + personal

    def is_control(self, topic: str) -> bool:
        """True for the kill switch and answers to confirmations: they never wait behind slow work."""
        origin = self.identities.origin(topic)
        if origin is None:
            return False
        if origin.family == "autonomy":
            return True
        if origin.family == "request":
            command = origin.rel[len("bridge/request/"):]
            found = self.hub.registrations.requests.get(command)
            return command in CONTROL_REQUESTS or (found is not None and found.control)
        return False

    async def route(self, message: InMessage) -> Outgoing | None:
        """Handle one message; return the reply to publish, if any."""
        origin = self.identities.origin(message.topic)
        if origin is None:
            return None
        if message.retain:
            self.counters["ignored_retained"] += 1
            log.warning("ignored a retained message on command topic %s (commands must not be retained)", message.topic)
            return None
        if origin.family == "chat":
            return await self._chat(origin, message)
        command = origin.rel[len("bridge/request/"):] if origin.family == "request" else ""
        default = self.identities.default_reply(origin, "bridge/response/" + _safe(command)) if command else None
        topic, refused = self._reply_topic(origin, message, default)
        if refused:
            # Never run what was asked with an answer aimed elsewhere: it may be an attempt to make
            # the hub publish (or execute) on a topic its sender may not use.
            return self._answer(error("invalid_response_topic", self._refused_text(origin)), None, topic,
                                origin, message)
        if command:
            result, transaction = await self._run_request(origin, command, message.payload)
            if not isinstance(result, dict):  # a streaming reply
                self.counters["requests"] += 1
                return Outgoing(topic or "", {}, message.correlation_data, stream=result, transaction=transaction)
            return self._answer(result, transaction, topic, origin, message)
        return self._answer(await self._command(origin, message), None, topic, origin, message)

    # -- replies ------------------------------------------------------------------------------------

    def _reply_topic(self, origin: Origin, message: InMessage, default: str | None) -> tuple[str | None, bool]:
        """(topic, refused): the Response Topic if the sender may read it, else ``default``."""
        wanted = message.response_topic
        if wanted is None:
            return default, False
        if self.identities.reply_allowed(origin, wanted):
            return wanted, False
        self.counters["refused_reply_topics"] += 1
        log.warning("refused the Response Topic %r of a message on %s: %s", wanted[:120], message.topic[:120],
                    self._refused_text(origin))
        return default, True

    def _answer(
        self, reply: Reply, transaction: Any, topic: str | None, origin: Origin, message: InMessage
    ) -> Outgoing | None:
        self.counters["requests"] += 1
        if reply["status"] == "error":
            self.counters["errors"] += 1
            reply["error"]["message"] = self._unquote(reply["error"]["message"], origin, message)
            if topic is None:
                log.warning("%s on %s failed: %s", origin.family, message.topic[:120], reply["error"]["message"])
        if topic is None:
            return None
        reply["transaction"] = transaction
        return Outgoing(topic, reply, message.correlation_data)

    def _unquote(self, text: str, origin: Origin, message: InMessage) -> str:
        """Mask what the sender submitted wherever an error quotes it (a plugin's message may).

        Secrets are masked in every message; if a submitted guess were masked only when it was
        a secret, the reply would confirm the guess. So every submitted string is masked alike,
        except the hub's public names (tools, requests), which the sender could read anyway.
        """
        public = self._public_names()
        for value in sorted(submitted_strings(origin.rel, message.payload), key=len, reverse=True):
            if len(value) >= MIN_SECRET and value not in public and value in text:
                text = text.replace(value, MASK)
        return text

    def _public_names(self) -> set[str]:
        registrations = self.hub.registrations
        kinds = registrations.kinds.items.values()
        return {*TOPIC_WORDS, *self.hub.pipeline.registry.tools, *registrations.requests,
                *registrations.call_sources, *(kind.topic.split("/")[0] for kind in kinds),
                *(payload for kind in kinds for verb in kind.verbs for payload in verb.payloads)}

    def _refused_text(self, origin: Origin) -> str:
        if origin.readers is None:
            return f"the Response Topic must be a topic under {self.base}/reply/ (no + or #); nothing was run"
        spaces = " or ".join(f"{self.base}/reply/{u}/..." for u in origin.readers)
        return f"the Response Topic must be in your reply space ({spaces}); nothing was run"

    # -- requests ---------------------------------------------------------------------------------

    async def _run_request(
        self, origin: Origin, command: str, payload: bytes
    ) -> tuple[Reply | AsyncIterator[dict[str, Any]], Any]:
        if len(payload) > self.max_payload:
            return error("too_large", f"payload of {len(payload)} bytes exceeds {self.max_payload}"), None
        try:
            body = decode_request(payload)
            age = age_s(body)
        except BadPayload as exc:
            return error("invalid_payload", str(exc)), None
        transaction = body.get("transaction")
        if origin.caller is None:
            return error("forbidden", origin.refusal or "unknown sender"), transaction
        expired = self._expired(age)
        if expired is not None:
            return expired, transaction
        args = body.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return error("invalid_args", f'"args" must be a JSON object, got {type(args).__name__}'), transaction
        return await self.hub.request(command, args, origin.caller), transaction

    def _expired(self, age: float | None) -> Reply | None:
        limit = self.hub.config.mqtt.max_message_age_s
        if age is None or age <= limit:
            return None
        self.counters["expired"] += 1
        return error("expired", f"sent {age:.0f} s ago, more than mqtt.max_message_age_s ({limit:g} s): not run; "
                                "send it again if it is still wanted")

    # -- commands ---------------------------------------------------------------------------------

    async def _command(self, origin: Origin, message: InMessage) -> Reply:
        if origin.family not in ("command", "autonomy"):
            return error("unknown_command", "not a command topic")
        if len(message.payload) > self.max_payload:
            return error("too_large", f"payload of {len(message.payload)} bytes exceeds {self.max_payload}")
        try:
            decoded = decode_command(message.payload)
            age = age_s(decoded)
        except BadPayload as exc:
            return error("invalid_payload", str(exc))
        if origin.caller is None:
            return error("forbidden", origin.refusal or "unknown sender")
        expired = self._expired(age)
        if expired is not None:
            return expired
        if isinstance(decoded, dict):
            decoded.pop("ts", None)
        if origin.family == "autonomy":
            mode = decoded.get("mode") if isinstance(decoded, dict) else decoded.strip().lower()
            return await self.hub.set_autonomy(mode, caller=origin.caller)
        parts = origin.rel.split("/")
        if not valid_ids(parts[:-1]):
            return error("invalid_topic", "ids in command topics must be ASCII letters, digits, _ or -")
        try:
            return await self.hub.handle_command(parts[0], tuple(parts[1:-1]), parts[-1], decoded, source="mqtt",
                                                 caller=origin.caller)
        except Exception as exc:  # noqa: BLE001
            log.exception("command %s failed", origin.rel[:80])
            return error("internal", f"{type(exc).__name__}: {exc}")

    # -- chat ---------------------------------------------------------------------------------------

    async def _chat(self, origin: Origin, message: InMessage) -> Outgoing | None:
        """Hand ``chat/<session>/in`` to the ``chat`` request command; its stream goes to ``.../out``."""
        session = origin.rel.split("/")[1]
        out = self.identities.default_reply(origin, f"chat/{safe_topic_part(session)}/out")
        reply = await self._run_chat(origin, session, message.payload)
        if isinstance(reply, dict):
            if reply["status"] == "error":
                log.warning("chat on %s: %s", message.topic[:120], reply["error"]["message"])
                reply = {"type": "error", "message": reply["error"]["message"], "code": reply["error"]["code"]}
            return Outgoing(out, reply, message.correlation_data)
        self.counters["requests"] += 1
        return Outgoing(out, {}, message.correlation_data, stream=reply)

    async def _run_chat(self, origin: Origin, session: str, payload: bytes) -> Reply | AsyncIterator[dict[str, Any]]:
        if not valid_session(session):
            return error("invalid_topic", "a chat session id is 1-64 of ASCII letters, digits, _ or -")
        if len(payload) > self.max_payload:
            return error("too_large", f"payload of {len(payload)} bytes exceeds {self.max_payload}")
        try:
            decoded = decode_command(payload)
            age = age_s(decoded)
        except BadPayload as exc:
            return error("invalid_payload", str(exc))
        if origin.caller is None:
            return error("forbidden", origin.refusal or "unknown sender")
        expired = self._expired(age)
        if expired is not None:
            return expired
        refusal = self.hub.auth.check(origin.caller, "chat")
        if refusal is not None:
            return error("forbidden", refusal)
        if self.hub.registrations.requests.get("chat") is None:
            return error("unavailable", "no assistant is installed to answer chat (no `chat` request command)")
        args = dict(decoded) if isinstance(decoded, dict) else {"text": str(decoded)}
        args.pop("ts", None)
        args["session"] = session
        return await self.hub.request("chat", args, origin.caller, permission="chat")
