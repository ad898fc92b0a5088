"""The MQTT bridge against a real mosquitto: what the hub announces, how it answers, how it recovers.

Every test talks to the hub only through the broker, with real clients (aiomqtt, paho's
protocol versions, the mosquitto CLI tools), except where a test plays the LLM or the monitor
and calls ``hub.call_tool`` directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import psutil
import pytest
import yaml
from jarvis.core.hub import Hub
from jarvis.mqtt.bridge import MqttBridge
from jarvis.mqtt.broker import MosquittoProcess, find_binary
from jarvis.mqtt.embedded import start_embedded_broker

from tests.fixtures.bridge import BASE, AsyncPeer, ProbePlugin, bridged, payload_of, retained_under, wait_until

Bridged = tuple[Hub, MqttBridge, MosquittoProcess]


# -- what the bridge announces ----------------------------------------------------------------


async def test_bridge_announces_itself_with_retained_state_info_health_and_autonomy(
    bridged_hub: Bridged,
) -> None:
    _hub, _bridge, broker = bridged_hub
    retained = await retained_under(broker, f"{BASE}/#")

    assert retained[f"{BASE}/bridge/state"] == {"state": "online"}
    assert retained[f"{BASE}/bridge/autonomy"] == {"mode": "act"}
    assert retained[f"{BASE}/probe/alpha/state"] == {"cpu_pct": 10.0, "status": "running"}

    info = retained[f"{BASE}/bridge/info"]
    assert info["plugins"] == [{"name": "probe", "version": "1.0", "status": "ok", "reason": None}]
    tools = {tool["name"]: tool for tool in info["tools"]}
    assert set(tools) == {"probe.echo", "probe.poke", "probe.destroy", "probe.boom"}
    assert {n: t["risk"] for n, t in tools.items()} == {
        "probe.echo": "read", "probe.poke": "write", "probe.destroy": "dangerous", "probe.boom": "read"}
    assert tools["probe.destroy"]["args_schema"]["required"] == ["vmid"]
    assert tools["probe.echo"]["args_schema"]["properties"]["n"]["type"] == "integer"
    assert info["autonomy"] == "act" and info["discovery_prefix"] == "homeassistant"
    assert "guest/+/action" in info["commands"]

    health = retained[f"{BASE}/bridge/health"]
    assert health["uptime_s"] >= 0 and health["rss_bytes"] > 10_000_000
    assert health["plugins"] == {"probe": {"status": "ok", "reason": None}}
    assert health["mqtt"]["connected"] is True and health["mqtt"]["protocol"] == "5"
    for counter in ("published", "received", "dropped", "connects", "state_messages", "requests", "errors"):
        assert isinstance(health["mqtt"][counter], int), counter


async def test_health_reports_poll_duration_and_api_calls_after_a_refresh(
    bridged_hub: Bridged, peer: AsyncPeer
) -> None:
    await peer.subscribe(f"{BASE}/bridge/#")
    await peer.expect(f"{BASE}/bridge/health")
    since = peer.mark()
    reply = await peer.request("refresh")
    assert reply["status"] == "ok" and reply["data"] == {"sources": {"probe:metrics": True}}
    health = await peer.expect_json(f"{BASE}/bridge/health", since=since)  # a refresh republishes it
    source = health["sources"]["probe:metrics"]
    assert source["api_calls"] == 1 and source["duration_ms"] >= 0 and source["entities"] == 1


@pytest.mark.parametrize("bridge_overrides", [{"mqtt": {"health_interval_s": 0.3}}], indirect=True)
async def test_health_is_republished_every_interval(bridged_hub: Bridged, peer: AsyncPeer) -> None:
    await peer.subscribe(f"{BASE}/bridge/health")
    await peer.expect(f"{BASE}/bridge/health")
    since = peer.mark()
    await asyncio.sleep(1.6)
    assert len(peer.on(f"{BASE}/bridge/health", since)) >= 2


# -- Last Will, and a process that dies ---------------------------------------------------------


def write_hub_config(path: Path, broker: MosquittoProcess) -> Path:
    """Write a config.yaml for a `jarvis run` subprocess: the bridge only, hub credentials."""
    user, password = broker.users["hub"]
    config = {
        "mqtt": {"host": broker.host, "port": broker.port, "username": user, "password": password,
                 "client_id": f"lw-{uuid.uuid4().hex[:8]}"},
        "web": {"enabled": False},
        "hub": {"log_level": "INFO"},
    }
    path.write_text(yaml.safe_dump(config))
    return path


async def start_hub_process(config: Path, log: Path) -> asyncio.subprocess.Process:
    """Run `jarvis run -c config` with no plugins at all."""
    jarvis = Path(sys.executable).with_name("jarvis")
    env = {**os.environ, "JARVIS_LOAD_PLUGINS": ""}
    with log.open("wb") as err:
        return await asyncio.create_subprocess_exec(
            str(jarvis), "run", "-c", str(config), env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=err,
        )


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
async def test_bridge_state_goes_offline_within_a_second_when_the_hub_dies(
    mqtt_broker: MosquittoProcess, peer: AsyncPeer, tmp_path: Path, how: str,
    record_property: Callable[[str, object], None],
) -> None:
    await peer.subscribe(f"{BASE}/bridge/state")
    process = await start_hub_process(write_hub_config(tmp_path / "config.yaml", mqtt_broker), tmp_path / "hub.log")
    try:
        await peer.wait_for(lambda m: payload_of(m) == {"state": "online"}, 30, what="online from the subprocess")
        since = peer.mark()
        started = time.monotonic()
        os.kill(process.pid, signal.SIGKILL if how == "kill -9" else signal.SIGTERM)
        offline = await peer.wait_for(lambda m: payload_of(m) == {"state": "offline"}, 5, since, "offline")
        elapsed = time.monotonic() - started
        exit_code = await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    record_property("offline_after_s", round(elapsed, 4))
    print(f"\n{how}: bridge/state offline after {elapsed * 1000:.1f} ms")
    assert elapsed < 1.0, (tmp_path / "hub.log").read_text()
    assert offline.payload == b'{"state":"offline"}'
    # It stays: a client that connects later learns the hub is gone.
    assert (await retained_under(mqtt_broker, f"{BASE}/bridge/state")) == {f"{BASE}/bridge/state": {"state": "offline"}}
    assert exit_code == (0 if how == "SIGTERM" else -signal.SIGKILL)


# -- reconnecting -------------------------------------------------------------------------------


async def assert_everything_republished(broker: MosquittoProcess) -> None:
    """A brand-new subscriber sees the hub's whole retained tree, and nothing older."""
    retained = await retained_under(broker, f"{BASE}/#")
    assert retained[f"{BASE}/bridge/state"] == {"state": "online"}
    for topic in ("bridge/info", "bridge/health", "bridge/autonomy", "probe/alpha/state"):
        assert f"{BASE}/{topic}" in retained, f"{topic} not republished: {sorted(retained)}"
    assert f"{BASE}/test/canary" not in retained, "broker kept old retained state: the test proves nothing"


