"""Request/response and command routing: turn incoming messages into hub calls and replies."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jarvis.core.tools import Reply, error, ok

if TYPE_CHECKING:
    from jarvis.core.hub import Hub
    from jarvis.mqtt.client import InMessage

log = logging.getLogger("jarvis.mqtt.router")
REQUEST_COMMANDS = ("tool", "confirm", "autonomy", "refresh", "plugins")
_SAFE_SEGMENT = re.compile(r"[^A-Za-z0-9_.-]+")
COMMAND_VERBS = ("set", "action")


@dataclass(slots=True)
class Outgoing:
    """A reply to send: topic, JSON payload and the correlation data to echo."""

    topic: str
    payload: dict[str, Any]
    correlation_data: bytes | None = None


def safe_topic_part(value: str) -> str:
    """Keep a reply topic segment free of wildcards and odd characters."""
    return _SAFE_SEGMENT.sub("_", value)[:96] or "_"


def valid_publish_topic(topic: str) -> bool:
    """Return True when ``topic`` can be published to (no wildcards, no NUL, not too long)."""
    return bool(topic) and not any(c in topic for c in "+#\0") and len(topic.encode()) <= 65535


class BadPayload(Exception):
    """A payload that is not what the topic expects."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    """Parse strict JSON; every way it can fail becomes BadPayload."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BadPayload(f"payload is not valid JSON ({exc.msg} at char {exc.pos})") from None
    except RecursionError:
        raise BadPayload("payload is not acceptable JSON (nested too deeply)") from None
    except ValueError as exc:  # NaN/Infinity, integers beyond Python's digit limit
        raise BadPayload(f"payload is not acceptable JSON ({str(exc)[:80]})") from None


def decode_request(payload: bytes) -> dict[str, Any]:
    """Decode a request payload: empty, or a UTF-8 JSON object."""
    if not payload.strip():
        return {}
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPayload("payload is not UTF-8 text; send a JSON object") from None
    value = _loads(text)
    if not isinstance(value, dict):
        raise BadPayload(f'payload must be a JSON object like {{"args": {{}}}}, got {type(value).__name__}')
    return value


def decode_command(payload: bytes) -> Any:
    """Decode a command payload: a JSON object, or plain text like ``start``."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadPayload("payload is not UTF-8 text") from None
    if text.startswith("{"):
        return _loads(text)
    if text.startswith('"'):
        try:
            return _loads(text)
        except BadPayload:
            pass
    return text


class Router:
    """Routes request and command topics under one base topic to the hub."""

    def __init__(self, hub: Hub, base: str, max_payload: int) -> None:
        self.hub = hub
        self.base = base
        self.max_payload = max_payload
        self.counters = {"requests": 0, "errors": 0, "ignored_retained": 0}

    def subscriptions(self) -> list[str]:
        """Return the topic filters the router needs."""
        b = self.base
        return [f"{b}/bridge/request/#", f"{b}/+/+/set", f"{b}/+/+/action", f"{b}/+/+/+/action"]

    async def route(self, message: InMessage) -> Outgoing | None:
        """Handle one message; return the reply to publish, if any."""
        prefix = self.base + "/"
        if not message.topic.startswith(prefix):
            return None
        rel = message.topic[len(prefix):]
        is_request = rel.startswith("bridge/request/")
        if message.retain:
            self.counters["ignored_retained"] += 1
            log.warning("ignored a retained message on command topic %s (commands must not be retained)", message.topic)
            return None
        bad_reply_topic = message.response_topic is not None and not valid_publish_topic(message.response_topic)
        if is_request:
            command = rel[len("bridge/request/"):]
            if bad_reply_topic:
                # Answer where we can instead of failing to publish (and never running the call).
                reply, transaction = error("invalid_response_topic", "the Response Topic must be a topic "
                                           "name without + or #"), None
            else:
                reply, transaction = await self._request(command, message.payload)
            reply_to = None if bad_reply_topic else message.response_topic
            topic = reply_to or f"{self.base}/bridge/response/" + "/".join(
                safe_topic_part(p) for p in command.split("/")
            )
        else:
            if bad_reply_topic:
                log.warning("ignored a command on %s: its Response Topic is not a topic name", message.topic)
                return None
            reply, transaction = await self._command(rel, message.payload), None
            if message.response_topic is None:
                if reply["status"] == "error":
                    log.warning("command on %s failed: %s", message.topic, reply["error"]["message"])
                return None
            topic = message.response_topic
        self.counters["requests"] += 1
        if reply["status"] == "error":
            self.counters["errors"] += 1
        reply["transaction"] = transaction
        return Outgoing(topic, reply, message.correlation_data)

    async def _request(self, command: str, payload: bytes) -> tuple[Reply, Any]:
        if len(payload) > self.max_payload:
            return error("too_large", f"payload of {len(payload)} bytes exceeds {self.max_payload}"), None
        try:
            body = decode_request(payload)
        except BadPayload as exc:
            return error("invalid_payload", str(exc)), None
        transaction = body.get("transaction")
        args = body.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return error("invalid_args", f'"args" must be a JSON object, got {type(args).__name__}'), transaction
        head, _, rest = command.partition("/")
        try:
            return await self._dispatch(head, rest, args), transaction
        except Exception as exc:  # noqa: BLE001 - a reply, never a crash
            log.exception("request %s failed", command[:80])
            return error("internal", f"{type(exc).__name__}: {exc}"), transaction

    async def _dispatch(self, head: str, rest: str, args: dict[str, Any]) -> Reply:
        hub = self.hub
        if head == "tool" and rest:
            return await hub.call_tool(rest, args, source="mqtt")
        if rest:
            known = ", ".join(REQUEST_COMMANDS)
            return error("unknown_command", f"unknown request {head}/{rest[:60]}; use one of {known}")
        if head == "confirm":
            return await hub.pipeline.resolve_confirmation(args.get("id"), args.get("approve"), source="mqtt")
        if head == "autonomy":
            return await hub.set_autonomy(args.get("mode"))
        if head == "refresh":
            return ok({"sources": await hub.refresh()})
        if head == "plugins":
            return ok(hub.plugin_statuses())
        return error("unknown_command", f"unknown request {head[:60]!r}; use one of {', '.join(REQUEST_COMMANDS)}")

    async def _command(self, rel: str, payload: bytes) -> Reply:
        parts = rel.split("/")
        if len(parts) < 3 or parts[-1] not in COMMAND_VERBS or parts[0] == "bridge":
            return error("unknown_command", f"not a command topic: {rel[:80]}")
        if len(payload) > self.max_payload:
            return error("too_large", f"payload of {len(payload)} bytes exceeds {self.max_payload}")
        try:
            decoded = decode_command(payload)
        except BadPayload as exc:
            return error("invalid_payload", str(exc))
        try:
            return await self.hub.handle_command(parts[0], tuple(parts[1:-1]), parts[-1], decoded, source="mqtt")
        except Exception as exc:  # noqa: BLE001
            log.exception("command %s failed", rel[:80])
            return error("internal", f"{type(exc).__name__}: {exc}")
