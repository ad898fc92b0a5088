"""A real Home Assistant (2025.4.4) against our mosquitto: device-based MQTT discovery, no hub yet.

These tests prove tests/fixtures/homeassistant.py and pin down what HA accepts, so Jarvis's own
discovery (built next) has a reference: the payload below is hand-written the way the hub should
publish it, as the `hub` user, on the contract's topics; HA logs in as `homeassistant`.
docs/homeassistant-testing.md lists every rejection with its log line; `REJECTED` below checks
each of them against this HA.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from jarvis.mqtt.broker import MosquittoProcess

from tests.fixtures.bridge import AsyncPeer, retained_under, wait_until
from tests.fixtures.homeassistant import HomeAssistantProcess

# Each test here takes seconds (the first one also waits ~10-30 s for HA to start).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BASE = "jarvis"
ORIGIN = {"name": "jarvis", "sw": "0.1.0", "url": "https://example.invalid/jarvis"}
ONLINE, OFFLINE = {"state": "online"}, {"state": "offline"}


@dataclass
class FakeNode:
    """A Proxmox node as the hub will describe it to HA: one device, six components."""

    node: str = field(default_factory=lambda: f"pve{uuid.uuid4().hex[:6]}")
    vmid: str = field(default_factory=lambda: str(100_000 + uuid.uuid4().int % 800_000))
    prefix: str = "homeassistant"

    @property
    def device_id(self) -> str:
        return f"jarvis_test_{self.node}"

    @property
    def config_topic(self) -> str:
        return f"{self.prefix}/device/{self.device_id}/config"

    def topic(self, kind: str, ident: str, leaf: str) -> str:
        return f"{BASE}/{kind}/{ident}/{leaf}"

    @property
    def bridge_state(self) -> str:
        return f"{BASE}/bridge/state"

    def uid(self, key: str) -> str:
        return f"{self.device_id}_{key}"

    def config(self) -> dict[str, Any]:
        """The device-based discovery payload (abbreviated keys, as HA documents them)."""
        node_state = self.topic("node", self.node, "state")
        return {
            "dev": {"ids": [self.device_id], "name": f"Node {self.node}", "mf": "Jarvis",
                    "mdl": "Proxmox VE node", "sw": "8.2.4"},
            "o": ORIGIN,
            "avty": [
                {"t": self.bridge_state, "val_tpl": "{{ value_json.state }}"},
                {"t": self.topic("node", self.node, "availability"), "val_tpl": "{{ value_json.state }}"},
            ],
            "avty_mode": "all",
            "cmps": {
                "temperature": {
                    "p": "sensor", "name": "Temperature", "uniq_id": self.uid("temperature"),
                    "stat_t": node_state, "val_tpl": "{{ value_json.temperature_c }}",
                    "dev_cla": "temperature", "stat_cla": "measurement", "unit_of_meas": "°C",
                },
                "cpu": {
                    "p": "sensor", "name": "CPU", "uniq_id": self.uid("cpu"), "stat_t": node_state,
                    "val_tpl": "{{ value_json.cpu_pct }}", "stat_cla": "measurement", "unit_of_meas": "%",
                },
                "memory": {
                    "p": "sensor", "name": "Memory used", "uniq_id": self.uid("memory"), "stat_t": node_state,
                    "val_tpl": "{{ value_json.mem_used }}", "dev_cla": "data_size", "stat_cla": "measurement",
                    "unit_of_meas": "B",
                },
                "online": {
                    "p": "binary_sensor", "name": "Online", "uniq_id": self.uid("online"), "stat_t": node_state,
                    "val_tpl": "{{ 'ON' if value_json.status == 'online' else 'OFF' }}", "dev_cla": "running",
                },
                "guest": {
                    "p": "switch", "name": f"Guest {self.vmid}", "uniq_id": self.uid(f"guest_{self.vmid}"),
                    "stat_t": self.topic("guest", self.vmid, "state"),
                    "val_tpl": "{{ 'ON' if value_json.status == 'running' else 'OFF' }}",
                    "cmd_t": self.topic("guest", self.vmid, "set"), "pl_on": "ON", "pl_off": "OFF",
                },
                "reboot": {
                    "p": "button", "name": "Reboot", "uniq_id": self.uid("reboot"), "dev_cla": "restart",
                    "cmd_t": self.topic("node", self.node, "action"), "pl_prs": "reboot",
                },
            },
        }

    def node_state(self) -> dict[str, Any]:
        return {"status": "online", "cpu_pct": 12.5, "mem_used": 8_589_934_592, "temperature_c": 47.5}

    def retained_topics(self) -> list[str]:
        return [self.config_topic, self.topic("node", self.node, "state"), self.topic("guest", self.vmid, "state"),
                self.topic("node", self.node, "availability")]


async def entity_ids(ha: HomeAssistantProcess, node: FakeNode, within: float = 20.0) -> dict[str, str]:
    """Wait until HA registered every component of `node`; return component key -> entity_id."""
    wanted = {component["uniq_id"]: key for key, component in node.config()["cmps"].items()}
    found: dict[str, str] = {}

    async def complete() -> bool:
        registry = await ha.entity_registry()
        found.clear()
        found.update({wanted[e["unique_id"]]: e["entity_id"] for e in registry
                      if e["platform"] == "mqtt" and e["unique_id"] in wanted})
        return len(found) == len(wanted)

    deadline = asyncio.get_running_loop().time() + within
    while not await complete():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"entities of {node.device_id} missing; found {found}\n{ha.log_tail()}")
        await asyncio.sleep(0.3)
    return found


async def device_of(ha: HomeAssistantProcess, node: FakeNode) -> dict[str, Any] | None:
    """HA's device registry entry for `node` (identified by ("mqtt", device id)), if any."""
    return next((d for d in await ha.device_registry() if ["mqtt", node.device_id] in d["identifiers"]), None)


