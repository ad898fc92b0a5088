"""Parsing real PVE API answers (the fixture files) into the plugin's typed models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jarvis.plugins.proxmox.convert import parse_tags
from jarvis.plugins.proxmox.entities import ClusterModel, all_entities
from jarvis.plugins.proxmox.guests import parse_guest
from jarvis.plugins.proxmox.models import (
    parse_cluster_resources,
    parse_cluster_status,
    parse_guest_status,
    parse_node_status,
    parse_storage_list,
)
from jarvis.plugins.proxmox.tasks import parse_task_status, parse_upid

_CANDIDATES = [
    Path(__file__).parent / "data" / "pve-fixtures",
    Path("/work/shared/pve-fixtures"),
]
FIXTURES = next((p for p in _CANDIDATES if (p / "cluster_resources.json").exists()), _CANDIDATES[0])


def load(name: str) -> Any:
    """Return the ``data`` of one fixture file."""
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {name} not found under {FIXTURES}")
    return json.loads(path.read_text())["data"]


def test_cluster_resources_splits_nodes_guests_and_storage() -> None:
    parsed = parse_cluster_resources(load("cluster_resources.json"))
    assert sorted(parsed.nodes) == ["node1", "node2", "node3", "node4"]
    assert sorted(parsed.guests) == [100, 101, 102, 200]
    assert len(parsed.storage) == 12
    server = parsed.guests[100]
    assert (server["type"], server["node"], server["status"]) == ("qemu", "node2", "running")
    assert server["cpu_pct"] == pytest.approx(2.49, abs=0.01)
    assert server["mem_used"] == 842551296 and server["mem_total"] == 1073741824
    assert server["uptime_s"] == 874350 and server["netin"] == 2456116121
    assert parsed.guests[101]["template"] is True
    assert parsed.guests[102]["tags"] == ["go-proxmox+cloud-init"]  # '+' is a legal tag character
    node1 = parsed.nodes["node1"]
    assert node1.online and node1.cpu_cores == 8 and node1.mem_total == 65919459328
    zfs = parsed.storage[("node1", "local-zfs")]
    assert (zfs.type, zfs.content, zfs.shared, zfs.active) == (
        "zfspool", ["images", "rootdir"], False, True)
    assert zfs.used_pct == pytest.approx(14446702592 * 100 / 955016175616, abs=0.01)


def test_cluster_resources_of_type_vm_with_pools() -> None:
    parsed = parse_cluster_resources(load("ansible_cluster_resources_type_vm.json"))
    assert sorted(parsed.guests) == [100, 101, 102, 103, 104, 105]
    assert parsed.guests[101]["pool"] == "pool1"
    assert parsed.guests[102]["type"] == "lxc"
    assert parsed.guests[105]["name"] is None  # PVE sends "" for an unnamed guest
    assert not parsed.nodes and not parsed.storage


def test_cluster_status_gives_name_quorum_and_members() -> None:
    status = parse_cluster_status(load("cluster_status.json"))
    assert status.name == "clustername" and status.quorate is True
    assert sorted(status.nodes) == ["node1", "node2", "node3", "node4"]
    assert status.nodes["node1"].local is True and status.nodes["node1"].ip == "192.168.1.1"
    assert all(n.online for n in status.nodes.values())


def test_node_status_versions_load_and_memory() -> None:
    status = parse_node_status(load("nodes_NODE_status.json"))
    assert status.pve_version == "7.4-16"
    assert status.kernel is not None and status.kernel.startswith("Linux 5.15.108-1-pve")
    assert status.load == [0.0, 0.0, 0.0]
    assert status.mem_total == 65919459328 and status.mem_used == 8095399936
    assert status.cpu_cores == 8 and status.cpu_model is not None
    assert status.uptime_s == 2501631


def test_node_status_of_a_missing_node_is_empty_not_an_error() -> None:
    status = parse_node_status(load("nodes_NODE_status_nonexistent_500.json"))
    assert status.pve_version is None and status.load == []


@pytest.mark.parametrize("name", ["nodes_NODE_lxc.json", "ansible_nodes_NODE_lxc.json",
                                  "ansible_nodes_NODE_qemu.json"])
def test_guest_lists_accept_string_and_int_vmids(name: str) -> None:
    guests = [parse_guest(item, node="node1") for item in load(name)]
    assert guests and all(g is not None and isinstance(g["vmid"], int) for g in guests)
    assert all(g["node"] == "node1" for g in guests if g)


def test_lxc_list_keeps_template_flag() -> None:
    guests = {g["vmid"]: g for g in (parse_guest(i, node="n") for i in load("nodes_NODE_lxc.json")) if g}
    assert guests[101]["template"] is True and guests[106]["template"] is False
    assert guests[106]["type"] == "lxc"


def test_qemu_status_current_running() -> None:
    guest = parse_guest_status(load("nodes_NODE_qemu_VMID_status_current_running.json"),
                               kind="qemu", node="node1")
    assert guest is not None
    assert (guest["vmid"], guest["type"], guest["status"], guest["name"]) == (101, "qemu", "running", "matt")
    assert guest["mem_used"] == 1127792640 and guest["cpu_cores"] == 8
    assert guest["ha_state"] is None  # ha.managed = 0


def test_lxc_status_current_stopped_template_with_tags() -> None:
    guest = parse_guest_status(load("nodes_NODE_lxc_VMID_status_current_stopped.json"),
                               kind="lxc", node="node1")
    assert guest is not None
    assert guest["status"] == "stopped" and guest["template"] and guest["tags"] == ["tag1", "tag2"]


@pytest.mark.parametrize("name", ["nodes_NODE_storage.json",
                                  "synthetic/ha_core_nodes_NODE_storage.json"])
def test_node_storage(name: str) -> None:
    items = parse_storage_list(load(name), "node1")
    assert items and all(s.node == "node1" and s.total and s.active for s in items)
    assert items[0].used_pct is not None


def test_task_status_running_ok_failed_and_interrupted() -> None:
    running = parse_task_status(load("nodes_NODE_tasks_UPID_status_running.json"))
    assert running.running and not running.ok
    ok = parse_task_status(load("proxmoxer_tasks_UPID_status_stopped_ok.json"))
    assert ok.ok and ok.exitstatus == "OK"
    failed = parse_task_status(load("nodes_NODE_tasks_UPID_status_stopped_failed.json"))
    assert not failed.running and not failed.ok and failed.exitstatus == "some error occurred"
    interrupted = parse_task_status(load("proxmoxer_tasks_UPID_status_stopped_interrupted.json"))
    assert not interrupted.ok


@pytest.mark.parametrize("name", ["nodes_NODE_qemu_VMID_status_start_upid.json",
                                  "nodes_NODE_qemu_VMID_status_stop_upid.json",
                                  "nodes_NODE_qemu_VMID_status_shutdown_upid.json",
                                  "nodes_NODE_qemu_VMID_status_reboot_upid.json",
                                  "nodes_NODE_lxc_VMID_status_start_upid.json"])
def test_action_answers_are_upids(name: str) -> None:
    upid = parse_upid(load(name))
    assert upid.node == "node1" and upid.user == "root@pam" and upid.type.startswith(("qm", "vz"))


def test_upid_fields_are_hex() -> None:
    upid = parse_upid("UPID:pve1:0020C066:042DF204:69C26EB0:vzdump::root@pam:")
    assert (upid.node, upid.pid, upid.type, upid.id) == ("pve1", 0x20C066, "vzdump", "")
    with pytest.raises(ValueError, match="not a task id"):
        parse_upid("qmstart:100")


def test_tags_in_every_spelling() -> None:
    assert parse_tags("a;b") == ["a", "b"]
    assert parse_tags("a,b c") == ["a", "b", "c"]
    assert parse_tags("") == [] and parse_tags(None) == []


def test_offline_node_without_metrics_and_its_guests_unknown() -> None:
    resources = load("cluster_resources.json")
    # Real PVE omits metrics of an offline node (pve-manager API2Tools extract_node_stats).
    offline = [{"id": "node/node2", "node": "node2", "type": "node", "status": "offline"}]
    rows = [r for r in resources if r.get("id") != "node/node2"] + offline
    status = load("cluster_status.json")
    for item in status:
        if item.get("name") == "node2":
            item["online"] = 0
    model = ClusterModel(resources=parse_cluster_resources(rows), status=parse_cluster_status(status))
    entities = dict(all_entities(model))
    assert entities[("node", "node2", "availability")] == {"state": "offline"}
    assert entities[("node", "node2", "state")]["cpu_pct"] is None
    assert entities[("node", "node1", "availability")] == {"state": "online"}
    assert entities[("guest", "100", "state")]["status"] == "unknown"  # lives on node2
    assert entities[("guest", "200", "state")]["status"] == "stopped"
    cluster = entities[("cluster", "state")]
    assert (cluster["nodes_online"], cluster["nodes_total"], cluster["name"]) == (3, 4, "clustername")


def test_every_fixture_entity_has_the_contract_fields() -> None:
    model = ClusterModel(resources=parse_cluster_resources(load("cluster_resources.json")),
                         status=parse_cluster_status(load("cluster_status.json")))
    entities = dict(all_entities(model))
    guest = entities[("guest", "100", "state")]
    for key in ("vmid", "type", "node", "name", "status", "cpu_pct", "mem_used", "mem_total",
                "disk_used", "disk_total", "uptime_s", "netin", "netout", "tags", "template",
                "lock", "ha_state"):
        assert key in guest
    storage = entities[("storage", "node1", "local", "state")]
    for key in ("type", "content", "shared", "active", "used", "total", "used_pct"):
        assert key in storage
    node = entities[("node", "node1", "state")]
    for key in ("status", "cpu_pct", "mem_used", "mem_total", "disk_used", "disk_total",
                "uptime_s", "load", "temperature_c", "pve_version"):
        assert key in node
    json.dumps(entities[("cluster", "state")])
