"""The broker roles of the MQTT contract, enforced by mosquitto/acl with real clients.

Denials are proven by observation: a denied publish is followed by an allowed "marker"
from the same client, and the observer must see the marker without the denied message.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from jarvis.mqtt.broker import MosquittoProcess
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.fixtures.broker import MqttPeer

NOT_AUTHORIZED = 135  # MQTT 5 reason code, in PUBACK and CONNACK
BAD_CREDENTIALS = 134

Connect = Callable[..., MqttPeer]


@pytest.fixture
def connect(mqtt_broker: MosquittoProcess) -> Iterator[Connect]:
    peers: list[MqttPeer] = []

    def _connect(role: str, **kwargs: object) -> MqttPeer:
        peer = MqttPeer(mqtt_broker, role, **kwargs)  # type: ignore[arg-type]
        peers.append(peer)
        reason = peer.connect()
        assert not reason.is_failure, f"{role} refused: {reason}\n{mqtt_broker.log_tail()}"
        return peer

    yield _connect
    for peer in peers:
        peer.close()


def test_dashboard_cannot_publish_state_or_bridge_topics(connect: Connect) -> None:
    hub = connect("hub")
    hub.subscribe("jarvis/#")
    dashboard = connect("dashboard")

    assert dashboard.publish("jarvis/guest/100/state", '{"status":"stopped"}').value == NOT_AUTHORIZED
    assert dashboard.publish("jarvis/bridge/state", '{"state":"offline"}', retain=True).value == (
        NOT_AUTHORIZED
    )
    assert dashboard.publish("jarvis/event", '{"type":"alert"}').value == NOT_AUTHORIZED
    dashboard.publish("jarvis/chat/s1/in", "marker")
    assert hub.topics_until("jarvis/chat/s1/in") == []

    # Nothing was retained either: a late subscriber finds no state.
    late = connect("homeassistant")
    late.subscribe("jarvis/#")
    hub.publish("jarvis/event", "marker")
    assert late.topics_until("jarvis/event") == []


def test_dashboard_sends_requests_commands_and_chat(connect: Connect) -> None:
    hub = connect("hub")
    hub.subscribe("jarvis/#")
    dashboard = connect("dashboard")
    allowed = [
        "jarvis/bridge/request/tool/x",
        "jarvis/bridge/request/confirm",
        "jarvis/guest/100/action",
        "jarvis/guest/100/set",
        "jarvis/node/pve1/action",
        "jarvis/docker/nas/web/action",
        "jarvis/chat/s1/in",
    ]
    for topic in allowed:
        assert not dashboard.publish(topic, "payload").is_failure, topic
    dashboard.publish("jarvis/chat/marker/in", "marker")
    assert hub.topics_until("jarvis/chat/marker/in") == allowed


def test_dashboard_reads_the_jarvis_tree_but_not_discovery(connect: Connect) -> None:
    hub = connect("hub")
    hub.publish("jarvis/guest/100/state", '{"status":"running"}', retain=True)
    hub.publish("homeassistant/device/jarvis_100/config", "{}", retain=True)
    dashboard = connect("dashboard")
    dashboard.subscribe("jarvis/#")
    dashboard.subscribe("homeassistant/#")  # granted, but must never deliver
    hub.publish("jarvis/bridge/log", "live")
    hub.publish("homeassistant/device/jarvis_101/config", "{}")
    hub.publish("jarvis/event", "marker")
    assert dashboard.topics_until("jarvis/event") == ["jarvis/guest/100/state", "jarvis/bridge/log"]


def test_only_the_hub_writes_replies(connect: Connect) -> None:
    homeassistant = connect("homeassistant")
    homeassistant.subscribe("jarvis/reply/#")
    dashboard = connect("dashboard")
    assert dashboard.publish("jarvis/reply/homeassistant/1", "forged").value == NOT_AUTHORIZED
    hub = connect("hub")
    hub.publish("jarvis/reply/homeassistant/1", "genuine")
    message = homeassistant.expect("jarvis/reply/homeassistant/1")
    assert message.payload == b"genuine"


def test_homeassistant_writes_discovery_and_commands_only(connect: Connect) -> None:
    hub = connect("hub")
    hub.subscribe("jarvis/#")
    hub.subscribe("homeassistant/#")
    homeassistant = connect("homeassistant")
    allowed = [
        "homeassistant/status",
        "homeassistant/device/jarvis_100/config",
        "jarvis/guest/100/set",
        "jarvis/guest/100/action",
        "jarvis/node/pve1/action",
        "jarvis/docker/nas/web/action",
    ]
    denied = [
        "jarvis/node/pve1/state",
        "jarvis/bridge/state",
        "jarvis/bridge/request/tool/proxmox.guest_stop",
        "jarvis/chat/s1/in",
    ]
    for topic in allowed:
        assert not homeassistant.publish(topic, "x").is_failure, topic
    for topic in denied:
        assert homeassistant.publish(topic, "x").value == NOT_AUTHORIZED, topic
    homeassistant.publish("homeassistant/marker", "marker")
    assert hub.topics_until("homeassistant/marker") == allowed


def test_homeassistant_reads_jarvis_state(connect: Connect) -> None:
    hub = connect("hub")
    hub.publish("jarvis/node/pve1/state", '{"status":"online"}', retain=True)
    homeassistant = connect("homeassistant")
    homeassistant.subscribe("jarvis/node/+/state")
    assert homeassistant.expect("jarvis/node/pve1/state").retain


def test_hub_writes_both_trees_and_hears_commands(connect: Connect) -> None:
    homeassistant = connect("homeassistant")
    homeassistant.subscribe("jarvis/#")
    homeassistant.subscribe("homeassistant/#")
    hub = connect("hub")
    hub.subscribe("jarvis/guest/+/set")
    hub.subscribe("homeassistant/status")
    written = ["jarvis/bridge/state", "homeassistant/device/jarvis_bridge/config", "jarvis/event"]
    for topic in written:
        assert not hub.publish(topic, "{}").is_failure, topic
    hub.publish("jarvis/bridge/log", "marker")
    assert homeassistant.topics_until("jarvis/bridge/log") == written

    homeassistant.publish("homeassistant/status", "online")
    homeassistant.publish("jarvis/guest/100/set", "ON")
    assert hub.expect("homeassistant/status").payload == b"online"
    assert hub.expect("jarvis/guest/100/set").payload == b"ON"


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
def test_anonymous_clients_are_refused(mqtt_broker: MosquittoProcess, transport: str) -> None:
    with MqttPeer(mqtt_broker, None, transport=transport) as peer:  # type: ignore[arg-type]
        assert peer.connect().value == NOT_AUTHORIZED
    with MqttPeer(mqtt_broker, None, transport=transport, protocol=mqtt.MQTTv311) as peer:  # type: ignore[arg-type]
        assert peer.connect().is_failure


def test_anonymous_refused_for_the_cli_too(mqtt_broker: MosquittoProcess) -> None:
    result = subprocess.run(
        ["mosquitto_sub", "-h", mqtt_broker.host, "-p", str(mqtt_broker.port), "-t", "jarvis/#",
         "-C", "1", "-W", "5"],
        capture_output=True, text=True, timeout=15, check=False,
    )
    assert result.returncode != 0
    assert "not authori" in result.stderr.lower()


@pytest.mark.parametrize(
    ("role", "password"), [("dashboard", "wrong"), ("hub", ""), ("mallory", "secret")]
)
def test_wrong_credentials_are_refused(
    mqtt_broker: MosquittoProcess, role: str, password: str
) -> None:
    with MqttPeer(mqtt_broker, role, password=password) as peer:
        assert peer.connect().value in (BAD_CREDENTIALS, NOT_AUTHORIZED)
    with MqttPeer(mqtt_broker, role, password=password, protocol=mqtt.MQTTv311) as peer:
        assert peer.connect().is_failure


def test_websockets_listener_serves_the_same_roles(connect: Connect) -> None:
    hub = connect("hub")
    hub.publish("jarvis/guest/100/state", '{"status":"running"}', retain=True)
    dashboard = connect("dashboard", transport="websockets")
    dashboard.subscribe("jarvis/#")
    assert dashboard.expect("jarvis/guest/100/state").payload == b'{"status":"running"}'
    assert dashboard.publish("jarvis/guest/100/state", "{}").value == NOT_AUTHORIZED
    assert not dashboard.publish("jarvis/guest/100/action", "start").is_failure


def test_mosquitto_rr_gets_its_reply_in_the_reply_space(
    mqtt_broker: MosquittoProcess, connect: Connect
) -> None:
    hub = connect("hub")
    hub.subscribe("jarvis/bridge/request/#")
    user, password = mqtt_broker.users["dashboard"]
    rr = subprocess.Popen(
        ["mosquitto_rr", "-h", mqtt_broker.host, "-p", str(mqtt_broker.port), "-u", user,
         "-P", password, "-t", "jarvis/bridge/request/plugins", "-e", "jarvis/reply/dashboard/cli",
         "-D", "publish", "correlation-data", "c-42", "-m", '{"args":{}}', "-W", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        request = hub.expect("jarvis/bridge/request/plugins", timeout=10)
        props: Any = request.properties
        reply: Any = Properties(PacketTypes.PUBLISH)
        reply.CorrelationData = props.CorrelationData
        hub.publish(props.ResponseTopic, '{"status":"ok"}', properties=reply)
        out, err = rr.communicate(timeout=15)
    finally:
        rr.kill()
    assert rr.returncode == 0, err
    assert props.CorrelationData == b"c-42"
    assert out.strip() == '{"status":"ok"}'


def test_any_user_may_read_its_own_replies_only() -> None:
    """The `pattern` rule: a narrower user (no jarvis/# read) still receives its replies."""
    with MosquittoProcess(users={"hub": "hub-pw", "script": "script-pw"}).start() as broker:
        with MqttPeer(broker, "script") as script, MqttPeer(broker, "hub") as hub:
            assert not script.connect().is_failure
            assert not hub.connect().is_failure
            script.subscribe("jarvis/#")
            hub.publish("jarvis/reply/hub/1", "for someone else")
            hub.publish("jarvis/guest/100/state", "{}")
            hub.publish("jarvis/reply/script/1", "yours")
            assert script.topics_until("jarvis/reply/script/1") == []
