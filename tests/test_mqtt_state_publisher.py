"""The state publisher over a real broker: retained state, changes only, deadbands, clearing."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt
import pytest
from jarvis.core.hub import Hub
from jarvis.core.state import Change
from jarvis.mqtt.bridge import MqttBridge
from jarvis.mqtt.broker import MosquittoProcess
from jarvis.mqtt.publisher import StatePublisher

from tests.fixtures.bridge import BASE, AsyncPeer, ProbePlugin, payload_of, retained_under

Bridged = tuple[Hub, MqttBridge, MosquittoProcess]


async def probe_topics_until_marker(peer: AsyncPeer, since: int, marker_value: int) -> list[str]:
    """Return the probe topics published before the marker entity reached ``marker_value``."""
    marker_topic = f"{BASE}/probe/marker/state"

    def is_marker(message: aiomqtt.Message) -> bool:
        return message.topic.value == marker_topic and payload_of(message) == {"n": marker_value}

    found = await peer.wait_for(is_marker, 5, since, f"marker {marker_value}")
    end = peer.seen.index(found, since)
    return [m.topic.value for m in peer.seen[since:end]
            if m.topic.value.startswith(f"{BASE}/probe/") and m.topic.value != marker_topic]


async def test_unchanged_state_publishes_nothing_after_the_first_cycle(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    hub, bridge, _broker = bridged_hub
    await peer.subscribe(f"{BASE}/probe/#")
    await peer.expect(f"{BASE}/probe/alpha/state")
    since = peer.mark()
    published = bridge.publisher.counters["state_messages"]
    for _ in range(5):
        await hub.refresh()
    await asyncio.sleep(0.2)
    probe.entities["marker"] = {"n": 1}
    await hub.refresh()
    assert await probe_topics_until_marker(peer, since, 1) == []
    assert probe.polls >= 7
    # Besides the marker, only bridge/health (which carries counters) went out.
    assert bridge.publisher.counters["state_messages"] - published <= 7


async def test_a_field_inside_its_deadband_publishes_nothing_and_beyond_it_publishes(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    hub, bridge, _broker = bridged_hub
    await peer.subscribe(f"{BASE}/probe/#")
    await peer.expect(f"{BASE}/probe/alpha/state")
    suppressed = bridge.publisher.counters["suppressed"]
    steps = 0

    async def poll_with(**fields: Any) -> list[str]:
        nonlocal steps
        steps += 1
        since = peer.mark()
        probe.entities["alpha"].update(fields)
        probe.entities["marker"] = {"n": steps}
        await hub.refresh()
        return await probe_topics_until_marker(peer, since, steps)

    assert await poll_with(cpu_pct=11.5) == []  # default deadband for cpu_pct: 2.0 points
    assert bridge.publisher.counters["suppressed"] == suppressed + 1
    assert await poll_with(cpu_pct=11.9) == []  # drift is measured from the last *published* 10.0
    assert await poll_with(cpu_pct=12.5) == [f"{BASE}/probe/alpha/state"]  # 2.5 from 10.0
    assert payload_of(peer.on(f"{BASE}/probe/alpha/state")[-1]) == {"cpu_pct": 12.5, "status": "running"}
    assert await poll_with(cpu_pct=11.0) == []  # back within the band around 12.5
    assert await poll_with(status="stopped") == [f"{BASE}/probe/alpha/state"]  # any other change publishes


@pytest.mark.parametrize("bridge_overrides", [{"mqtt": {"deadbands": {"cpu_pct": 0.1}}}], indirect=True)
async def test_configured_deadbands_override_the_defaults(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    hub, _bridge, _broker = bridged_hub
    await peer.subscribe(f"{BASE}/probe/#")
    await peer.expect(f"{BASE}/probe/alpha/state")
    since = peer.mark()
    probe.entities["alpha"]["cpu_pct"] = 10.5
    probe.entities["marker"] = {"n": 1}
    await hub.refresh()
    assert await probe_topics_until_marker(peer, since, 1) == [f"{BASE}/probe/alpha/state"]


async def test_a_vanished_entity_is_cleared_with_an_empty_retained_payload(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    hub, bridge, broker = bridged_hub
    probe.entities["beta"] = {"cpu_pct": 1.0}
    await hub.refresh()
    assert f"{BASE}/probe/beta/state" in await retained_under(broker, f"{BASE}/probe/#")
    await peer.subscribe(f"{BASE}/probe/#")
    since = peer.mark()

    del probe.entities["beta"]
    await hub.refresh()
    cleared = await peer.wait_for(lambda m: m.topic.value == f"{BASE}/probe/beta/state" and m.payload == b"",
                                  5, since, "beta cleared")
    assert cleared.payload == b""
    assert bridge.publisher.counters["cleared"] == 1
    assert sorted(await retained_under(broker, f"{BASE}/probe/#")) == [f"{BASE}/probe/alpha/state"]




async def test_each_flush_reports_its_changes_messages_and_cpu(bridged_hub: Bridged) -> None:
    hub, bridge, _broker = bridged_hub
    sent: list[tuple[str, bytes]] = []

    async def collect(messages: list[tuple[str, bytes]]) -> None:
        sent.extend(messages)

    state = StatePublisher(BASE, collect)
    state.on_changes([Change(("a",), {"cpu_pct": 1.0}), Change(("b",), {"cpu_pct": 1.0})])
    await state.flush()
    state.on_changes([Change(("a",), {"cpu_pct": 1.5}), Change(("b",), {"cpu_pct": 9.0}), Change(("c",), None)])
    assert await state.flush() == 1
    assert [topic for topic, _ in sent] == [f"{BASE}/a", f"{BASE}/b", f"{BASE}/b"]
    last = state.last_flush
    assert (last["changes"], last["messages"]) == (3, 1) and last["cpu_ms"] >= 0
    await hub.refresh()
    for _ in range(100):  # the bridge's own publisher flushes in the background
        if bridge.publisher.last_flush:
            break
        await asyncio.sleep(0.05)
    assert set(hub.health()["mqtt"]["last_flush"]) == {"changes", "messages", "cpu_ms"}  # in bridge/health


def publisher() -> StatePublisher:
    """A publisher with the default deadbands and nowhere to send."""
    async def nowhere(_messages: list[tuple[str, bytes]]) -> None:
        raise AssertionError("not sent in these tests")
    return StatePublisher(BASE, nowhere)


@pytest.mark.parametrize(("old", "new", "differs"), [
    ({"cpu_pct": 10.0}, {"cpu_pct": 11.99}, False),           # absolute band 2.0
    ({"cpu_pct": 10.0}, {"cpu_pct": 12.0}, True),             # reaching the band publishes
    ({"cpu_pct": 10.0}, {"cpu_pct": 8.0}, True),              # in either direction
    ({"mem_used": 1000}, {"mem_used": 1020}, False),          # relative band 2 %
    ({"mem_used": 1000}, {"mem_used": 979}, True),
    ({"mem_used": 0}, {"mem_used": 1}, True),                 # relative to at least 1
    ({"netin": -100}, {"netin": -109}, False),                # relative to the size, not the sign
    ({"cpu_pct": None}, {"cpu_pct": 0.5}, True),              # a value appearing
    ({"cpu_pct": False}, {"cpu_pct": 1.5}, True),             # a bool is never a number here
    ({"status": "running"}, {"status": "stopped"}, True),     # no deadband: any change
    ({"a": 1, "b": 2}, {"a": 1, "c": 2}, True),               # same size, another field
    ({"a": 1}, {"a": 1, "b": 2}, True),
    ({"tags": ["x"], "cpu_pct": 1.0}, {"tags": ["x"], "cpu_pct": 1.5}, False),
])
def test_deadbands_decide_what_is_worth_a_message(old: dict[str, Any], new: dict[str, Any], differs: bool) -> None:
    assert publisher().differs(old, new) is differs