def mqtt_problems(ha: HomeAssistantProcess, *needles: str) -> list[str]:
    """WARNING/ERROR log lines that mention any of `needles` (a device id, a topic, an entity id).

    Template warnings name only the template, never the entity or topic, so any counts.
    """
    return ha.log_lines(*needles, "Template variable")


@pytest.fixture
async def hub(mqtt_broker_session: MosquittoProcess) -> AsyncIterator[AsyncPeer]:
    """A client with the hub's credentials: it publishes what the hub will publish."""
    async with AsyncPeer(mqtt_broker_session, role="hub") as peer:
        yield peer


@pytest.fixture
async def node(homeassistant_session: HomeAssistantProcess, hub: AsyncPeer) -> AsyncIterator[FakeNode]:
    """A node announced to the session's HA: retained config, state and availability online."""
    fake = FakeNode()
    await hub.publish(fake.bridge_state, ONLINE, retain=True)
    await hub.publish(fake.topic("node", fake.node, "availability"), ONLINE, retain=True)
    await hub.publish(fake.topic("node", fake.node, "state"), fake.node_state(), retain=True)
    await hub.publish(fake.topic("guest", fake.vmid, "state"), {"status": "stopped"}, retain=True)
    await hub.publish(fake.config_topic, fake.config(), retain=True)
    yield fake
    for topic in fake.retained_topics():
        await hub.publish(topic, b"", retain=True)


# -- discovery -----------------------------------------------------------------------------


async def test_device_discovery_creates_the_device_and_its_entities(
    homeassistant_session: HomeAssistantProcess, node: FakeNode
) -> None:
    ha = homeassistant_session
    ids = await entity_ids(ha, node)

    device = await device_of(ha, node)
    assert device is not None
    assert (device["name"], device["manufacturer"], device["model"], device["sw_version"]) == (
        f"Node {node.node}", "Jarvis", "Proxmox VE node", "8.2.4")
    registry = {e["entity_id"]: e for e in await ha.entity_registry()}
    assert {registry[entity_id]["device_id"] for entity_id in ids.values()} == {device["id"]}
    # entity_id = <platform>.<device name>_<entity name>, slugged; the unique_id never shows.
    assert ids["temperature"] == f"sensor.node_{node.node}_temperature"

    temperature = await ha.wait_for_state(ids["temperature"], "47.5")
    assert temperature["attributes"].items() >= {
        "device_class": "temperature", "state_class": "measurement", "unit_of_measurement": "°C"}.items()
    cpu = await ha.wait_for_state(ids["cpu"], "12.5")
    assert cpu["attributes"]["unit_of_measurement"] == "%" and "device_class" not in cpu["attributes"]
    memory = await ha.wait_for_state(ids["memory"], "8589934592")
    assert memory["attributes"]["unit_of_measurement"] == "B"
    online = await ha.wait_for_state(ids["online"], "on")
    assert online["attributes"]["device_class"] == "running"
    await ha.wait_for_state(ids["guest"], "off")
    assert (await ha.get_state(ids["reboot"]))["state"] == "unknown"  # a button's state: last press

    # Every component went through without a single MQTT warning or error about it.
    assert mqtt_problems(ha, node.device_id, node.node) == []
    assert f"Found new component: sensor {node.device_id} temperature" in ha.log_text()


