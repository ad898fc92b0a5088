"""Hole 1: a request's answer goes only to its sender's reply space, never where it points.

Before: the MQTT 5 Response Topic was honoured for any topic, so a dashboard client could make
the hub publish on ``bridge/state`` (the hub may write it) or send "replies" to a request topic
that the hub itself then executed. Now a Response Topic outside ``<base>/reply/<sender>/`` gets
``invalid_response_topic`` on the default reply topic, nothing is run, and the refusal is logged.
"""

from __future__ import annotations

import asyncio

from jarvis.core.hub import Hub
from jarvis.mqtt.bridge import MqttBridge
from jarvis.mqtt.broker import MosquittoProcess

from tests.fixtures.bridge import BASE, AsyncPeer, ProbePlugin, payload_of

Bridged = tuple[Hub, MqttBridge, MosquittoProcess]
NOT_AUTHORIZED = 135


async def test_an_answer_aimed_at_bridge_state_is_refused_and_lands_nowhere(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    _hub, _bridge, broker = bridged_hub
    async with AsyncPeer(broker, "homeassistant") as watcher:
        await watcher.subscribe(f"{BASE}/bridge/#")
        await watcher.expect(f"{BASE}/bridge/state")  # the retained one
        since = watcher.mark()
        # mosquitto_rr -u dashboard -t .../tool/probe.echo -e jarvis/bridge/state -m '{..."state":"offline"}'
        await peer.publish(f"{BASE}/bridge/request/tool/probe.echo",
                           {"args": {"text": "x"}, "transaction": {"state": "offline"}},
                           response_topic=f"{BASE}/bridge/state")
        reply = await watcher.expect_json(f"{BASE}/bridge/response/tool/probe.echo", since=since)
        await asyncio.sleep(0.3)
    assert reply["status"] == "error" and reply["error"]["code"] == "invalid_response_topic"
    assert f"{BASE}/reply/dashboard/" in reply["error"]["message"]
    assert watcher.on(f"{BASE}/bridge/state", since) == [], "the hub published on bridge/state for a client"
    assert probe.calls["echo"] == 0, "a request whose answer was aimed elsewhere must not run"
    logged = [payload_of(m)["message"] for m in watcher.on(f"{BASE}/bridge/log", since)]
    assert any("Response Topic" in line and "bridge/state" in line for line in logged), logged


async def test_an_answer_aimed_at_a_request_topic_does_not_execute_it(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    hub, bridge, broker = bridged_hub
    polls = probe.polls
    # Home Assistant may not send requests; with the hub as its postman it would have.
    async with AsyncPeer(broker, "homeassistant") as homeassistant:
        await homeassistant.subscribe(f"{BASE}/bridge/response/#")
        await homeassistant.publish(f"{BASE}/guest/100/action", b"start",
                                    response_topic=f"{BASE}/bridge/request/refresh")
        await peer.publish(f"{BASE}/bridge/request/plugins", {"transaction": "x"},
                           response_topic=f"{BASE}/bridge/request/refresh")
        await homeassistant.expect(f"{BASE}/bridge/response/plugins")
        await asyncio.sleep(0.5)
    assert probe.polls == polls, "a reply was executed as a refresh request"
    assert probe.calls["poke"] == 0, "a command whose answer was aimed at a request topic must not run"
    assert bridge.router.counters["refused_reply_topics"] == 2


async def test_an_answer_aimed_at_another_users_reply_space_is_refused(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    _hub, _bridge, broker = bridged_hub
    async with AsyncPeer(broker, "homeassistant") as homeassistant:
        await homeassistant.subscribe(f"{BASE}/reply/#")
        await homeassistant.subscribe(f"{BASE}/bridge/response/#")
        await peer.publish(f"{BASE}/bridge/request/tool/probe.echo", {"transaction": "t"},
                           response_topic=f"{BASE}/reply/homeassistant/1")
        reply = await homeassistant.expect_json(f"{BASE}/bridge/response/tool/probe.echo")
        await asyncio.sleep(0.2)
    assert reply["error"]["code"] == "invalid_response_topic"
    assert homeassistant.on(f"{BASE}/reply/homeassistant/1") == []
    assert probe.calls["echo"] == 0


async def test_a_per_user_request_is_answered_in_that_users_reply_space_only(
    bridged_hub: Bridged, probe: ProbePlugin
) -> None:
    _hub, _bridge, broker = bridged_hub
    async with AsyncPeer(broker, "operator1") as alice, AsyncPeer(broker, "viewer1") as other:
        await other.subscribe(f"{BASE}/#")  # all it may read
        await alice.subscribe(f"{BASE}/reply/operator1/#")
        await alice.publish(f"{BASE}/user/operator1/bridge/request/tool/probe.echo",
                            {"args": {"text": "mine"}, "transaction": "a-1"})
        reply = await alice.expect_json(f"{BASE}/reply/operator1/bridge/response/tool/probe.echo")
        # With a Response Topic in its space, the reply goes there with the correlation data.
        await alice.publish(f"{BASE}/user/operator1/bridge/request/tool/probe.echo", {"transaction": "a-2"},
                            response_topic=f"{BASE}/reply/operator1/rr", correlation=b"c-7")
        rr = await alice.expect(f"{BASE}/reply/operator1/rr")
        await asyncio.sleep(0.3)
    assert reply["status"] == "ok" and reply["data"]["text"] == "mine" and reply["transaction"] == "a-1"
    assert getattr(rr.properties, "CorrelationData", None) == b"c-7" and payload_of(rr)["transaction"] == "a-2"
    leaked = [m.topic.value for m in other.seen if "/reply/" in m.topic.value or "/user/" in m.topic.value]
    assert leaked == [], f"another user read operator1's requests or replies: {leaked}"


async def test_nobody_can_write_in_another_users_topic_space(bridged_hub: Bridged, probe: ProbePlugin) -> None:
    hub, _bridge, broker = bridged_hub
    async with AsyncPeer(broker, "viewer1") as mallory, AsyncPeer(broker, "operator1") as alice:
        await mallory.subscribe(f"{BASE}/reply/viewer1/#")
        # The broker refuses it (MQTT 5: PUBACK 135) and the hub never hears of it.
        try:
            await mallory.client.publish(f"{BASE}/user/operator1/guest/100/action", b"start", qos=1)
        except Exception as error:  # aiomqtt raises on a failed PUBACK
            assert str(NOT_AUTHORIZED) in str(error) or "authori" in str(error).lower(), error
        await alice.subscribe(f"{BASE}/reply/operator1/#")
        assert (await alice.request("tool/probe.echo", {"text": "marker"}))["status"] == "ok"
    assert probe.calls["poke"] == 0


async def test_a_reply_space_topic_with_wildcards_is_never_used(bridged_hub: Bridged, probe: ProbePlugin) -> None:
    _hub, _bridge, broker = bridged_hub
    async with AsyncPeer(broker, "operator1") as alice:
        await alice.subscribe(f"{BASE}/reply/operator1/#")
        await alice.publish(f"{BASE}/user/operator1/bridge/request/tool/probe.poke", {"transaction": "w"},
                            response_topic=f"{BASE}/reply/operator1/+")
        reply = await alice.expect_json(f"{BASE}/reply/operator1/bridge/response/tool/probe.poke")
    assert reply["error"]["code"] == "invalid_response_topic" and probe.calls["poke"] == 0
