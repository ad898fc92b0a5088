"""Hole 10: requests survive a broker outage, and stale commands never run.

Before: the hub used a clean session and a backoff growing to 30 s, so of 100 QoS 1 requests
sent during a 10 s outage none was answered. Now the hub keeps a persistent session (clean
start off, session expiry = ``mqtt.max_message_age_s``) with QoS 1 subscriptions, reconnects
within a few seconds (jittered), and refuses what is too old: a request or command whose
``ts`` is older than the max age is answered ``expired``; one that waited in the broker longer
than that is dropped with the session, never run (a queued ``reboot`` must not fire an hour later).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from jarvis.core.config import parse_config
from jarvis.mqtt.broker import MosquittoProcess, find_free_port
from jarvis.mqtt.client import BrokerLink
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.fixtures.bridge import BASE, AsyncPeer, ProbePlugin, bridged, wait_until
from tests.fixtures.broker import ensure_mosquitto, fresh_accounts

OUTAGE_S = 10.0


@pytest.fixture
def durable_broker() -> Iterator[MosquittoProcess]:
    """The production settings with persistence on, as mosquitto/mosquitto.conf ships them."""
    ensure_mosquitto()
    broker = MosquittoProcess(mode="secure", accounts=fresh_accounts(), persistence=True).start()
    try:
        yield broker
    finally:
        broker.close()


class Requester:
    """A script that keeps its session and sends QoS 1 requests whether or not the broker is up."""

    def __init__(self, broker: MosquittoProcess, user: str) -> None:
        self.user = user
        self.replies: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=user)
        self.client.username_pw_set(*broker.users[user])
        self.client.reconnect_delay_set(0.05, 0.1)  # back before the hub: its requests wait in the broker
        self.client.max_queued_messages_set(0)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(f"{BASE}/reply/{user}/#", qos=1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        self.client.connect(broker.host, broker.port, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        body = json.loads(message.payload)
        with self._lock:
            self.replies[str(body.get("transaction"))] = body

    def request(self, transaction: str) -> None:
        self.client.publish(f"{BASE}/user/{self.user}/bridge/request/tool/probe.echo",
                            json.dumps({"args": {"text": transaction}, "transaction": transaction}), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_requests_sent_during_a_broker_outage_are_all_answered_after_it(
    durable_broker: MosquittoProcess, probe: ProbePlugin
) -> None:
    async with bridged(durable_broker, plugin=probe) as (_hub, bridge):
        requester = Requester(durable_broker, "operator1")
        try:
            await asyncio.sleep(0.5)
            await asyncio.to_thread(durable_broker.stop)
            sent = [f"t{n}" for n in range(100)]
            for transaction in sent:  # while the broker is down: queued by the client
                requester.request(transaction)
                await asyncio.sleep(OUTAGE_S / 200)
            await asyncio.sleep(OUTAGE_S / 2)
            started = time.monotonic()
            await asyncio.to_thread(durable_broker.restart)
            await wait_until(lambda: len(requester.replies) == len(sent), 30, "every request answered")
            print(f"\n100 requests sent during a {OUTAGE_S:g} s outage: all answered "
                  f"{time.monotonic() - started:.1f} s after the broker came back")
        finally:
            requester.close()
    assert all(requester.replies[t]["status"] == "ok" for t in sent)
    assert probe.calls["echo"] == len(sent), "a request ran twice (or not at all)"
    assert bridge.link.counters["connects"] >= 2


def _ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


@pytest.mark.parametrize("bridge_overrides", [{"mqtt": {"max_message_age_s": 60}}], indirect=True)
@pytest.mark.parametrize("ts", [time.time() - 3600, _ago(3600), (time.time() - 3600) * 1000],
                         ids=["epoch-seconds", "iso-8601", "epoch-milliseconds"])
async def test_a_request_or_command_older_than_the_max_age_is_answered_expired(
    bridged_hub: Any, probe: ProbePlugin, ts: Any
) -> None:
    _hub, _bridge, broker = bridged_hub
    async with AsyncPeer(broker, "operator1") as alice:
        await alice.subscribe(f"{BASE}/reply/operator1/#")
        since = alice.mark()
        await alice.publish(alice.topic("bridge/request/tool/probe.poke"),
                            {"args": {"id": "100"}, "transaction": "old", "ts": ts})
        old = await alice.expect_json(f"{BASE}/reply/operator1/bridge/response/tool/probe.poke", since=since)
        await alice.publish(alice.topic("guest/100/set"), {"state": "running", "ts": ts},
                            response_topic=f"{BASE}/reply/operator1/cmd")
        command = await alice.expect_json(f"{BASE}/reply/operator1/cmd", since=since)
        fresh = await alice.request("tool/probe.poke", {"id": "100"}, transaction="fresh")
        current = {"args": {"id": "101"}, "transaction": "now", "ts": _ago(1)}
        await alice.publish(alice.topic("bridge/request/tool/probe.poke"), current)
        now = await alice.wait_for(lambda m: b'"now"' in m.payload, 5, since, "the current request's reply")
    assert old["error"]["code"] == "expired" and "mqtt.max_message_age_s" in old["error"]["message"]
    assert command["error"]["code"] == "expired"
    assert fresh["status"] == "ok" and json.loads(now.payload)["status"] == "ok"
    assert probe.calls["poke"] == 2  # only the fresh ones ran


async def test_a_command_that_waited_longer_than_the_max_age_never_runs(durable_broker: MosquittoProcess) -> None:
    probe = ProbePlugin()
    overrides = {"mqtt": {"max_message_age_s": 5}}
    async with AsyncPeer(durable_broker, "homeassistant") as homeassistant:
        async with bridged(durable_broker, overrides, probe):
            pass  # the hub now has a session on the broker, and goes away
        await homeassistant.publish(f"{BASE}/guest/100/action", b"reboot")  # queued for the hub
        await asyncio.sleep(8)  # longer than the session may last
        async with bridged(durable_broker, overrides, probe):
            await asyncio.sleep(1.0)
        assert probe.calls["poke"] == 0, "a command queued longer than the max age ran"
        # Within the max age, a command queued while the hub was away does run once it is back.
        await homeassistant.publish(f"{BASE}/guest/100/action", b"start")
        async with bridged(durable_broker, overrides, probe):
            await wait_until(lambda: probe.calls["poke"] == 1, 5, "the queued command, run on reconnect")


async def test_reconnect_backoff_is_capped_at_a_few_seconds_with_jitter(caplog: pytest.LogCaptureFixture) -> None:
    config = parse_config({"mqtt": {"host": "127.0.0.1", "port": find_free_port(), "reconnect_max_s": 2}}).mqtt

    async def nothing(*_args: Any) -> None:
        return None

    link = BrokerLink(config, will_topic=f"{BASE}/bridge/state", will_payload=b"{}", on_connect=nothing,
                      on_message=nothing)
    caplog.set_level(logging.WARNING, "jarvis.mqtt")
    task = asyncio.create_task(link.run())
    await asyncio.sleep(9)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    delays = [float(m) for r in caplog.records for m in re.findall(r"retrying in ([0-9.]+) s", r.getMessage())]
    assert len(delays) >= 4, delays
    assert max(delays) <= 2 * 1.25 + 0.05, delays
    assert len(set(delays[2:])) > 1, f"no jitter: {delays}"
