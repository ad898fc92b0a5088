"""The MQTT bridge: attaches a hub to the broker per the topic contract."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from jarvis.core.api import Event
from jarvis.core.hub import Hub
from jarvis.core.redact import redact, redact_value
from jarvis.core.runner import supervised
from jarvis.mqtt.client import BrokerLink, InMessage, LinkDown
from jarvis.mqtt.publisher import StatePublisher, encode
from jarvis.mqtt.router import Outgoing, Router
from jarvis.mqtt.sessions import DynsecSessions

log = logging.getLogger("jarvis.mqtt")
ONLINE = b'{"state":"online"}'
OFFLINE = b'{"state":"offline"}'
LOG_QUEUE_MAX = 1000
SESSION_SWEEP_S = 30.0


class BridgeLogHandler(logging.Handler):
    """Forwards warnings and errors to ``<base>/bridge/log`` (redacted, never blocking)."""

    def __init__(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        super().__init__(logging.WARNING)
        self.queue = queue

    def emit(self, record: logging.LogRecord) -> None:
        """Queue a record as ``{"level","plugin","message"}``; drop it when the queue is full."""
        name = record.name
        plugin = name.split(".")[2] if name.startswith("jarvis.plugins.") and name.count(".") >= 2 else name
        try:
            self.queue.put_nowait({"level": record.levelname.lower(), "plugin": plugin,
                                   "message": redact(record.getMessage())})
        except asyncio.QueueFull:
            pass


class MqttBridge:
    """Publishes the hub's state and events, and routes requests and commands to it."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        cfg = hub.config.mqtt
        self.base = cfg.base_topic
        self.publisher = StatePublisher(self.base, self._send_state, cfg.deadbands, cfg.relative_deadbands,
                                        hub.registrations.kinds.items.values())
        self.router = Router(hub, self.base, cfg.max_payload_bytes)
        self.link = BrokerLink(
            cfg,
            will_topic=f"{self.base}/bridge/state",
            will_payload=OFFLINE,
            on_connect=self._on_connect,
            on_message=self._on_message,
            is_control=self.router.is_control,
        )
        self.sessions = DynsecSessions(hub, self.link, self.base)
        self._confirm_prefix = f"{self.base}/confirm/"
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)
        self._logs: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=LOG_QUEUE_MAX)
        self._log_handler = BridgeLogHandler(self._logs)
        self._tasks: list[asyncio.Task[Any]] = []
        self._unsubscribe: list[Any] = []

    async def start(self) -> None:
        """Attach to the hub and start the broker link."""
        self._unsubscribe.append(self.hub.state.subscribe(self.publisher.on_changes))
        self._unsubscribe.append(self.hub.events_subscribe(self._on_event))
        self.hub.health_extras.append(self._health)
        self.hub.broker_sessions = self.sessions
        logging.getLogger("jarvis").addHandler(self._log_handler)
        # Publish only once subscribed: whoever sees our state can command us at once.
        online = self.link.ready
        # Each loop is supervised: one that dies is logged and restarted, never silently gone
        # (a dead event drain would end the audit trail).
        for factory, name in (
            (self.link.run, "mqtt-link"),
            (lambda: self.publisher.run(online), "mqtt-publisher"),
            (lambda: self._drain(self._events, f"{self.base}/event"), "mqtt-events"),
            (lambda: self._drain(self._logs, f"{self.base}/bridge/log"), "mqtt-log"),
            (self._sweep_sessions, "mqtt-sessions"),
        ):
            self._tasks.append(asyncio.create_task(supervised(factory, name), name=name))

    async def wait_connected(self, within_s: float = 10.0) -> None:
        """Wait until the hub is online on the broker (TimeoutError after ``within_s``)."""
        async with asyncio.timeout(within_s):
            await self.link.ready.wait()

    async def stop(self) -> None:
        """Say offline, detach and close the link."""
        logging.getLogger("jarvis").removeHandler(self._log_handler)
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._health in self.hub.health_extras:
            self.hub.health_extras.remove(self._health)
        if self.hub.broker_sessions is self.sessions:
            self.hub.broker_sessions = None
        if self.link.connected.is_set():
            try:
                await asyncio.wait_for(self.publisher.flush(), 5)
            except (LinkDown, TimeoutError):
                pass
            await self.link.disconnect_cleanly(f"{self.base}/bridge/state", OFFLINE)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_connect(self, link: BrokerLink) -> None:
        # Confirmations retained by an earlier run (killed before it could clear them) arrive
        # on this subscription and are cleared: nobody could approve them any more.
        await link.subscribe([*self.router.subscriptions(), f"{self.base}/confirm/+"])
        await self.sessions.on_connect(link)
        self.hub.publish_info()
        await self.publisher.republish_all(self.hub.state.items())
        await link.publish(f"{self.base}/bridge/state", ONLINE, retain=True, qos=1)

    async def _on_message(self, message: InMessage) -> None:
        if self.sessions.handle(message):
            return
        if message.topic.startswith(self._confirm_prefix):
            await self._forget_confirmation(message)
            return
        reply = await self.router.route(message)
        if reply is None:
            return
        try:
            if reply.stream is not None:
                await self._stream(reply)
            else:
                await self.link.publish(reply.topic, encode(reply.payload), correlation_data=reply.correlation_data)
        except LinkDown:
            log.debug("reply to %s lost: broker link down", reply.topic)

    async def _forget_confirmation(self, message: InMessage) -> None:
        """Clear a retained confirmation this hub does not hold (left by an earlier run)."""
        cid = message.topic[len(self._confirm_prefix):]
        if not message.payload or cid in self.hub.pipeline.confirmations:
            return
        try:
            await self.link.publish(message.topic, b"", retain=True, qos=1)
        except LinkDown:
            return
        log.warning("cleared confirmation %s left retained by an earlier run (it can no longer be approved)",
                    cid[:64])

    async def _sweep_sessions(self) -> None:
        while True:
            await asyncio.sleep(SESSION_SWEEP_S)
            await self.sessions.expire()

    async def _stream(self, reply: Outgoing) -> None:
        """Publish a streaming reply's messages as they come, in order, each with ``seq``.

        The stream's own last message may say ``"final": true``; if it does not, or the stream
        breaks, a closing message (an error, or ``{"final": true}``) follows, so a reader always
        knows the reply is complete.
        """
        assert reply.stream is not None
        seq = 0
        final = False
        try:
            async for item in reply.stream:
                final = bool(item.get("final"))
                await self._publish_part(reply, item, seq)
                seq += 1
        except LinkDown:
            raise
        except Exception as exc:  # noqa: BLE001 - the stream's reader gets an error, not silence
            log.exception("streaming reply to %s failed", reply.topic)
            await self._publish_part(reply, {"status": "error", "type": "error", "final": True, "error": {
                "code": "internal", "message": f"{type(exc).__name__}: {exc}"}}, seq)
            return
        if not final:
            await self._publish_part(reply, {"final": True}, seq)

    async def _publish_part(self, reply: Outgoing, item: dict[str, Any], seq: int) -> None:
        payload = {**redact_value(item), "seq": seq, "transaction": reply.transaction}
        await self.link.publish(reply.topic, encode(payload), correlation_data=reply.correlation_data)

    async def _send_state(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish retained state messages through the broker link."""
        await self.link.publish_retained(messages)

    def _on_event(self, event: Event) -> None:
        try:
            self._events.put_nowait(redact_value(event.to_dict()))
        except asyncio.QueueFull:
            self.link.counters["dropped"] += 1

    async def _drain(self, queue: asyncio.Queue[dict[str, Any]], topic: str) -> None:
        while True:
            item = await queue.get()
            await self.link.ready.wait()
            try:
                await self.link.publish(topic, encode(item))
            except LinkDown:
                pass

    def _health(self) -> dict[str, Any]:
        return {"mqtt": {**self.link.info(), **self.publisher.counters, **self.router.counters,
                         "last_flush": self.publisher.last_flush}}
