"""Every recorded PVE answer in pve-fixtures has the same shape in the simulator's answer.

For each fixture the simulator is asked the same endpoint; every field the fixture has must be
present with the same JSON type, recursively. List items are matched to a simulator item of the
same `type` (and `status` where possible). A number field that is always a non-zero integer in
the fixture must be an integer in the simulator too (sizes, ids, counters).

Documented exceptions (test markers or hand-written fixtures that do not match real PVE):
- proxmoxer_storage_download_url_upid: the top-level `success` key is proxmoxer's mock marker.
- nodes_NODE_tasks_UPID_status_stopped_failed (synthetic): `endtime` is not part of PVE's
  read_task_status answer (pve-manager PVE/API2/Tasks.pm); only the task list has it.
- proxmoxer_tasks_*: UPID suffixes ':done'/':keep-running'/':stopped' are test markers; we only
  compare shapes and check our UPIDs are real-format (ending in 'user:').
- access_ticket_post: privilege names under `cap.*` differ between PVE versions (the fixture is
  PVE 7, e.g. VM.Monitor); only the groups and value types are compared.
- synthetic/ha_core_nodes: its offline node carries cpu/mem/uptime=0; real PVE omits live stats
  for offline members (API2Tools::extract_node_stats), so we assert they are absent instead.
- nics (`tap<vmid>i0`) in qemu status/current are maps keyed by device: values are compared.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.sim import SimProcess, spawn_simulator

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "pve-fixtures"
FIXTURES = SHARED if SHARED.is_dir() else REPO / "tests" / "data" / "pve-fixtures"
UPID_RE = re.compile(r"^UPID:[a-zA-Z0-9-]+:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:[^:\s]+:[^:\s]*:[^:\s]+:$")

MAP_PATHS = {"data.nics", "data.cap.sdn", "data.cap.access", "data.cap.dc", "data.cap.nodes",
             "data.cap.storage", "data.cap.vms"}
IGNORED_KEYS = {
    "proxmoxer_storage_download_url_upid.json": {"success"},
    "nodes_NODE_tasks_UPID_status_stopped_failed.json": {"data.endtime"},
}


# ---------------------------------------------------------------- shape comparison


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _norm(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def strict_integer_paths(doc: Any, path: str = "") -> set[str]:
    """Paths whose values are all integers and at least one non-zero (must stay integers)."""
    seen: dict[str, list[Any]] = {}

    def walk(value: Any, p: str) -> None:
        seen.setdefault(_norm(p), []).append(value)
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{p}.{k}" if p else k)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{p}[{i}]")

    walk(doc, path)
    return {
        p for p, values in seen.items()
        if all(_kind(v) == "integer" for v in values) and any(v != 0 for v in values)
    }


def shape_errors(fix: Any, sim: Any, path: str, strict: set[str], ignore: set[str]) -> list[str]:
    """Differences where `sim` lacks a field of `fix` or has another JSON type."""
    fk, sk = _kind(fix), _kind(sim)
    numbers = {"integer", "number"}
    if fk in numbers and sk in numbers:
        if _norm(path) in strict and sk != "integer":
            return [f"{path}: fixture always has integers, simulator gave {sim!r}"]
        return []
    if fk != sk:
        return [f"{path}: fixture {fk} ({fix!r:.40}), simulator {sk} ({sim!r:.40})"]
    if fk == "object":
        if _norm(path) in MAP_PATHS:
            if not sim:
                return [f"{path}: simulator map is empty"] if fix else []
            sample = next(iter(sim.values()))
            return [e for v in fix.values() for e in shape_errors(v, sample, path + ".*", strict, ignore)]
        errors: list[str] = []
        for key, value in fix.items():
            sub = f"{path}.{key}" if path else key
            if sub in ignore:
                continue
            if key not in sim:
                errors.append(f"{sub}: missing in simulator answer")
            else:
                errors += shape_errors(value, sim[key], sub, strict, ignore)
        return errors
    if fk == "array":
        errors = []
        for i, item in enumerate(fix):
            errors += _match_item(item, sim, f"{path}[{i}]", strict, ignore)
        return errors
    return []


def _match_item(item: Any, sims: list[Any], path: str, strict: set[str], ignore: set[str]) -> list[str]:
    if not sims:
        return [f"{path}: simulator list is empty"]
    candidates = sims
    if isinstance(item, dict) and "type" in item:
        candidates = [s for s in sims if isinstance(s, dict) and s.get("type") == item["type"]]
        same_status = [s for s in candidates if s.get("status") == item.get("status")]
        candidates = same_status or candidates
        if not candidates:
            return [f"{path}: no simulator item of type {item['type']!r}"]
    best: list[str] | None = None
    for cand in candidates:
        errs = shape_errors(item, cand, path, strict, ignore)
        if not errs:
            return []
        if best is None or len(errs) < len(best):
            best = errs
    return [f"{path}: no simulator item matches; closest differs by: {(best or [])[:5]}"]


# ---------------------------------------------------------------- simulator helpers


def _json(resp: Any) -> Any:
    return json.loads(resp.text) if resp.text else None


def _guests(sim: SimProcess) -> list[dict[str, Any]]:
    return sim.api("GET", "/cluster/resources", params={"type": "vm"}).json()["data"]


def _pick(sim: SimProcess, kind: str, status: str, **want: Any) -> dict[str, Any]:
    for g in _guests(sim):
        if g["type"] == kind and g["status"] == status and all(
            (bool(g.get(k)) == v if isinstance(v, bool) else g.get(k) == v) for k, v in want.items()
        ):
            return g
    raise AssertionError(f"no {status} {kind} with {want} in the simulated cluster")


def _guest_path(g: dict[str, Any]) -> str:
    return f"/nodes/{g['node']}/{g['type']}/{g['vmid']}"


def _union(sim: SimProcess, suffix: str) -> Any:
    items: list[Any] = []
    for node in sim.nodes:
        items += sim.api("GET", f"/nodes/{node}{suffix}").json()["data"]
    return {"data": items}


def _task_status(sim: SimProcess, upid: str, until: str | None = None) -> Any:
    node = upid.split(":")[1]
    deadline = time.monotonic() + 10
    while True:
        resp = sim.api("GET", f"/nodes/{node}/tasks/{upid}/status")
        body = resp.json()
        if until is None or body["data"]["status"] == until or time.monotonic() > deadline:
            return resp
        time.sleep(0.05)


def _post_upid(sim: SimProcess, path: str, **data: Any) -> str:
    resp = sim.api("POST", path, data=data or None)
    assert resp.status_code == 200, resp.reason
    upid = resp.json()["data"]
    assert UPID_RE.match(upid), upid
    assert upid.endswith(":root@pam!jarvis:")
    return upid


def _rrd(sim: SimProcess, base: str, timeframe: str = "hour") -> Any:
    return sim.api("GET", f"{base}/rrddata", params={"timeframe": timeframe, "cf": "AVERAGE"})


Case = Callable[[SimProcess], Any]
READ: dict[str, tuple[int, Case]] = {
    "cluster_status.json": (200, lambda s: s.api("GET", "/cluster/status")),
    "cluster_resources.json": (200, lambda s: s.api("GET", "/cluster/resources")),
    "ansible_cluster_resources_type_vm.json":
        (200, lambda s: s.api("GET", "/cluster/resources", params={"type": "vm"})),
    "nodes.json": (200, lambda s: s.api("GET", "/nodes")),
    "nodes_NODE_status.json": (200, lambda s: s.api("GET", "/nodes/pve1/status")),
    "nodes_NODE_status_nonexistent_500.json":
        (500, lambda s: s.api("GET", "/nodes/doesntexist/status")),
    "nodes_NODE_qemu_VMID_status_current_running.json": (200, lambda s: s.api(
        "GET", _guest_path(_pick(s, "qemu", "running", tags="home")) + "/status/current")),
    "nodes_NODE_lxc_VMID_status_current_stopped.json": (200, lambda s: s.api(
        "GET", _guest_path(_pick(s, "lxc", "stopped", template=True)) + "/status/current")),
    "nodes_NODE_qemu_VMID_rrddata_hour.json":
        (200, lambda s: _rrd(s, _guest_path(_pick(s, "qemu", "stopped", template=True)))),
    "pulse_pve9_qemu_rrddata.json":
        (200, lambda s: _rrd(s, _guest_path(_pick(s, "qemu", "running")), "year")),
    "pulse_pve8_guest_rrddata.json":
        (200, lambda s: _rrd(s, _guest_path(_pick(s, "qemu", "running")))),
    "pulse_pve9_lxc_rrddata.json":
        (200, lambda s: _rrd(s, _guest_path(_pick(s, "lxc", "running")))),
    "pulse_pve9_node_rrddata.json": (200, lambda s: _rrd(s, "/nodes/pve1")),
    "pulse_pve8_node_rrddata.json": (200, lambda s: _rrd(s, "/nodes/pve2")),
    "nodes_NODE_lxc.json": (200, lambda s: _union(s, "/lxc")),
    "ansible_nodes_NODE_lxc.json": (200, lambda s: _union(s, "/lxc")),
    "ansible_nodes_NODE_qemu.json": (200, lambda s: _union(s, "/qemu")),
    "nodes_NODE_storage.json": (200, lambda s: s.api("GET", "/nodes/pve1/storage")),
    "synthetic/ha_core_nodes_NODE_storage.json":
        (200, lambda s: s.api("GET", "/nodes/pve1/storage")),
    "storage.json": (200, lambda s: s.api("GET", "/storage")),
    "cluster_nextid_400_param_error.json":
        (400, lambda s: s.api("GET", "/cluster/nextid", params={"vmid": 100})),
    "access_ticket_post.json": (200, lambda s: s.api(
        "POST", "/access/ticket", data={"username": "root@pam", "password": s.password},
        headers={})),
    "version.json": (200, lambda s: s.api("GET", "/version")),
    "proxmoxer_version.json": (200, lambda s: s.api("GET", "/version")),
    "synthetic/ha_core_nodes_NODE_tasks_typefilter_vzdump.json":
        (200, lambda s: s.api("GET", "/nodes/pve1/tasks", params={"typefilter": "vzdump"})),
    "synthetic/centreon_qemu_agent_not_running_error.json": (500, lambda s: s.api(
        "GET", _guest_path(_pick(s, "qemu", "running", name="docker-host")) + "/agent/get-osinfo")),
}


def _interrupted(s: SimProcess) -> Any:
    upid = _post_upid(s, _guest_path(_pick(s, "lxc", "running", name="grafana")) + "/status/reboot")
    assert s.api("DELETE", f"/nodes/{upid.split(':')[1]}/tasks/{upid}").status_code == 200
    return _task_status(s, upid, "stopped")


WRITE: dict[str, tuple[int, Case]] = {
    "nodes_NODE_qemu_VMID_status_start_upid.json": (200, lambda s: s.api(
        "POST", _guest_path(_pick(s, "qemu", "stopped", template=False)) + "/status/start")),
    "nodes_NODE_qemu_VMID_status_stop_upid.json": (200, lambda s: s.api(
        "POST", _guest_path(_pick(s, "qemu", "running", name="k3s-1")) + "/status/stop")),
    "nodes_NODE_qemu_VMID_status_shutdown_upid.json": (200, lambda s: s.api(
        "POST", _guest_path(_pick(s, "qemu", "running", name="k3s-2")) + "/status/shutdown")),
    "nodes_NODE_qemu_VMID_status_reboot_upid.json": (200, lambda s: s.api(
        "POST", _guest_path(_pick(s, "qemu", "running", name="nas")) + "/status/reboot")),
    "nodes_NODE_lxc_VMID_status_start_upid.json": (200, lambda s: s.api(
        "POST", _guest_path(_pick(s, "lxc", "stopped", template=False)) + "/status/start")),
    "proxmoxer_storage_download_url_upid.json": (200, lambda s: s.api(
        "POST", "/nodes/pve1/storage/local/download-url",
        data={"url": "https://example.org/file.iso", "content": "iso", "filename": "file.iso"})),
    "nodes_NODE_tasks_UPID_status_running.json": (200, lambda s: _task_status(s, _post_upid(
        s, _guest_path(_pick(s, "qemu", "running", name="homeassistant")) + "/status/reboot"))),
    "proxmoxer_tasks_UPID_status_running.json": (200, lambda s: _task_status(s, _post_upid(
        s, _guest_path(_pick(s, "lxc", "running", name="pihole")) + "/status/reboot"))),
    "nodes_NODE_tasks_UPID_status_stopped_failed.json": (200, lambda s: _task_status(s, _post_upid(
        s, _guest_path(_pick(s, "qemu", "running", name="docker-host")) + "/status/start"),
        "stopped")),
    "proxmoxer_tasks_UPID_status_stopped_ok.json": (200, lambda s: _task_status(s, _post_upid(
        s, _guest_path(_pick(s, "qemu", "running", name="docker-host")) + "/status/reset"),
        "stopped")),
    "proxmoxer_tasks_UPID_status_stopped_interrupted.json": (200, _interrupted),
}
SPECIAL = {"synthetic/ha_core_nodes.json"}


def _fixture_names() -> list[str]:
    return sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.json"))


@pytest.fixture(scope="module")
def read_sim() -> Iterator[SimProcess]:
    sim = spawn_simulator(seed=1, task_seconds=1.0)
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def write_sim() -> Iterator[SimProcess]:
    sim = spawn_simulator(seed=1, task_seconds=1.0)
    yield sim
    sim.stop()


def _check(name: str, status: int, resp: Any) -> None:
    fixture = json.loads((FIXTURES / name).read_text())
    assert resp.status_code == status, f"{name}: HTTP {resp.status_code} {resp.reason}"
    answer = _json(resp)
    errors = shape_errors(fixture, answer, "", strict_integer_paths(fixture),
                          IGNORED_KEYS.get(Path(name).name, set()))
    assert not errors, f"{name}:\n  " + "\n  ".join(errors[:15])


def test_every_fixture_has_a_conformance_case() -> None:
    names = set(_fixture_names())
    assert names, f"no fixtures found in {FIXTURES}"
    assert names == set(READ) | set(WRITE) | SPECIAL


@pytest.mark.parametrize("name", sorted(READ))
def test_read_endpoint_matches_fixture(read_sim: SimProcess, name: str) -> None:
    status, case = READ[name]
    result = case(read_sim)
    if isinstance(result, dict):
        fixture = json.loads((FIXTURES / name).read_text())
        errors = shape_errors(fixture, result, "", strict_integer_paths(fixture), set())
        assert not errors, f"{name}:\n  " + "\n  ".join(errors[:15])
        return
    _check(name, status, result)


@pytest.mark.parametrize("name", sorted(WRITE))
def test_action_endpoint_matches_fixture(write_sim: SimProcess, name: str) -> None:
    status, case = WRITE[name]
    _check(name, status, case(write_sim))


def test_agent_error_text_matches_fixture(read_sim: SimProcess) -> None:
    resp = READ["synthetic/centreon_qemu_agent_not_running_error.json"][1](read_sim)
    fixture = json.loads((FIXTURES / "synthetic/centreon_qemu_agent_not_running_error.json").read_text())
    assert resp.json()["message"] == fixture["message"]
    assert resp.reason == fixture["message"].strip()


def test_nodes_with_an_offline_member(write_sim: SimProcess) -> None:
    """synthetic/ha_core_nodes: online entries match; the offline one omits live stats."""
    name = "synthetic/ha_core_nodes.json"
    fixture = json.loads((FIXTURES / name).read_text())
    write_sim.admin("POST", "/nodes/pve3/offline")
    try:
        answer = write_sim.api("GET", "/nodes").json()
    finally:
        write_sim.admin("POST", "/nodes/pve3/online")
    online = {"data": [e for e in fixture["data"] if e["status"] == "online"]}
    errors = shape_errors(online, answer, "", strict_integer_paths(online), set())
    assert not errors, errors
    offline = next(e for e in answer["data"] if e["node"] == "pve3")
    assert offline["status"] == "offline"
    assert {"cpu", "mem", "uptime", "disk"}.isdisjoint(offline)
    assert {"id", "node", "type", "level", "maxcpu", "maxmem", "maxdisk", "ssl_fingerprint"} <= set(offline)