async def publish_canary(bridge: MqttBridge) -> None:
    """Leave a retained message that only broker persistence could bring back.

    Through the hub's own link: client ids are bound to usernames, so a second client with
    the hub's credentials would take its session over.
    """
    await bridge.link.publish(f"{BASE}/test/canary", b"old", retain=True, qos=1)


async def test_reconnects_after_a_broker_restart_and_republishes_all_retained_state(
    bridged_hub: Bridged, record_property: Callable[[str, object], None]
) -> None:
    _hub, bridge, broker = bridged_hub
    await publish_canary(bridge)
    connects = bridge.link.counters["connects"]

    started = time.monotonic()
    await broker.arestart()
    await wait_until(lambda: bridge.link.counters["connects"] > connects, 15, "reconnect")
    async with AsyncPeer(broker) as watcher:
        await watcher.subscribe(f"{BASE}/bridge/state")
        await watcher.wait_for(lambda m: payload_of(m) == {"state": "online"}, 10, what="online again")
    record_property("reconnected_after_s", round(time.monotonic() - started, 3))

    await assert_everything_republished(broker)
    async with AsyncPeer(broker) as client:
        await client.subscribe(f"{BASE}/bridge/response/#")
        assert (await client.request("tool/probe.echo", {"text": "after"}))["data"]["text"] == "after"


