"""Entity kinds describe every published payload; bridge/schema, deadbands and docs derive from them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from jarvis.core import EntityKind, StateField, fields
from jarvis.core.entities import deadband_rules, markdown_table
from jarvis.core.hub import Hub
from jarvis.mqtt.bridge import MqttBridge
from jarvis.mqtt.broker import MosquittoProcess
from jarvis.mqtt.publisher import StatePublisher
from jarvis.plugins.proxmox.kinds import GUEST, KINDS
from jarvis.plugins.proxmox.models import parse_cluster_resources

from tests.fixtures.bridge import BASE, hub_config, retained_under
from tests.fixtures.hub import running_hub
from tests.fixtures.proxmox import proxmox_config
from tests.fixtures.thirdparty import REPO
from tests.test_proxmox_models import load


@pytest.fixture
async def sim_hub(pve_sim: Any) -> AsyncIterator[Hub]:
    """The in-tree plugins on the simulator (docker and network idle), polled once."""
    config = proxmox_config(pve_sim)
    config["plugins"]["network"] = {"hosts": {"localhost": {"address": "127.0.0.1"}}}
    async with running_hub(config, plugins=["proxmox", "ssh", "docker", "network"]) as hub:
        await hub.refresh()
        yield hub


async def test_every_published_entity_matches_its_kind(sim_hub: Hub) -> None:
    index = sim_hub.registrations.kind_index
    items = sim_hub.state.items()
    assert len(items) > 20
    for key, data in items.items():
        kind = index.kind_of(key)
        assert kind is not None, f"no entity kind describes {'/'.join(key)}"
        assert kind.problems(data) == [], (key, kind.problems(data))


def test_one_row_builder_emits_exactly_the_guest_fields_on_every_fixture() -> None:
    for fixture in ("cluster_resources.json", "ansible_cluster_resources_type_vm.json"):
        for row in parse_cluster_resources(load(fixture)).guests.values():
            assert tuple(row) == GUEST.field_names
            assert GUEST.problems(row) == []


async def test_bridge_schema_is_retained_and_describes_every_field_of_every_kind(
    mqtt_broker: MosquittoProcess, pve_sim: Any
) -> None:
    config = hub_config(mqtt_broker, proxmox_config(pve_sim))
    async with running_hub(config, plugins=["proxmox", "docker", "network"]) as hub:
        bridge = MqttBridge(hub)
        await bridge.start()
        try:
            await bridge.wait_connected(15)
            await hub.refresh()
            retained = await retained_under(mqtt_broker, f"{BASE}/bridge/schema")
        finally:
            await bridge.stop()
    schema = retained[f"{BASE}/bridge/schema"]
    kinds = {k["kind"]: k for k in schema["kinds"]}
    for name in ("cluster", "node", "node_availability", "guest", "storage", "docker_container", "host",
                 "confirmation", "autonomy", "bridge_info", "bridge_health", "bridge_schema"):
        assert name in kinds, name
    guest = kinds["guest"]
    assert guest["topic"] == "guest/{vmid}/state" and guest["plugin"] == "proxmox" and guest["ids"] == ["vmid"]
    assert [f["name"] for f in guest["fields"]] == [f.name for f in GUEST.published_fields]
    assert [f["name"] for f in guest["fields"]][-2:] == ["stale", "as_of"]  # while its source fails
    cpu = next(f for f in guest["fields"] if f["name"] == "cpu_pct")
    assert cpu["unit"] == "%" and cpu["state_class"] == "measurement" and cpu["deadband"] == 2.0
    actions = next(c for c in guest["commands"] if c["topic"] == "action")
    assert "start" in actions["payloads"] and actions["tools"]["reboot"] == "proxmox.guest_reboot"
    assert "reboot" in actions["dangerous"]
    for kind in schema["kinds"]:
        for item in kind["fields"]:
            assert item["description"] and item["type"] in ("integer", "number", "string", "boolean", "array",
                                                            "object"), (kind["kind"], item)


def test_the_publishers_deadbands_come_from_the_descriptions() -> None:
    publisher = StatePublisher("jarvis", send=None, kinds=KINDS)  # type: ignore[arg-type]
    rules = deadband_rules(KINDS, fields.SHARED)
    assert publisher._rules == rules
    assert rules["cpu_pct"] == (2.0, False) and rules["mem_used"] == (0.02, True)
    assert rules["iowait_pct"] == (2.0, False)  # a node-only field, described in the node kind


def test_two_kinds_disagreeing_on_a_fields_deadband_are_refused() -> None:
    a = EntityKind(name="a", topic="a/{id}/state", description="a",
                   fields=(StateField(name="level", type="number", description="x", deadband=1.0),))
    b = EntityKind(name="b", topic="b/{id}/state", description="b",
                   fields=(StateField(name="level", type="number", description="x", deadband=5.0),))
    with pytest.raises(ValueError, match="one field name, one deadband"):
        deadband_rules([a, b])


def test_a_kind_describes_itself_consistently() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        EntityKind(name="x", topic="x/{id}", description="x",
                   fields=(StateField(name="a", type="string", description="a"),) * 2)
    with pytest.raises(ValueError, match="literal"):
        EntityKind(name="x", topic="{id}/state", description="x", fields=())
    with pytest.raises(ValueError, match="ha_on"):
        StateField(name="status", type="string", description="s", ha="binary_sensor")
    assert GUEST.key(vmid=101) == ("guest", "101", "state")
    assert GUEST.ids_of(("guest", "101", "state")) == {"vmid": "101"}
    assert not GUEST.matches(("guest", "101", "set"))


def test_docs_mqtt_carries_the_generated_table_of_every_in_tree_kind() -> None:
    doc = (REPO / "docs" / "mqtt.md").read_text(encoding="utf-8")
    from jarvis.core.core_kinds import CORE_KINDS
    from jarvis.plugins.docker.plugin import CONTAINER
    from jarvis.plugins.network.plugin import HOST

    for kind in (*KINDS, CONTAINER, HOST, *CORE_KINDS):
        table = markdown_table(kind)
        assert table in doc, (f"docs/mqtt.md is out of date for kind {kind.name}: run "
                              "`jarvis schema --markdown` and paste its output")
    assert re.search(r"bridge/schema", doc)
