"""Hole 12: a QoS 1 request is answered in milliseconds, not in a delayed-ACK period.

Before: QoS 1 round trips took ~44 ms where QoS 0 took 0.7-5 ms: Nagle's algorithm held the
hub's and the broker's small packets until the peer's delayed ACK. The hub's socket now sets
TCP_NODELAY and mosquitto/ ships ``set_tcp_nodelay true`` (both are needed). The figures (with
mosquitto_rr, median and p99) come from bench/bench_security.py; this test only guards the
order of magnitude.
"""

from __future__ import annotations

import socket
import statistics
import time
import uuid
from typing import Any

import pytest
from jarvis.mqtt.broker import MosquittoProcess
from jarvis.mqtt.client import NO_DELAY

from tests.fixtures.bridge import BASE, AsyncPeer

ROUNDS = 40


def test_both_sides_disable_nagle(mqtt_broker: MosquittoProcess) -> None:
    assert (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) in NO_DELAY
    assert "set_tcp_nodelay true" in mqtt_broker.config_path.read_text()


@pytest.mark.parametrize("qos", [0, 1])
async def test_a_request_round_trip_takes_milliseconds(bridged_hub: Any, qos: int) -> None:
    _hub, _bridge, broker = bridged_hub
    async with AsyncPeer(broker, "operator1") as client:
        reply_to = f"{BASE}/reply/operator1/rt"
        await client.subscribe(reply_to, qos=qos)
        times = []
        for n in range(ROUNDS):
            correlation = uuid.uuid4().bytes
            since = client.mark()
            started = time.perf_counter()
            await client.publish(client.topic("bridge/request/tool/probe.echo"), {"args": {"n": n}}, qos=qos,
                                 response_topic=reply_to, correlation=correlation)
            await client.wait_for(lambda m, c=correlation: getattr(m.properties, "CorrelationData", None) == c,
                                  5, since)
            times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times[5:])
    print(f"\nQoS {qos}: median {median:.1f} ms over {ROUNDS - 5} requests")
    assert median < 20, f"QoS {qos} round trip median {median:.1f} ms: Nagle is back?"
