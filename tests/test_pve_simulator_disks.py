"""The simulated nodes list their physical disks like PVE's /nodes/{node}/disks/list and /smart.

A recorded PVE 9 answer (tests/data/pve-extra) fixes the field names and JSON types; the values
follow pve-storage's Diskmanage (wearout is life left in percent for SSD/NVMe, "N/A" for HDDs).
The disk-failing fault makes one disk report SMART FAILED until the faults are cleared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.sim import SimProcess, spawn_simulator

RECORDED = Path(__file__).parent / "data" / "pve-extra" / "nodes_NODE_disks_list.json"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    """One simulator for the module; every test leaves it without faults."""
    process = spawn_simulator(seed=1)
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _no_faults_left(sim: SimProcess) -> Iterator[None]:
    yield
    sim.admin("DELETE", "/faults")


def disks(sim: SimProcess, node: str = "pve1", **params: Any) -> list[dict[str, Any]]:
    resp = sim.api("GET", f"/nodes/{node}/disks/list", params=params or None)
    assert resp.status_code == 200, (resp.status_code, resp.reason)
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def test_every_node_lists_two_or_three_disks_in_kernel_name_order(sim: SimProcess) -> None:
    for node in sim.nodes:
        listed = disks(sim, node)
        assert 2 <= len(listed) <= 3, (node, listed)
        names = [d["devpath"].rsplit("/", 1)[1] for d in listed]
        assert names == sorted(names)
        assert all(d["health"] == "PASSED" for d in listed)


def test_entries_have_the_recorded_field_names_and_json_types(sim: SimProcess) -> None:
    recorded = [d for d in json.loads(RECORDED.read_text())["data"] if d["osdid"] == -1]
    ours = [d for node in sim.nodes for d in disks(sim, node)]
    for entry in ours:
        for reference in recorded:
            shared = set(reference) & set(entry)
            assert set(reference) - {"used"} <= set(entry), set(reference) - set(entry)
            assert {k: kind(entry[k]) for k in shared if k != "wearout"} == {
                k: kind(reference[k]) for k in shared if k != "wearout"
            }
        assert entry["osdid"] == -1 and entry["osdid-list"] is None and entry["gpt"] == 1
        assert entry["by_id_link"].startswith("/dev/disk/by-id/")
        assert " " not in entry["model"]  # udev's ID_MODEL


def test_wearout_is_a_percentage_for_flash_and_na_for_spinning_disks(sim: SimProcess) -> None:
    ours = [d for node in sim.nodes for d in disks(sim, node)]
    types = {d["type"] for d in ours}
    assert {"nvme", "ssd", "hdd"} <= types, types
    for entry in ours:
        if entry["type"] == "hdd":
            assert entry["wearout"] == "N/A" and entry["rpm"] > 0 and entry["vendor"] == "ATA     "
        else:
            assert isinstance(entry["wearout"], int) and 0 <= entry["wearout"] <= 100
            assert entry["rpm"] == 0
        if entry["type"] == "nvme":
            assert entry["vendor"] == "unknown" and entry["wwn"].startswith("eui.")


def test_system_disk_is_used_by_its_bios_boot_partition(sim: SimProcess) -> None:
    listed = disks(sim, "pve1", **{"include-partitions": 1})
    system = listed[0]
    assert system["used"] == "BIOS boot" and system["type"] in ("nvme", "ssd")
    parts = [d for d in listed if d.get("parent") == system["devpath"]]
    assert [p["used"] for p in parts] == ["BIOS boot", "vfat", "LVM"]
    assert all(p["type"] == "partition" for p in parts)
    assert listed.index(parts[0]) == 1  # partitions follow their disk
    assert all("parent" not in d for d in disks(sim, "pve1"))


def test_skipsmart_and_the_unused_filter(sim: SimProcess) -> None:
    skipped = disks(sim, "pve1", skipsmart=1)
    assert {(d["health"], d["wearout"]) for d in skipped} == {("UNKNOWN", "N/A")}
    every = [d for node in sim.nodes for d in disks(sim, node)]
    unused = [d for node in sim.nodes for d in disks(sim, node, type="unused")]
    assert unused == [d for d in every if "used" not in d]
    assert unused, "the seeded cluster has at least one unused disk"


def test_smart_of_a_sata_disk_has_smartctl_attributes(sim: SimProcess) -> None:
    sata = next(d for d in disks(sim, "pve1") if d["devpath"].startswith("/dev/sd"))
    smart = sim.api("GET", "/nodes/pve1/disks/smart", params={"disk": sata["devpath"]}).json()["data"]
    assert smart["health"] == "PASSED" and smart["type"] == "ata"
    by_name = {a["name"]: a for a in smart["attributes"]}
    assert by_name["Reallocated_Sector_Ct"]["id"] == "  5"  # smartctl's right-aligned column
    assert set(by_name["Power_On_Hours"]) == {"id", "name", "flags", "value", "normalized", "worst",
                                              "threshold", "fail", "raw"}
    if sata["type"] == "ssd":
        assert any(a["value"] == sata["wearout"] for a in smart["attributes"])
    only = sim.api("GET", "/nodes/pve1/disks/smart", params={"disk": sata["devpath"], "healthonly": 1})
    assert only.json()["data"] == {"health": "PASSED"}


def test_smart_of_an_nvme_disk_is_text_with_its_wearout(sim: SimProcess) -> None:
    node, nvme = next((n, d) for n in sim.nodes for d in disks(sim, n) if d["type"] == "nvme")
    smart = sim.api("GET", f"/nodes/{node}/disks/smart", params={"disk": nvme["devpath"]}).json()["data"]
    assert smart["type"] == "text" and smart["wearout"] == nvme["wearout"]
    assert f"Percentage Used:                    {100 - nvme['wearout']}%" in smart["text"]


def test_bad_smart_requests_fail_like_pve(sim: SimProcess) -> None:
    bad = sim.api("GET", "/nodes/pve1/disks/smart", params={"disk": "sda; reboot"})
    assert bad.status_code == 400 and "regex" in bad.json()["errors"]["disk"]
    missing = sim.api("GET", "/nodes/pve1/disks/smart", params={"disk": "/dev/sdz"})
    assert (missing.status_code, missing.reason) == (500, "failed to get absolute path to /dev/sdz")
    assert sim.api("GET", "/nodes/pve1/disks/smart").status_code == 400


def test_disk_failing_fault_fails_smart_and_wears_the_disk_out_until_cleared(sim: SimProcess) -> None:
    flash = next((n, d) for n in sim.nodes for d in disks(sim, n) if d["type"] in ("ssd", "nvme"))
    node, disk = flash
    fault = sim.admin("POST", "/faults", {"kind": "disk-failing", "node": node, "disk": disk["devpath"]})
    failing = next(d for d in disks(sim, node) if d["devpath"] == disk["devpath"])
    assert (failing["health"], failing["wearout"]) == ("FAILED", 3)
    others = [d["health"] for d in disks(sim, node) if d["devpath"] != disk["devpath"]]
    assert others and set(others) == {"PASSED"}
    smart = sim.api("GET", f"/nodes/{node}/disks/smart", params={"disk": disk["devpath"]}).json()["data"]
    assert smart["health"] == "FAILED"
    state = sim.admin("GET", "/state")["nodes"][node]
    assert state["failing_disks"] == [disk["devpath"]]
    sim.admin("DELETE", f"/faults/{fault['id']}")
    assert next(d for d in disks(sim, node) if d["devpath"] == disk["devpath"]) == disk


def test_disk_failing_defaults_to_the_last_disk_and_rejects_unknown_ones(sim: SimProcess) -> None:
    sim.admin("POST", "/faults", {"kind": "disk-failing", "node": "pve2"})
    listed = disks(sim, "pve2")
    assert [d["health"] for d in listed] == ["PASSED"] * (len(listed) - 1) + ["FAILED"]
    resp = sim.session.post(f"{sim.url}/_sim/faults", json={"kind": "disk-failing", "node": "pve2",
                            "disk": "/dev/sdz"}, headers=sim.auth_header, verify=sim.ca_file, timeout=10)
    assert resp.status_code == 404 and "/dev/sdz" in resp.json()["error"]


def test_offline_node_answers_595_and_the_auditor_may_read(sim: SimProcess) -> None:
    auditor = {"Authorization": f"PVEAPIToken={sim.readonly_token_id}={sim.readonly_token_secret}"}
    assert sim.api("GET", "/nodes/pve3/disks/list", headers=auditor).status_code == 200
    sim.admin("POST", "/nodes/pve3/offline")
    resp = sim.api("GET", "/nodes/pve3/disks/list")
    assert (resp.status_code, resp.reason, resp.text) == (595, "No route to host", "")


def test_same_seed_same_disks(sim: SimProcess) -> None:
    twin = spawn_simulator(seed=1)
    other = spawn_simulator(seed=2)
    try:
        assert disks(twin, "pve2") == disks(sim, "pve2") != disks(other, "pve2")
    finally:
        twin.stop()
        other.stop()
