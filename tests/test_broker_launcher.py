"""The broker launcher: demo and secure configs, loopback only, crash/restart, fallbacks."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
import pytest
from jarvis.mqtt import broker as broker_module
from jarvis.mqtt.broker import (
    BrokerError,
    MosquittoProcess,
    mosquitto_dir,
    production_globals,
    render_acl,
    start_demo_broker,
)
from jarvis.mqtt.embedded import EmbeddedBroker, start_embedded_broker

from tests.fixtures.broker import MqttPeer

MOSQUITTO_DIR = Path(__file__).resolve().parents[1] / "mosquitto"


def listening_addresses(broker: MosquittoProcess) -> dict[int, set[str]]:
    """Map each port mosquitto listens on to the addresses it is bound to."""
    assert broker.pid is not None
    bound: dict[int, set[str]] = {}
    for conn in psutil.Process(broker.pid).net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN:
            bound.setdefault(conn.laddr.port, set()).add(conn.laddr.ip)
    return bound


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def test_demo_broker_allows_anonymous_clients_on_loopback(
    mqtt_demo_broker: MosquittoProcess,
) -> None:
    with MqttPeer(mqtt_demo_broker) as v5, MqttPeer(
        mqtt_demo_broker, protocol=mqtt.MQTTv311
    ) as v311, MqttPeer(mqtt_demo_broker, transport="websockets") as browser:
        for peer in (v5, v311, browser):
            assert not peer.connect().is_failure
        browser.subscribe("jarvis/#")
        v311.publish("jarvis/guest/100/state", '{"status":"running"}', retain=True)
        v5.publish("jarvis/bridge/request/refresh", "{}")
        assert browser.expect("jarvis/guest/100/state").payload == b'{"status":"running"}'
        assert browser.expect("jarvis/bridge/request/refresh").payload == b"{}"

    bound = listening_addresses(mqtt_demo_broker)
    assert set(bound) == {mqtt_demo_broker.port, mqtt_demo_broker.ws_port}
    assert all(is_loopback(ip) for ips in bound.values() for ip in ips), bound


def test_secure_broker_listens_on_loopback_only(mqtt_broker: MosquittoProcess) -> None:
    bound = listening_addresses(mqtt_broker)
    assert set(bound) == {mqtt_broker.port, mqtt_broker.ws_port}
    assert all(is_loopback(ip) for ips in bound.values() for ip in ips), bound
    assert {"hub", "dashboard", "homeassistant"} <= set(mqtt_broker.users)
    assert set(mqtt_broker.users) - {"hub", "dashboard", "homeassistant"} == set(mqtt_broker.accounts)
    assert len({password for _, password in mqtt_broker.users.values()}) == len(mqtt_broker.users)


def test_secure_config_binds_client_ids_and_disables_nagle(mqtt_broker: MosquittoProcess) -> None:
    config = mqtt_broker.config_path.read_text()
    assert "set_tcp_nodelay true" in config
    # Per listener (in the global section it would open a default listener on 1883).
    listeners = config.split("\nlistener ")[1:]
    assert len(listeners) == 2 and all("use_username_as_clientid true" in block for block in listeners)


def test_secure_config_reuses_the_production_settings(mqtt_broker: MosquittoProcess) -> None:
    config = mqtt_broker.config_path.read_text()
    assert "allow_anonymous false" in config
    assert "max_packet_size 1048576" in config
    assert "/mosquitto/" not in config  # the container paths were replaced


def test_payloads_up_to_the_packet_limit_pass_and_larger_disconnect(
    mqtt_broker: MosquittoProcess,
) -> None:
    with MqttPeer(mqtt_broker, "hub") as hub, MqttPeer(
        mqtt_broker, "dashboard", protocol=mqtt.MQTTv311
    ) as dashboard:
        hub.connect()
        dashboard.connect()
        hub.subscribe("jarvis/chat/+/in")
        # 300 KiB: above what the hub accepts, so it reaches the hub to be rejected there.
        dashboard.publish("jarvis/chat/big/in", b"x" * 300 * 1024)
        assert len(hub.expect("jarvis/chat/big/in").payload) == 300 * 1024
        disconnected = []
        dashboard.client.on_disconnect = lambda *args: disconnected.append(args)
        dashboard.client.publish("jarvis/chat/huge/in", b"x" * 1100 * 1024, qos=0)
        with pytest.raises(AssertionError):
            hub.expect("jarvis/chat/huge/in", timeout=1.5)
        assert disconnected
        assert "disconnected due to oversize packet" in mqtt_broker.log_text()


def test_kill_then_restart_on_the_same_ports(mqtt_broker: MosquittoProcess) -> None:
    port, ws_port = mqtt_broker.port, mqtt_broker.ws_port
    mqtt_broker.kill()
    assert not mqtt_broker.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((mqtt_broker.host, port), timeout=2).close()

    mqtt_broker.restart()
    assert (mqtt_broker.port, mqtt_broker.ws_port) == (port, ws_port)
    with MqttPeer(mqtt_broker, "hub") as hub:
        assert not hub.connect().is_failure


def test_retained_state_survives_a_restart_only_with_persistence() -> None:
    for persistence, expected in ((True, ["jarvis/guest/100/state"]), (False, [])):
        with MosquittoProcess(persistence=persistence).start() as broker:
            with MqttPeer(broker, "hub") as hub:
                hub.connect()
                hub.publish("jarvis/guest/100/state", "{}", retain=True)
            broker.restart()
            with MqttPeer(broker, "hub") as hub:
                hub.connect()
                hub.subscribe("jarvis/#")
                hub.publish("jarvis/event", "marker")
                assert hub.topics_until("jarvis/event") == expected, persistence


def test_start_failure_is_reported_with_the_log_and_does_not_hang() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = MosquittoProcess(mqtt_port=port, ws_port=broker_module.find_free_port())
        with pytest.raises(BrokerError, match="Address already in use"):
            broker.start(timeout=10)
        broker.close()
        assert not broker.workdir.exists()


def test_make_users_creates_working_credentials(tmp_path: Path) -> None:
    pwfile = tmp_path / "passwd"
    env = {**os.environ, "JARVIS_MQTT_HUB_PASSWORD": "from-the-environment"}
    first = subprocess.run(
        [str(MOSQUITTO_DIR / "make-users"), str(pwfile)],
        capture_output=True, text=True, env=env, timeout=30, check=True,
    )
    generated = dict(re.findall(r"^\s+(\w+)=(\S+)$", first.stdout, re.M))
    assert set(generated) == {"dashboard", "homeassistant"}, first.stdout
    assert "from-the-environment" not in pwfile.read_text()  # stored hashed
    assert pwfile.stat().st_mode & 0o077 == 0o040  # group-readable, nobody else

    second = subprocess.run(
        [str(MOSQUITTO_DIR / "make-users"), str(pwfile)],
        capture_output=True, text=True, timeout=30, check=True,
    )
    assert "dashboard: unchanged" in second.stdout
    assert "=" not in second.stdout  # nothing regenerated, no password printed

    users = {"hub": "from-the-environment", **generated}
    with MosquittoProcess(users=users, password_file=pwfile).start() as broker:
        for role in users:
            with MqttPeer(broker, role) as peer:
                assert not peer.connect().is_failure, role
        with MqttPeer(broker, "dashboard", password=users["hub"]) as peer:
            assert peer.connect().is_failure


def test_acl_follows_a_custom_base_topic() -> None:
    acl = render_acl((MOSQUITTO_DIR / "acl").read_text(), "lab/jarvis")
    assert "topic write lab/jarvis/guest/+/action" in acl
    assert "pattern read lab/jarvis/reply/%u/#" in acl
    assert re.search(r"^topic .*\bjarvis/", acl.replace("lab/jarvis", ""), re.M) is None
    with pytest.raises(BrokerError):
        render_acl(acl, "bad/+/topic")


def test_acl_with_custom_base_topic_is_enforced() -> None:
    with MosquittoProcess(base_topic="lab").start() as broker:
        with MqttPeer(broker, "hub") as hub, MqttPeer(broker, "dashboard") as dashboard:
            hub.connect()
            dashboard.connect()
            hub.subscribe("lab/#")
            assert dashboard.publish("lab/guest/1/state", "{}").value == 135
            assert dashboard.publish("jarvis/guest/1/action", "start").value == 135
            dashboard.publish("lab/guest/1/action", "start")
            assert hub.topics_until("lab/guest/1/action") == []


def test_embedded_demo_template_matches_the_shipped_file() -> None:
    def directives(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()[:1] not in ("", "#")]

    shipped = (MOSQUITTO_DIR / "demo.conf").read_text()
    assert directives(shipped) == directives(broker_module._EMBEDDED_DEMO_TEMPLATE)
    assert mosquitto_dir() == MOSQUITTO_DIR


def test_production_globals_keep_settings_and_drop_paths_and_listeners() -> None:
    text = production_globals((MOSQUITTO_DIR / "mosquitto.conf").read_text())
    words = {line.split()[0] for line in text.splitlines()}
    assert {"allow_anonymous", "max_packet_size", "per_listener_settings"} <= words
    assert not words & {"listener", "password_file", "acl_file", "persistence_location"}


async def test_demo_broker_prefers_mosquitto(mqtt_demo_broker: MosquittoProcess) -> None:
    handle = await start_demo_broker()
    try:
        assert isinstance(handle, MosquittoProcess)
        assert handle.mode == "demo"
    finally:
        await handle.aclose()


async def test_embedded_fallback_serves_mqtt_311_on_tcp_and_websockets() -> None:
    handle = await start_embedded_broker()
    assert isinstance(handle, EmbeddedBroker)

    def exchange() -> list[bytes]:
        with MqttPeer(handle, protocol=mqtt.MQTTv311) as tcp, MqttPeer(
            handle, protocol=mqtt.MQTTv311, transport="websockets"
        ) as ws:
            assert not tcp.connect().is_failure
            assert not ws.connect().is_failure
            ws.subscribe("jarvis/#")
            tcp.publish("jarvis/guest/100/state", "running", retain=True)
            return [bytes(ws.expect("jarvis/guest/100/state").payload)]

    try:
        # paho blocks; the broker runs on this event loop, so the clients go to a thread.
        assert await asyncio.wait_for(asyncio.to_thread(exchange), 20) == [b"running"]
    finally:
        await handle.aclose()