async def test_keeps_retrying_with_backoff_while_the_broker_is_down(bridged_hub: Bridged) -> None:
    _hub, bridge, broker = bridged_hub
    await publish_canary(bridge)
    await asyncio.to_thread(broker.stop)
    await wait_until(lambda: not bridge.link.connected.is_set(), 5, "link down")
    await asyncio.sleep(3.5)  # several failed attempts: 1 s, then 2 s apart
    assert not bridge.link.connected.is_set()
    await asyncio.to_thread(broker.restart)  # same ports
    await wait_until(bridge.link.connected.is_set, 15, "reconnect after the outage")
    async with AsyncPeer(broker) as watcher:
        await watcher.subscribe(f"{BASE}/bridge/state")
        await watcher.wait_for(lambda m: payload_of(m) == {"state": "online"}, 10, what="online again")
    await assert_everything_republished(broker)
    assert bridge.link.counters["connects"] == 2


# -- request / response -------------------------------------------------------------------------


async def test_mosquitto_rr_round_trip_with_response_topic_and_correlation_data(bridged_hub: Bridged) -> None:
    _hub, _bridge, broker = bridged_hub
    user, password = broker.users["dashboard"]
    reply_topic = f"{BASE}/reply/{user}/rr-1"
    # Another account that reads the whole tree (client ids are bound to usernames: one
    # connection per account, so the observer cannot be the dashboard too).
    peer = await AsyncPeer(broker, "homeassistant").__aenter__()
    await peer.subscribe(f"{BASE}/reply/{user}/#")
    rr = find_binary("mosquitto_rr")
    assert rr is not None
    process = await asyncio.create_subprocess_exec(
        rr, "-h", broker.host, "-p", str(broker.port), "-u", user, "-P", password,
        "-t", f"{BASE}/bridge/request/tool/probe.echo", "-e", reply_topic,
        "-m", json.dumps({"args": {"text": "hello", "n": 3}}), "-W", "10",
        "-D", "publish", "correlation-data", "corr-42",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, err.decode()
    reply = json.loads(out.decode().strip().splitlines()[-1])
    assert reply == {"status": "ok", "data": {"text": "hello", "n": 3, "source": "mqtt"}, "transaction": None}

    seen = await peer.expect(reply_topic)
    await peer.__aexit__(None, None, None)
    assert getattr(seen.properties, "CorrelationData", None) == b"corr-42"
    assert not seen.retain


async def test_mqtt_311_client_gets_the_reply_on_the_response_topic_with_its_transaction(
    bridged_hub: Bridged,
) -> None:
    _hub, _bridge, broker = bridged_hub
    async with AsyncPeer(broker, protocol=aiomqtt.ProtocolVersion.V311) as old:
        await old.subscribe(f"{BASE}/bridge/response/#")
        await old.publish(f"{BASE}/bridge/request/tool/probe.echo", {"args": {"text": "v3"}, "transaction": "t-1"})
        message = await old.expect(f"{BASE}/bridge/response/tool/probe.echo")
    assert payload_of(message) == {"status": "ok", "data": {"text": "v3", "n": 0, "source": "mqtt"},
                                   "transaction": "t-1"}


async def test_a_plugin_bug_is_an_internal_error_reply_and_a_bridge_log_line(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    await peer.subscribe(f"{BASE}/bridge/#")
    reply = await peer.request("tool/probe.boom", {})
    assert reply["status"] == "error" and reply["error"]["code"] == "internal"
    assert "probe exploded" in reply["error"]["message"]
    line = await peer.expect_json(f"{BASE}/bridge/log")
    assert line["level"] == "error" and "probe.boom" in line["message"]
    assert (await peer.request("tool/probe.echo"))["status"] == "ok"


async def test_command_topics_map_onto_tools(bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin) -> None:
    reply_topic = f"{BASE}/reply/dashboard/cmd"
    await peer.subscribe(reply_topic)
    await peer.publish(f"{BASE}/guest/100/action", b"start", response_topic=reply_topic)
    assert payload_of(await peer.expect(reply_topic))["data"] == {"kind": "guest", "id": "100", "verb": "start"}
    since = peer.mark()
    await peer.publish(f"{BASE}/docker/nas/web/action", b"restart", response_topic=reply_topic)
    assert payload_of(await peer.expect(reply_topic, since=since))["data"]["id"] == "nas/web"
    # Without a Response Topic, commands are fire-and-forget, but they still run.
    await peer.publish(f"{BASE}/guest/101/set", b"OFF")
    await wait_until(lambda: probe.calls["poke"] == 3, 5, "the set command")


# -- retained requests and commands --------------------------------------------------------------


async def test_a_retained_request_or_command_published_live_is_ignored_and_logged(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    _hub, bridge, _broker = bridged_hub
    await peer.subscribe(f"{BASE}/bridge/#")
    await peer.publish(f"{BASE}/bridge/request/tool/probe.echo", {"transaction": "stale"}, retain=True)
    await peer.publish(f"{BASE}/guest/100/action", b"start", retain=True)
    await peer.publish(f"{BASE}/bridge/request/tool/probe.destroy", {"args": {"vmid": 100}}, retain=True)
    # A normal request afterwards is the marker: by its reply, the retained ones were handled.
    assert (await peer.request("tool/probe.echo", transaction="fresh"))["status"] == "ok"
    await wait_until(lambda: bridge.router.counters["ignored_retained"] == 3, 5, "three ignored")

    assert probe.calls == {"echo": 1}
    replies = [payload_of(m) for m in peer.seen if m.topic.value.startswith(f"{BASE}/bridge/response/")]
    assert [r["transaction"] for r in replies] == ["fresh"]
    logged = [payload_of(m) for m in peer.on(f"{BASE}/bridge/log")]
    assert sum("retained" in line["message"] for line in logged) == 3, logged
    assert all(line["level"] == "warning" for line in logged)


async def test_retained_requests_waiting_on_the_broker_are_not_replayed_when_the_hub_connects(
    mqtt_broker: MosquittoProcess, peer: AsyncPeer
) -> None:
    await peer.publish(f"{BASE}/bridge/request/tool/probe.poke", {"transaction": "stale"}, retain=True)
    await peer.publish(f"{BASE}/node/pve1/action", b"reboot", retain=True)
    await peer.subscribe(f"{BASE}/bridge/#")
    probe = ProbePlugin()
    async with bridged(mqtt_broker, plugin=probe) as (_hub, bridge):
        assert (await peer.request("tool/probe.echo"))["status"] == "ok"
        assert bridge.router.counters["ignored_retained"] == 2
    assert probe.calls == {"echo": 1}
    replies = [payload_of(m) for m in peer.seen if m.topic.value.startswith(f"{BASE}/bridge/response/")]
    assert [r["transaction"] for r in replies] == [replies[0]["transaction"]] and replies[0]["status"] == "ok"
    assert sum("retained" in payload_of(m)["message"] for m in peer.on(f"{BASE}/bridge/log")) == 2


# -- MQTT 3.1.1 fallback ---------------------------------------------------------------------------


async def test_falls_back_to_mqtt_311_on_a_broker_without_mqtt_5() -> None:
    broker = await start_embedded_broker()
    try:
        started = time.monotonic()
        async with bridged(broker, {"mqtt": {"protocol": "auto"}}, connect_within_s=30,
                           peer_protocol=aiomqtt.ProtocolVersion.V311) as (_hub, bridge):
            print(f"\nconnected to amqtt with MQTT {bridge.link.protocol} after {time.monotonic() - started:.1f} s")
            assert bridge.link.protocol == "3.1.1"
            # The abandoned MQTT 5 attempt must not linger as a second connection.
            links = [c for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == broker.port]
            assert len(links) == 1, links
            async with AsyncPeer(broker, None, protocol=aiomqtt.ProtocolVersion.V311) as old:
                await old.subscribe(f"{BASE}/bridge/response/#")
                reply = await old.request("tool/probe.echo", {"text": "amqtt"}, transaction="t-311", within=10)
            assert reply == {"status": "ok", "data": {"text": "amqtt", "n": 0, "source": "mqtt"},
                             "transaction": "t-311"}
    finally:
        await broker.aclose()