async def test_switch_and_button_publish_on_their_command_topics(
    homeassistant_session: HomeAssistantProcess, node: FakeNode, mqtt_broker_session: MosquittoProcess,
    hub: AsyncPeer,
) -> None:
    ha = homeassistant_session
    ids = await entity_ids(ha, node)
    await ha.wait_for_state(ids["guest"], "off")
    set_topic, action_topic = node.topic("guest", node.vmid, "set"), node.topic("node", node.node, "action")
    # The hub's own account observes (client ids are bound to usernames: one connection each).
    observer = hub
    await observer.subscribe(set_topic)
    await observer.subscribe(action_topic)

    await ha.call_service("switch", "turn_on", {"entity_id": ids["guest"]})
    assert (await observer.expect(set_topic, within=10)).payload == b"ON"
    # Not optimistic (it has a state topic): the switch stays off until the hub says running.
    assert (await ha.get_state(ids["guest"]))["state"] == "off"
    await observer.publish(node.topic("guest", node.vmid, "state"), {"status": "running"}, retain=True)
    await ha.wait_for_state(ids["guest"], "on")

    mark = observer.mark()
    await ha.call_service("switch", "turn_off", {"entity_id": ids["guest"]})
    assert (await observer.expect(set_topic, within=10, since=mark)).payload == b"OFF"

    await ha.call_service("button", "press", {"entity_id": ids["reboot"]})
    assert (await observer.expect(action_topic, within=10)).payload == b"reboot"
    pressed = await ha.wait_for_state(ids["reboot"], lambda s: s is not None and s["state"] != "unknown")
    assert re.match(r"\d{4}-\d\d-\d\dT", pressed["state"])  # the time of the last press
    # Commands are never retained (a live subscriber cannot tell: ask the broker afterwards).
    assert await retained_under(mqtt_broker_session, set_topic) == {}
    assert await retained_under(mqtt_broker_session, action_topic) == {}
    assert mqtt_problems(ha, node.device_id, set_topic, action_topic) == []


async def test_availability_all_needs_every_topic_online(
    homeassistant_session: HomeAssistantProcess, node: FakeNode, hub: AsyncPeer
) -> None:
    ha = homeassistant_session
    ids = await entity_ids(ha, node)
    availability = node.topic("node", node.node, "availability")
    await ha.wait_for_state(ids["temperature"], "47.5")
    try:
        await hub.publish(availability, OFFLINE, retain=True)  # node down, bridge up
        for entity_id in ids.values():
            await ha.wait_for_state(entity_id, "unavailable")
        await hub.publish(availability, ONLINE, retain=True)
        await ha.wait_for_state(ids["temperature"], "47.5")
        await hub.publish(node.bridge_state, OFFLINE, retain=True)  # bridge down, node up
        await ha.wait_for_state(ids["temperature"], "unavailable")
    finally:
        await hub.publish(node.bridge_state, ONLINE, retain=True)
    await ha.wait_for_state(ids["temperature"], "47.5")
    await ha.wait_for_state(ids["guest"], "off")


