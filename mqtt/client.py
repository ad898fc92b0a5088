"""The broker link: the only module that imports aiomqtt (and paho's MQTT 5 properties).

Connects with MQTT 5 and falls back to 3.1.1 when the broker refuses, sets the Last Will,
keeps a persistent session (the broker queues QoS 1 commands while the hub is away, for at
most ``mqtt.max_message_age_s``), reconnects with a short jittered backoff, re-subscribes,
and hands every message to one callback: control messages (the kill switch, answers to
confirmations) at once, the rest through a bounded pool so slow work cannot pile up.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt
from jarvis.core.config import MqttConfig
from jarvis.mqtt import seams
from jarvis.mqtt.packets import encode_publishes
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

log = logging.getLogger("jarvis.mqtt")
FIRST_BACKOFF_S = 0.5
TAKEOVER_PAUSE_S = 10.0  # another client with our identity: do not fight it at full speed
SESSION_TAKEN_OVER = 142  # MQTT 5 DISCONNECT reason code (mosquitto 2.0 just closes the socket)
QUICK_DROP_S = 30.0  # dropped this soon after connecting, while the broker still accepts us...
QUICK_DROPS_FOR_TAKEOVER = 2  # ...this often within a minute: someone else connects as the hub
CONNECT_TIMEOUT_S = 5.0
# Both ends of the hub's link send at once (no Nagle): a QoS 1 round trip otherwise waits for
# the peer's delayed ACK, ~40 ms (docs/performance.md). mosquitto's side is set_tcp_nodelay.
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
STREAM_CHUNK_BYTES = 256 * 1024  # one queued write; keeps a reply from waiting behind megabytes


def _chunks(messages: Sequence[tuple[str, bytes]]) -> Iterator[Sequence[tuple[str, bytes]]]:
    """Split messages into runs of about STREAM_CHUNK_BYTES (at least one message each)."""
    start = 0
    while start < len(messages):
        size, end = 0, start
        while end < len(messages) and (size < STREAM_CHUNK_BYTES or end == start):
            size += len(messages[end][0]) + len(messages[end][1])
            end += 1
        yield messages[start:end]
        start = end


class LinkDown(Exception):
    """Publishing while the broker is unreachable."""


def _reason(error: aiomqtt.MqttError) -> int | None:
    """The MQTT reason code behind a disconnection, when the broker gave one."""
    rc = getattr(error, "rc", None)
    value = getattr(rc, "value", rc)
    return value if isinstance(value, int) else None


@dataclass(slots=True)
class InMessage:
    """An incoming message, free of any client library type."""

    topic: str
    payload: bytes
    retain: bool
    response_topic: str | None = None
    correlation_data: bytes | None = None


OnConnect = Callable[["BrokerLink"], Awaitable[None]]
OnMessage = Callable[[InMessage], Awaitable[None]]


class BrokerLink:
    """One connection to the broker, kept alive for the hub's lifetime."""

    def __init__(
        self,
        config: MqttConfig,
        *,
        will_topic: str,
        will_payload: bytes,
        on_connect: OnConnect,
        on_message: OnMessage,
        max_concurrent: int = 64,
        is_control: Callable[[str], bool] | None = None,
    ) -> None:
        self.config = config
        self.will = aiomqtt.Will(will_topic, will_payload, qos=1, retain=True)
        self.on_connect = on_connect
        self.on_message = on_message
        self.is_control = is_control or (lambda _topic: False)
        self.protocol: str | None = None
        self.connected = asyncio.Event()
        self.ready = asyncio.Event()  # connected, subscribed and on_connect done
        self.counters = {"published": 0, "received": 0, "dropped": 0, "connects": 0, "bytes_out": 0,
                         "takeovers": 0, "control": 0}
        self.last_disconnect: int | None = None  # the MQTT reason code of the last drop
        self._quick_drops: list[float] = []
        self._client: aiomqtt.Client | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(max_concurrent)

    def _client_for(self, protocol: str) -> aiomqtt.Client:
        cfg = self.config
        tls_context = None
        if cfg.tls.enabled:
            tls_context = ssl.create_default_context(cafile=cfg.tls.ca_file)
            if cfg.tls.certfile:
                tls_context.load_cert_chain(cfg.tls.certfile, cfg.tls.keyfile)
            if cfg.tls.insecure:
                tls_context.check_hostname = False
        v5 = protocol == "5"
        session: dict[str, Any] = {"clean_session": False}
        if v5:
            # A persistent session: the broker keeps our subscriptions and queues QoS 1
            # commands while we are away, but never longer than a command may wait.
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = int(cfg.max_message_age_s)
            session = {"clean_start": False, "properties": properties}
        client = aiomqtt.Client(
            cfg.host,
            cfg.port,
            username=cfg.username,
            password=cfg.password.get_secret_value() if cfg.password else None,
            identifier=cfg.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            will=self.will,
            keepalive=cfg.keepalive_s,
            timeout=CONNECT_TIMEOUT_S,
            tls_context=tls_context,
            tls_insecure=cfg.tls.insecure if cfg.tls.enabled else None,
            max_queued_outgoing_messages=100_000,
            socket_options=NO_DELAY,
            **session,
        )
        # The publisher sends state in concurrent chunks; that is intended, not a backlog.
        client.pending_calls_threshold = 10_000
        self._watch_disconnects(client)
        return client

    def _watch_disconnects(self, client: aiomqtt.Client) -> None:
        """Remember the broker's reason for dropping us (aiomqtt's iteration error does not carry it)."""
        inner = seams.paho_client(client)
        if inner is None:
            return
        original = inner.on_disconnect

        def on_disconnect(*args: Any) -> None:
            reason = args[3] if len(args) > 3 else None
            self.last_disconnect = getattr(reason, "value", reason) if reason is not None else None
            if original is not None:
                original(*args)

        inner.on_disconnect = on_disconnect

    def _protocols(self) -> list[str]:
        if self.config.protocol != "auto":
            return [self.config.protocol]
        # Once a protocol worked, try it first on reconnect.
        return [self.protocol, *(p for p in ("5", "3.1.1") if p != self.protocol)] if self.protocol else ["5", "3.1.1"]

    async def run(self) -> None:
        """Stay connected until cancelled: connect, subscribe via on_connect, dispatch messages."""
        backoff = FIRST_BACKOFF_S
        suspect = False  # the last drop came soon after connecting: a takeover, if the broker was up all along
        pause = False
        while True:
            failures: list[str] = []
            for protocol in self._protocols():
                client = self._client_for(protocol)
                self.last_disconnect = None
                try:
                    async with client:
                        connected_at = time.monotonic()
                        self._client, self.protocol = client, protocol
                        self.counters["connects"] += 1
                        self.connected.set()
                        backoff = FIRST_BACKOFF_S
                        log.info("connected to %s:%s with MQTT %s", self.config.host, self.config.port, protocol)
                        pause = self._takeover_seen(suspect and not failures)
                        await self.on_connect(self)
                        self.ready.set()
                        async for message in client.messages:
                            self._dispatch(message)
                except aiomqtt.MqttError as error:
                    failures.append(f"MQTT {protocol}: {error}")
                    if self._client is client:
                        suspect = time.monotonic() - connected_at < QUICK_DROP_S
                        pause = pause and suspect  # a connection that lasted is no fight
                        if SESSION_TAKEN_OVER in (_reason(error), self.last_disconnect):
                            pause = self._takeover_seen(True, certain=True)
                        break  # we were connected: the link dropped, so retry the same protocol
                    suspect = False  # the broker refused or was down: not someone else's session
                    seams.abandon(client)
                finally:
                    self.connected.clear()
                    self.ready.clear()
                    self._client = None
            # Jitter: a broker restart must not see every client come back in the same instant.
            delay = backoff * random.uniform(0.75, 1.25)
            if pause:  # someone else connects as the hub: do not fight it at full speed
                delay, pause = max(delay, TAKEOVER_PAUSE_S), False
            log.warning("broker link down (%s); retrying in %.1f s", "; ".join(failures) or "closed", delay)
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, self.config.reconnect_max_s)

    def _takeover_seen(self, evidence: bool, *, certain: bool = False) -> bool:
        """Weigh one drop: a takeover is a broker that drops us soon after we connect, though it stays up.

        mosquitto 2.0 closes the older connection without a reason, like a restart does; a restart,
        though, refuses the first reconnect, and a takeover does not. Two such drops within a
        minute (or MQTT 5's reason 142) are a takeover: reported, and the next reconnect waits.
        """
        if not evidence:
            return False
        now = time.monotonic()
        self._quick_drops = [t for t in self._quick_drops if now - t < 60.0] + [now]
        if not certain and len(self._quick_drops) < QUICK_DROPS_FOR_TAKEOVER:
            return False
        self._quick_drops.clear()
        self.counters["takeovers"] += 1
        log.error("another client connected as the hub (user %s): the broker keeps dropping our connection "
                  "right after we connect. Is a second hub, or a tool, using the hub's credentials?",
                  self.config.username or "anonymous")
        return True

    def _dispatch(self, message: aiomqtt.Message) -> None:
        self.counters["received"] += 1
        props = message.properties
        raw = message.payload
        payload = raw if isinstance(raw, bytes | bytearray) else str(raw or "").encode()
        incoming = InMessage(
            topic=message.topic.value,
            payload=bytes(payload),
            retain=bool(message.retain),
            response_topic=getattr(props, "ResponseTopic", None) if props else None,
            correlation_data=getattr(props, "CorrelationData", None) if props else None,
        )
        control = self.is_control(incoming.topic)
        if control:
            self.counters["control"] += 1
        task = asyncio.create_task(self._handle(incoming, control))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _handle(self, incoming: InMessage, control: bool = False) -> None:
        if control:  # the kill switch and confirmations never wait for a free slot
            await self._run(incoming)
            return
        async with self._limit:
            await self._run(incoming)

    async def _run(self, incoming: InMessage) -> None:
        try:
            await self.on_message(incoming)
        except Exception:  # noqa: BLE001 - one bad message must never stop the link
            log.exception("handling a message on %s failed", incoming.topic)

    async def subscribe(self, topics: list[str], qos: int = 1) -> None:
        """Subscribe to topic filters on the current connection."""
        client = self._require()
        for topic in topics:
            if self.protocol == "5":
                # Without retainAsPublished the broker clears the retain flag on live delivery,
                # and a retained command published while we are connected would look fresh.
                await client.subscribe(topic, options=SubscribeOptions(qos=qos, retainAsPublished=True))
            else:
                await client.subscribe(topic, qos=qos)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        qos: int = 0,
        correlation_data: bytes | None = None,
    ) -> None:
        """Publish one message; raise LinkDown when not connected."""
        properties = None
        if correlation_data is not None and self.protocol == "5":
            properties = Properties(PacketTypes.PUBLISH)
            properties.CorrelationData = correlation_data
        try:
            await self._publish_one(topic, payload, qos=qos, retain=retain, properties=properties)
        except LinkDown:
            self.counters["dropped"] += 1
            raise
        self.counters["published"] += 1
        self.counters["bytes_out"] += len(payload)

    async def publish_retained(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publish retained QoS 0 messages in order; return once the last one is written.

        All but the last go to paho's outgoing queue as pre-encoded PUBLISH packets, a chunk at
        a time (one socket write each instead of one per message, and no per-message
        callbacks). paho writes its queue in order, so awaiting the last message, published
        the ordinary way, awaits them all. A topic no broker would take (a wildcard) raises
        ValueError before anything is sent.
        """
        if not messages:
            return
        try:
            await self._publish_stream(messages)
        except LinkDown:
            self.counters["dropped"] += len(messages)
            raise
        self.counters["published"] += len(messages)
        self.counters["bytes_out"] += sum(len(payload) for _topic, payload in messages)

    async def _publish_one(
        self, topic: str, payload: bytes, *, qos: int, retain: bool, properties: Properties | None = None
    ) -> None:
        client = self._require()
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        except aiomqtt.MqttError as error:
            raise LinkDown(str(error)) from error

    async def _publish_stream(self, messages: Sequence[tuple[str, bytes]]) -> None:
        client = self._require()
        *head, (last_topic, last_payload) = messages
        if head:
            v5 = self.protocol == "5"
            # Encoded first: a topic no broker would take raises before anything is sent.
            streams = [encode_publishes(chunk, retain=True, v5=v5) for chunk in _chunks(head)]
            if seams.queue_packets(client, streams[0]):
                for stream in streams[1:]:
                    seams.queue_packets(client, stream)
            else:  # the public path: slower, same result
                await asyncio.gather(*(self._publish_one(t, p, qos=0, retain=True) for t, p in head))
        await self._publish_one(last_topic, last_payload, qos=0, retain=True)

    def _require(self) -> aiomqtt.Client:
        """Return the connected client; the publish methods count what this drops."""
        if self._client is None:
            raise LinkDown("not connected to the broker")
        return self._client

    async def disconnect_cleanly(self, topic: str, payload: bytes) -> None:
        """Publish a final retained message (e.g. offline state) before going away."""
        try:
            await self.publish(topic, payload, retain=True, qos=1)
        except LinkDown:
            pass

    def info(self) -> dict[str, Any]:
        """Return the counters for ``bridge/health``."""
        return {"connected": self.connected.is_set(), "protocol": self.protocol, **self.counters}
