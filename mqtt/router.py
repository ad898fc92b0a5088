"""Request/response and command routing: turn incoming messages into hub calls and replies."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jarvis.core import Caller
from jarvis.core.tools import Reply, error
from jarvis.mqtt.packets import valid_publish_topic

if TYPE_CHECKING:
    from jarvis.core.hub import Hub
    from jarvis.mqtt.client import InMessage

log = logging.getLogger("jarvis.mqtt.router")
_SAFE_SEGMENT = re.compile(r"[^A-Za-z0-9_.-]+")
COMMAND_VERBS = ("set", "action")


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
            result: Reply | AsyncIterator[dict[str, Any]]
            if bad_reply_topic:
                # Answer where we can instead of failing to publish (and never running the call).
                result, transaction = error("invalid_response_topic", "the Response Topic must be a topic "
                                            "name without + or #"), None
            else:
                result, transaction = await self._request(command, message.payload)
            reply_to = None if bad_reply_topic else message.response_topic
            topic = reply_to or f"{self.base}/bridge/response/" + "/".join(
                safe_topic_part(p) for p in command.split("/")
            )
            if not isinstance(result, dict):  # a streaming reply
                self.counters["requests"] += 1
                return Outgoing(topic, {}, message.correlation_data, stream=result, transaction=transaction)
            reply = result
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

    async def _request(self, command: str, payload: bytes) -> tuple[Reply | AsyncIterator[dict[str, Any]], Any]:
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
        return await self.hub.request(command, args, Caller("mqtt")), transaction

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
