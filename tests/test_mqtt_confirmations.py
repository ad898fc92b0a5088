"""Dangerous calls over MQTT: confirmations (approve, deny, expire) and the autonomy kill switch."""

from __future__ import annotations

import time
from typing import Any

import pytest
from jarvis.core.hub import Hub
from jarvis.mqtt.bridge import MqttBridge
from jarvis.mqtt.broker import MosquittoProcess

from tests.fixtures.bridge import BASE, AsyncPeer, ProbePlugin, payload_of, retained_under

Bridged = tuple[Hub, MqttBridge, MosquittoProcess]


async def ask_to_destroy(peer: AsyncPeer, vmid: int) -> tuple[str, dict[str, Any]]:
    """Request the dangerous tool; return the confirmation id and its retained topic payload."""
    reply = await peer.request("tool/probe.destroy", {"vmid": vmid})
    assert reply["status"] == "confirmation_required", reply
    cid = reply["confirmation"]["id"]
    assert reply["confirmation"]["expires_at"].endswith("Z")
    return cid, await peer.expect_json(f"{BASE}/confirm/{cid}")


async def test_a_dangerous_request_waits_for_approval_over_mqtt(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    _hub, _bridge, broker = bridged_hub
    await peer.subscribe(f"{BASE}/confirm/#")
    await peer.subscribe(f"{BASE}/bridge/response/#")
    cid, pending = await ask_to_destroy(peer, 101)
    assert pending["tool"] == "probe.destroy" and pending["args"] == {"vmid": 101}
    assert pending["risk"] == "dangerous" and pending["requested_by"] == "mqtt:dashboard" and pending["expires_at"]
    assert (await retained_under(broker, f"{BASE}/confirm/#")) == {f"{BASE}/confirm/{cid}": pending}
    assert probe.calls["destroy"] == 0

    since = peer.mark()
    reply = await peer.request("confirm", {"id": cid, "approve": True})
    assert reply["status"] == "ok" and reply["data"] == {"destroyed": 101}
    assert probe.calls["destroy"] == 1
    cleared = await peer.expect(f"{BASE}/confirm/{cid}", since=since)
    assert cleared.payload == b""
    assert await retained_under(broker, f"{BASE}/confirm/#") == {}

    again = await peer.request("confirm", {"id": cid, "approve": True})
    assert again["error"]["code"] == "not_found"
    assert probe.calls["destroy"] == 1


async def test_a_denied_confirmation_is_cleared_and_nothing_runs(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    _hub, _bridge, broker = bridged_hub
    await peer.subscribe(f"{BASE}/confirm/#")
    await peer.subscribe(f"{BASE}/bridge/response/#")
    cid, _pending = await ask_to_destroy(peer, 102)
    since = peer.mark()
    reply = await peer.request("confirm", {"id": cid, "approve": False})
    assert reply == {"status": "ok", "data": {"id": cid, "approved": False}, "transaction": reply["transaction"]}
    assert (await peer.expect(f"{BASE}/confirm/{cid}", since=since)).payload == b""
    assert await retained_under(broker, f"{BASE}/confirm/#") == {}
    assert probe.calls["destroy"] == 0


async def test_a_dangerous_command_topic_also_needs_confirmation(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    reply_topic = f"{BASE}/reply/dashboard/reset"
    await peer.subscribe(reply_topic)
    await peer.publish(f"{BASE}/guest/105/action", b"reset", response_topic=reply_topic)
    reply = payload_of(await peer.expect(reply_topic))
    assert reply["status"] == "confirmation_required" and reply["confirmation"]["tool"] == "probe.destroy"
    assert probe.calls["destroy"] == 0


@pytest.mark.parametrize("bridge_overrides", [{"safety": {"confirmation_ttl_s": 1}}], indirect=True)
async def test_an_unanswered_confirmation_expires_and_is_cleared(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    _hub, _bridge, broker = bridged_hub
    await peer.subscribe(f"{BASE}/confirm/#")
    await peer.subscribe(f"{BASE}/bridge/response/#")
    cid, _pending = await ask_to_destroy(peer, 103)
    since = peer.mark()
    started = time.monotonic()
    cleared = await peer.expect(f"{BASE}/confirm/{cid}", within=5, since=since)
    assert cleared.payload == b"" and time.monotonic() - started < 3.5
    assert await retained_under(broker, f"{BASE}/confirm/#") == {}
    late = await peer.request("confirm", {"id": cid, "approve": True})
    assert late["error"]["code"] == "not_found"
    assert probe.calls["destroy"] == 0


# -- autonomy --------------------------------------------------------------------------------------


async def test_the_autonomy_kill_switch_over_mqtt_stops_automated_writes(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    hub, _bridge, broker = bridged_hub
    await peer.subscribe(f"{BASE}/bridge/response/#")
    reply = await peer.request("autonomy", {"mode": "off"})
    assert reply["status"] == "ok" and reply["data"] == {"mode": "off"}
    assert (await retained_under(broker, f"{BASE}/bridge/autonomy")) == {f"{BASE}/bridge/autonomy": {"mode": "off"}}

    for source in ("llm", "monitor"):
        refused = await hub.call_tool("probe.poke", {"id": "100"}, source=source)
        assert refused["status"] == "error" and refused["error"]["code"] == "autonomy_off", refused
    assert (await hub.call_tool("probe.echo", {}, source="llm"))["status"] == "ok"  # reads still work
    assert probe.calls["poke"] == 0
    assert (await peer.request("tool/probe.poke", {"id": "100"}))["status"] == "ok"  # a human still may
    assert probe.calls["poke"] == 1

    # The dashboard account (an operator) may pull the kill switch but not turn automation back on.
    assert (await peer.request("autonomy", {"mode": "act"}))["error"]["code"] == "forbidden"
    async with AsyncPeer(broker, "admin1") as admin:
        assert (await admin.request("autonomy", {"mode": "act"}))["status"] == "ok"
        assert (await hub.call_tool("probe.poke", {"id": "100"}, source="llm"))["status"] == "ok"
        bad = await admin.request("autonomy", {"mode": "maybe"})
    assert bad["error"]["code"] == "invalid_args"
    assert hub.autonomy == "act"