async def test_an_empty_retained_config_removes_the_device(
    homeassistant_session: HomeAssistantProcess, node: FakeNode, hub: AsyncPeer
) -> None:
    ha = homeassistant_session
    ids = await entity_ids(ha, node)
    assert await device_of(ha, node) is not None

    await hub.publish(node.config_topic, b"", retain=True)

    await wait_until_async(lambda: device_of(ha, node), lambda device: device is None, "device removed")
    for entity_id in ids.values():
        await ha.wait_for_state(entity_id, lambda s: s is None)
    registered = {e["entity_id"] for e in await ha.entity_registry()}
    assert not registered & set(ids.values())
    assert f"Removing component: {ids['temperature']}" in ha.log_text()
    assert mqtt_problems(ha, node.device_id) == []


async def wait_until_async(fetch: Any, check: Any, what: str, within: float = 15.0) -> Any:
    """Await `fetch()` until `check(value)` holds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await fetch()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {within}s; last {value!r}")
        await asyncio.sleep(0.3)


# -- what HA 2025.4 rejects ------------------------------------------------------------------


def _without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


def _one(component: dict[str, Any], **device_level: Any) -> dict[str, Any]:
    """A device payload with a single component `c` (valid unless the case breaks it)."""
    return {"dev": {"ids": ["x"], "name": "x"}, "o": ORIGIN, "cmps": {"c": component}, **device_level}


SENSOR = {"p": "sensor", "uniq_id": "u", "stat_t": f"{BASE}/node/x/state"}

# What a rejection costs: the whole device payload, the one component, or an entity that HA
# registers and then fails to add (or drops as a duplicate).
DEVICE, COMPONENT, ENTITY = "device", "component", "entity"

# case id -> (payload, a fragment of the log line HA writes ({id}: the discovery id), what is lost)
REJECTED: dict[str, tuple[dict[str, Any], str, str]] = {
    "device_class none": (
        _one(SENSOR | {"dev_cla": "none"}),
        "Error 'expected SensorDeviceClass or one of 'date', 'enum', 'timestamp'", COMPONENT),
    "switch without command_topic": (
        _one({"p": "switch", "uniq_id": "u", "stat_t": f"{BASE}/guest/1/state"}),
        "Error 'required key not provided @ data['command_topic']' when processing MQTT discovery message", COMPONENT),
    "button without command_topic": (
        _one({"p": "button", "uniq_id": "u"}),
        "Error 'required key not provided @ data['command_topic']' when processing MQTT discovery message", COMPONENT),
    "no origin": (
        _without(_one(SENSOR), "o"),
        "Invalid MQTT device discovery payload for {id}, required key not provided @ data['origin']", DEVICE),
    "origin without name": (
        _one(SENSOR) | {"o": {"sw": "0.1.0"}},
        "Invalid MQTT device discovery payload for {id}, required key not provided @ data['origin']['name']", DEVICE),
    "component without unique_id": (
        _one(_without(SENSOR, "uniq_id")),
        "required key not provided @ data['components']['c']['unique_id']", DEVICE),
    "unknown platform": (
        _one(SENSOR | {"p": "gauge"}),
        "value must be one of ['alarm_control_panel', 'binary_sensor', 'button'", DEVICE),
    "binary_sensor device_class online": (
        _one({"p": "binary_sensor", "uniq_id": "u", "stat_t": f"{BASE}/node/x/state", "dev_cla": "online"}),
        "Error 'expected BinarySensorDeviceClass or one of 'battery'", COMPONENT),
    "component without platform": (
        _one(_without(SENSOR, "p")),
        "required key not provided @ data['components']['c']['platform']", DEVICE),
    "device without identifiers": (
        _one(SENSOR) | {"dev": {"name": "x"}},
        "Device must have at least one identifying value in 'identifiers' and/or 'connections'", DEVICE),
    "unknown device-level key": (
        _one(SENSOR, state="online"),
        "extra keys not allowed @ data['state']", DEVICE),
    "availability_topic and availability together": (
        _one(SENSOR, avty_t=f"{BASE}/bridge/state", avty=[{"t": f"{BASE}/node/x/availability"}]),
        "two or more values in the same group of exclusion 'availability'", DEVICE),
    "unknown state_class": (
        _one(SENSOR | {"stat_cla": "gauge"}),
        "Error 'expected SensorStateClass or one of 'measurement'", COMPONENT),
    "the same unique_id twice": (
        _one(SENSOR) | {"cmps": {"c": SENSOR, "d": SENSOR}},
        "Platform mqtt does not generate unique IDs. ID {id}_u already exists - ignoring", ENTITY),
    "entity_category config on a sensor": (
        _one(SENSOR | {"ent_cat": "config"}),
        "Error adding entity sensor.{id}_mqtt_sensor for domain sensor with platform mqtt", ENTITY),
    "wildcard in command_topic": (
        _one({"p": "switch", "uniq_id": "u", "cmd_t": f"{BASE}/guest/+/set"}),
        "Error 'Wildcards cannot be used in topic names for dictionary value @ data['command_topic']'", COMPONENT),
}


@pytest.mark.parametrize("case", list(REJECTED))
async def test_home_assistant_rejects_and_logs(
    case: str, homeassistant_session: HomeAssistantProcess, hub: AsyncPeer
) -> None:
    ha = homeassistant_session
    payload, expected, lost = REJECTED[case]
    ident = f"jarvis_reject_{uuid.uuid4().hex[:8]}"
    payload = json.loads(json.dumps(payload).replace('"u"', f'"{ident}_u"').replace('"x"', f'"{ident}"'))
    topic = f"homeassistant/device/{ident}/config"
    await hub.publish(topic, payload)  # not retained: nothing to clean up
    expected = expected.format(id=ident)

    def logged() -> bool:
        return any(expected in line and (ident in line or topic in line) for line in ha.log_lines(ident, topic))

    await wait_until(logged, 15, f"HA's rejection of {case!r} in its log")
    if lost == DEVICE:  # refused before any component was looked at
        assert f"Processing device discovery for '{ident}'" not in ha.log_text()
    registered = [e for e in await ha.entity_registry() if e["unique_id"] == f"{ident}_u"]
    assert len(registered) == (1 if lost == ENTITY else 0), registered


async def test_an_illegal_discovery_topic_is_ignored_with_a_warning(
    homeassistant_session: HomeAssistantProcess, hub: AsyncPeer
) -> None:
    ha = homeassistant_session
    ident = f"jarvis.{uuid.uuid4().hex[:8]}"  # only [a-zA-Z0-9_-] may name a discovery id
    await hub.publish(f"homeassistant/device/{ident}/config", _one(SENSOR))
    await wait_until(lambda: bool(ha.log_lines(f"illegal discovery topic 'homeassistant/device/{ident}/config'")),
                     15, "the illegal-topic warning")


# -- birth ---------------------------------------------------------------------------------


async def test_birth_message_on_start_and_after_restart(
    homeassistant: HomeAssistantProcess, mqtt_broker: MosquittoProcess
) -> None:
    ha = homeassistant
    assert len(ha.births) == 1 and len(ha.birth_delays) == 1  # the fixture waited for the first
    fake = FakeNode()
    async with AsyncPeer(mqtt_broker, role="hub") as peer:
        await peer.subscribe("homeassistant/status")
        await peer.publish(fake.bridge_state, ONLINE, retain=True)
        await peer.publish(fake.topic("node", fake.node, "availability"), ONLINE, retain=True)
        await peer.publish(fake.topic("node", fake.node, "state"), fake.node_state(), retain=True)
        await peer.publish(fake.config_topic, fake.config(), retain=True)
        ids = await entity_ids(ha, fake)
        await ha.wait_for_state(ids["temperature"], "47.5")
        mark = peer.mark()

        await ha.arestart()

        birth = await peer.wait_for(lambda m: m.topic.value == "homeassistant/status" and m.payload == b"online",
                                    within=10, since=mark, what="the birth message")
        assert not birth.retain
        # HA does not disconnect cleanly, so the broker delivers its Last Will before the birth.
        statuses = [m.payload for m in peer.on("homeassistant/status", since=mark)]
        assert statuses[:2] == [b"offline", b"online"], statuses
        assert len(ha.births) == 2 and len(ha.birth_delays) == 2
        # Retained discovery and state come back without the hub doing anything.
        await ha.wait_for_state(ids["temperature"], "47.5")
    assert mqtt_problems(ha, fake.device_id) == []
    assert ha.log_text().count("MQTT client initialized, birth message sent") == 2
