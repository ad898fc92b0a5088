"""The Proxmox VE simulator behaves like a real PVE node over HTTPS.

Every test talks to a simulator subprocess through its real HTTPS endpoint (requests or
proxmoxer, certificate verified against the simulator's CA file).
"""

from __future__ import annotations

import json
import re
import socket
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from jarvis.plugins.proxmox.sim import cli, views
from jarvis.plugins.proxmox.sim.state import Settings, SimState
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

from tests.fixtures.sim import SimProcess, spawn_simulator

UPID_RE = re.compile(
    r"^UPID:(?P<node>[a-z0-9-]+):[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:(?P<type>[a-z]+):"
    r"(?P<id>\d*):root@pam!jarvis:$"
)


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[SimProcess]:
    """One simulator for the tests that only read or get refused (they change nothing)."""
    sim = spawn_simulator()
    yield sim
    sim.stop()


def wait_until(check: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `check()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def guest(sim: SimProcess, vmid: int) -> dict[str, Any]:
    """The /cluster/resources entry of `vmid`."""
    data = sim.api("GET", "/cluster/resources", params={"type": "vm"}).json()["data"]
    return next(g for g in data if g["vmid"] == vmid)


def task(sim: SimProcess, upid: str) -> dict[str, Any]:
    """GET the task status of `upid`."""
    node = upid.split(":")[1]
    return sim.api("GET", f"/nodes/{node}/tasks/{upid}/status").json()["data"]


def finished(sim: SimProcess, upid: str) -> dict[str, Any]:
    """Wait for the task to stop and return its final status."""
    return wait_until(lambda: (t := task(sim, upid))["status"] == "stopped" and t)


# ------------------------------------------------------------------ auth and envelope


def test_missing_token_is_401_no_ticket_with_empty_body(shared_sim: SimProcess) -> None:
    resp = shared_sim.api("GET", "/version", headers={})
    assert (resp.status_code, resp.reason, resp.text) == (401, "No ticket", "")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("PVEAPIToken=root@pam!jarvis=wrong", "invalid token value!"),
        ("PVEAPIToken=root@pam!nope=wrong", "no such token 'nope' for user 'root@pam'"),
        ("PVEAPIToken=admin@pve!jarvis=x", "no such user ('admin@pve')"),
        ("PVEAPIToken=root@pam!jarvis", "no tokenid specified"),
    ],
)
def test_bad_tokens_get_pve_401_reasons(shared_sim: SimProcess, header: str, reason: str) -> None:
    resp = shared_sim.api("GET", "/cluster/resources", headers={"Authorization": header})
    assert resp.status_code == 401
    assert resp.reason == reason


def test_token_accepted_with_equals_or_space_separator(shared_sim: SimProcess) -> None:
    for sep in ("=", " "):
        header = f"PVEAPIToken{sep}{shared_sim.token_id}={shared_sim.token_secret}"
        assert shared_sim.api("GET", "/version", headers={"Authorization": header}).ok


def test_answers_use_the_data_envelope_and_pve_headers(shared_sim: SimProcess) -> None:
    resp = shared_sim.api("GET", "/version")
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.headers["Server"] == "pve-api-daemon/3.0"
    data = resp.json()["data"]
    assert set(data) >= {"version", "release", "repoid"}


def test_certificate_verifies_with_ca_file_and_matches_fingerprint(shared_sim: SimProcess) -> None:
    nodes = shared_sim.api("GET", "/nodes").json()["data"]
    local = next(n for n in nodes if n["node"] == "pve1")
    assert local["ssl_fingerprint"] == shared_sim.fingerprint
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(shared_sim.url + "/api2/json/version", timeout=5)  # system CAs: untrusted


def test_password_login_ticket_and_csrf(pve_sim: SimProcess) -> None:
    bad = pve_sim.api("POST", "/access/ticket", data={"username": "root@pam", "password": "x"},
                      headers={})
    assert (bad.status_code, bad.reason) == (401, "authentication failure")
    login = pve_sim.api("POST", "/access/ticket",
                        data={"username": "root@pam", "password": pve_sim.password}, headers={})
    ticket = login.json()["data"]
    cookie = {"Cookie": f"PVEAuthCookie={ticket['ticket']}"}
    assert pve_sim.api("GET", "/nodes", headers=cookie).ok
    no_csrf = pve_sim.api("POST", "/nodes/pve1/qemu/108/status/start", headers=cookie)
    assert (no_csrf.status_code, no_csrf.reason) == (401, "Permission denied - invalid csrf token")
    with_csrf = {**cookie, "CSRFPreventionToken": ticket["CSRFPreventionToken"]}
    assert pve_sim.api("POST", "/nodes/pve1/qemu/108/status/start", headers=with_csrf).ok


# ------------------------------------------------------------------ error answers


def test_unknown_parameter_is_400_with_errors_object(shared_sim: SimProcess) -> None:
    resp = shared_sim.api("GET", "/cluster/resources", params={"type": "vm", "bogus": 1})
    assert (resp.status_code, resp.reason) == (400, "Parameter verification failed.")
    body = resp.json()
    assert body["data"] is None
    assert "not defined in schema" in body["errors"]["bogus"]


def test_bad_enum_and_vmid_type_are_400(shared_sim: SimProcess) -> None:
    resp = shared_sim.api("GET", "/cluster/resources", params={"type": "vms"})
    assert "enumeration" in resp.json()["errors"]["type"]
    resp = shared_sim.api("GET", "/nodes/pve1/qemu/abc/status/current")
    assert resp.json()["errors"]["vmid"] == "type check ('integer') failed - got 'abc'"


def test_nextid_with_taken_vmid_is_400(shared_sim: SimProcess) -> None:
    resp = shared_sim.api("GET", "/cluster/nextid", params={"vmid": 100})
    assert resp.status_code == 400
    assert resp.json()["errors"] == {"vmid": "VM 100 already exists"}
    assert shared_sim.api("GET", "/cluster/nextid").json()["data"] == "112"


def test_missing_privilege_is_403_with_pve_text(shared_sim: SimProcess) -> None:
    ro = {"Authorization": f"PVEAPIToken={shared_sim.readonly_token_id}={shared_sim.readonly_token_secret}"}
    assert shared_sim.api("GET", "/cluster/resources", headers=ro).ok  # auditor may read
    resp = shared_sim.api("POST", "/nodes/pve2/qemu/101/status/stop", headers=ro)
    assert resp.status_code == 403
    assert resp.reason == "Permission check failed (/vms/101, VM.PowerMgmt)"
    assert resp.json() == {"data": None, "message": "Permission check failed (/vms/101, VM.PowerMgmt)\n"}


def test_unknown_node_is_500_hostname_lookup(shared_sim: SimProcess) -> None:
    resp = shared_sim.api("GET", "/nodes/doesntexist/status")
    assert resp.status_code == 500
    assert resp.reason.startswith("hostname lookup 'doesntexist' failed")
    assert resp.json()["data"] is None


def test_unknown_guest_is_500_missing_config(shared_sim: SimProcess) -> None:
    resp = shared_sim.api("GET", "/nodes/pve1/qemu/999/status/current")
    assert resp.status_code == 500
    assert resp.reason == "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist"


def test_unknown_path_is_501_not_implemented(shared_sim: SimProcess) -> None:
    resp = shared_sim.api("GET", "/foo/bar")
    assert (resp.status_code, resp.reason) == (501, "Method 'GET /foo/bar' not implemented")
    assert shared_sim.api("PUT", "/version").status_code == 501


def test_offline_node_answers_595_and_leaves_cluster_views(pve_sim: SimProcess) -> None:
    pve_sim.admin("POST", "/nodes/pve2/offline", {"reason": "Connection refused"})
    resp = pve_sim.api("GET", "/nodes/pve2/qemu")
    assert (resp.status_code, resp.reason, resp.text) == (595, "Connection refused", "")
    nodes = pve_sim.api("GET", "/cluster/resources", params={"type": "node"}).json()["data"]
    pve2 = next(n for n in nodes if n["node"] == "pve2")
    assert pve2["status"] == "offline"
    assert {"cpu", "mem", "disk", "uptime"}.isdisjoint(pve2)
    assert guest(pve_sim, 101)["status"] == "unknown"
    status = pve_sim.api("GET", "/cluster/status").json()["data"]
    assert next(e for e in status if e.get("name") == "pve2")["online"] == 0
    pve_sim.admin("POST", "/nodes/pve2/online")
    assert pve_sim.api("GET", "/nodes/pve2/qemu").ok
    assert guest(pve_sim, 101)["status"] == "running"


# ------------------------------------------------------------------ tasks and power


def test_start_runs_as_task_with_real_upid_and_changes_status_at_end(pve_sim: SimProcess) -> None:
    assert guest(pve_sim, 108)["status"] == "stopped"
    upid = pve_sim.api("POST", "/nodes/pve1/qemu/108/status/start").json()["data"]
    m = UPID_RE.match(upid)
    assert m and (m["node"], m["type"], m["id"]) == ("pve1", "qmstart", "108")
    running = task(pve_sim, upid)
    assert running["status"] == "running" and "exitstatus" not in running
    assert (running["user"], running["tokenid"]) == ("root@pam", "jarvis")
    assert guest(pve_sim, 108)["status"] == "stopped"  # not before the task ends
    assert finished(pve_sim, upid)["exitstatus"] == "OK"
    assert guest(pve_sim, 108)["status"] == "running"
    tasks = pve_sim.api("GET", "/nodes/pve1/tasks", params={"vmid": 108}).json()
    assert tasks["total"] >= 1
    assert tasks["data"][0]["upid"] == upid and tasks["data"][0]["status"] == "OK"


def test_qemu_start_on_running_vm_fails_inside_the_task(pve_sim: SimProcess) -> None:
    upid = pve_sim.api("POST", "/nodes/pve2/qemu/101/status/start").json()["data"]
    assert finished(pve_sim, upid)["exitstatus"] == "VM 101 already running"
    log = pve_sim.api("GET", f"/nodes/pve2/tasks/{upid}/log").json()["data"]
    assert log[-1]["t"] == "TASK ERROR: VM 101 already running"


def test_lxc_start_on_running_ct_fails_at_once(shared_sim: SimProcess) -> None:
    resp = shared_sim.api("POST", "/nodes/pve1/lxc/100/status/start")
    assert (resp.status_code, resp.reason) == (500, "CT 100 already running")
    assert resp.json() == {"data": None, "message": "CT 100 already running\n"}


def test_shutdown_stops_the_guest_when_the_task_ends(pve_sim: SimProcess) -> None:
    upid = pve_sim.api("POST", "/nodes/pve4/lxc/103/status/shutdown").json()["data"]
    assert UPID_RE.match(upid)["type"] == "vzshutdown"  # type: ignore[index]
    assert guest(pve_sim, 103)["status"] == "running"
    assert finished(pve_sim, upid)["exitstatus"] == "OK"
    after = guest(pve_sim, 103)
    assert (after["status"], after["uptime"], after["mem"]) == ("stopped", 0, 0)
    again = pve_sim.api("POST", "/nodes/pve4/lxc/103/status/stop")
    assert (again.status_code, again.reason) == (500, "CT 103 not running")


def test_reboot_of_stopped_vm_is_refused(shared_sim: SimProcess) -> None:
    resp = shared_sim.api("POST", "/nodes/pve1/qemu/108/status/reboot")
    assert (resp.status_code, resp.reason) == (500, "VM 108 not running")


def test_template_cannot_start(pve_sim: SimProcess) -> None:
    upid = pve_sim.api("POST", "/nodes/pve2/qemu/109/status/start").json()["data"]
    assert finished(pve_sim, upid)["exitstatus"] == "you can't start a vm if it's a template"


def test_node_shutdown_returns_null_and_node_goes_offline(pve_sim: SimProcess) -> None:
    resp = pve_sim.api("POST", "/nodes/pve3/status", data={"command": "shutdown"})
    assert resp.json() == {"data": None}
    wait_until(lambda: pve_sim.api("GET", "/nodes/pve3/status").status_code == 595)
    assert guest(pve_sim, 102)["status"] == "unknown"
    pve_sim.admin("POST", "/nodes/pve3/poweron")
    for vmid in (102, 106, 110):
        kind = guest(pve_sim, vmid)["type"]
        config = pve_sim.api("GET", f"/nodes/pve3/{kind}/{vmid}/config").json()["data"]
        expected = "running" if config.get("onboot") == 1 else "stopped"
        assert guest(pve_sim, vmid)["status"] == expected  # only onboot guests come back


def test_wakeonlan_returns_mac_and_boots_a_powered_off_node(pve_sim: SimProcess) -> None:
    pve_sim.admin("POST", "/nodes/pve4/poweroff")
    mac = pve_sim.admin("GET", "/state")["nodes"]["pve4"]["mac"]
    resp = pve_sim.api("POST", "/nodes/pve4/wakeonlan")
    assert resp.json()["data"] == mac
    wait_until(lambda: pve_sim.api("GET", "/nodes/pve4/status").ok)
    local = pve_sim.api("POST", "/nodes/pve1/wakeonlan")
    assert (local.status_code, local.reason) == (500, "'pve1' is local node, cannot wake my self!")


def test_magic_packet_on_udp_wakes_the_node(pve_sim: SimProcess) -> None:
    pve_sim.admin("POST", "/nodes/pve2/poweroff")
    mac = bytes.fromhex(pve_sim.admin("GET", "/state")["nodes"]["pve2"]["mac"].replace(":", ""))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"\xff" * 6 + mac * 16, (pve_sim.host, pve_sim.wol_port))
    wait_until(lambda: pve_sim.admin("GET", "/state")["nodes"]["pve2"]["online"])


# ------------------------------------------------------------------ faults


def test_guest_crash_and_high_cpu(pve_sim: SimProcess) -> None:
    pve_sim.admin("POST", "/guests/104/crash")
    assert guest(pve_sim, 104)["status"] == "stopped"
    pve_sim.admin("POST", "/faults", {"kind": "high-cpu", "vmid": 105})
    pve_sim.admin("POST", "/faults", {"kind": "high-cpu", "node": "pve3"})
    pve_sim.admin("POST", "/tick")
    assert guest(pve_sim, 105)["cpu"] > 0.95
    assert pve_sim.api("GET", "/nodes/pve3/status").json()["data"]["cpu"] > 0.95


def test_disk_full_storage(pve_sim: SimProcess) -> None:
    pve_sim.admin("POST", "/faults", {"kind": "disk-full", "storage": "local-lvm", "node": "pve1"})
    storages = pve_sim.api("GET", "/nodes/pve1/storage").json()["data"]
    lvm = next(s for s in storages if s["storage"] == "local-lvm")
    assert lvm["used_fraction"] > 0.99 and lvm["avail"] < 10 * 1024**2
    pve_sim.admin("DELETE", "/faults")
    storages = pve_sim.api("GET", "/nodes/pve1/storage").json()["data"]
    assert next(s for s in storages if s["storage"] == "local-lvm")["used_fraction"] < 0.99


def test_latency_fault_for_one_node(pve_sim: SimProcess) -> None:
    pve_sim.admin("POST", "/faults", {"kind": "latency", "ms": 400, "node": "pve2"})
    start = time.monotonic()
    pve_sim.api("GET", "/nodes/pve2/status")
    slow = time.monotonic() - start
    start = time.monotonic()
    pve_sim.api("GET", "/nodes/pve3/status")
    fast = time.monotonic() - start
    assert slow >= 0.4 > fast


def test_http_error_fault_for_a_path_prefix(pve_sim: SimProcess) -> None:
    pve_sim.admin("POST", "/faults", {"kind": "http-error", "prefix": "/cluster/resources"})
    resp = pve_sim.api("GET", "/cluster/resources")
    assert (resp.status_code, resp.reason) == (500, "got timeout")
    assert resp.json() == {"data": None, "message": "got timeout\n"}
    assert pve_sim.api("GET", "/nodes").ok


def test_token_rotation_and_denied_privilege(pve_sim: SimProcess) -> None:
    new = pve_sim.admin("POST", "/token/rotate")["token_secret"]
    assert pve_sim.api("GET", "/version").reason == "invalid token value!"
    header = {"Authorization": f"PVEAPIToken={pve_sim.token_id}={new}"}
    assert pve_sim.api("GET", "/version", headers=header).ok
    pve_sim.admin("POST", "/token/restore")
    assert pve_sim.api("GET", "/version").ok
    pve_sim.admin("POST", "/faults", {"kind": "deny", "privilege": "Sys.PowerMgmt"})
    resp = pve_sim.api("POST", "/nodes/pve2/wakeonlan")
    assert resp.reason == "Permission check failed (/nodes/pve2, Sys.PowerMgmt)"
    assert len(pve_sim.admin("GET", "/faults")) == 1
    assert pve_sim.admin("DELETE", "/faults") == {"cleared": 1}
    assert pve_sim.api("POST", "/nodes/pve2/wakeonlan").ok


def test_offline_local_node_drops_connections(pve_sim: SimProcess) -> None:
    pve_sim.admin("POST", "/nodes/pve1/offline")
    with pytest.raises(requests.exceptions.ConnectionError):
        pve_sim.api("GET", "/version")
    pve_sim.admin("POST", "/nodes/pve1/online")
    assert pve_sim.api("GET", "/version").ok


# ------------------------------------------------------------------ stats, metrics, scale


def test_stats_count_requests_by_path_template(pve_sim: SimProcess) -> None:
    pve_sim.admin("POST", "/stats/reset")
    pve_sim.api("GET", "/cluster/resources")
    pve_sim.api("GET", "/cluster/resources", params={"type": "vm"})
    pve_sim.api("GET", "/nodes/pve2/status")
    pve_sim.api("GET", "/nodes/pve1/qemu/104/status/current")
    stats = pve_sim.admin("GET", "/stats")
    assert stats["endpoints"] == {
        "GET /cluster/resources": 2,
        "GET /nodes/{node}/status": 1,
        "GET /nodes/{node}/qemu/{vmid}/status/current": 1,
    }
    assert stats["total"] == 4


def test_metrics_move_on_ticks_and_counters_grow(pve_sim: SimProcess) -> None:
    before = guest(pve_sim, 101)
    pve_sim.admin("POST", "/tick")
    after = guest(pve_sim, 101)
    assert after["netin"] > before["netin"] and after["diskwrite"] > before["diskwrite"]
    assert after["uptime"] > before["uptime"]
    rows = pve_sim.api("GET", "/nodes/pve1/rrddata", params={"timeframe": "hour"}).json()["data"]
    assert len(rows) == 70 and {"cpu", "memused", "memavailable", "time"} <= set(rows[-1])
    missing = pve_sim.api("GET", "/nodes/pve1/rrddata")
    assert missing.json()["errors"]["timeframe"] == "property is missing and it is not optional"


def _snapshot(sim: SimProcess) -> Any:
    for _ in range(3):
        sim.admin("POST", "/tick")
    return sim.api("GET", "/cluster/resources").json()["data"]


def test_same_seed_gives_same_cluster_and_metric_sequence(pve_sim_factory: Any) -> None:
    slow = ("--tick-seconds", "3600")
    a = pve_sim_factory(seed=7, nodes=3, guests=30, extra=slow)
    b = pve_sim_factory(seed=7, nodes=3, guests=30, extra=slow)
    c = pve_sim_factory(seed=8, nodes=3, guests=30, extra=slow)
    assert a.token_secret == b.token_secret
    assert _snapshot(a) == _snapshot(b) != _snapshot(c)


@pytest.mark.slow
def test_fifty_nodes_five_thousand_guests_answer_fast(pve_sim_factory: Any) -> None:
    big = pve_sim_factory(nodes=50, guests=5000, seed=3)
    session = requests.Session()
    url = big.url + "/api2/json/cluster/resources"
    session.get(url, headers=big.auth_header, verify=big.ca_file, timeout=10)  # warm up
    times = []
    for _ in range(5):
        start = time.monotonic()
        resp = session.get(url, headers=big.auth_header, verify=big.ca_file, timeout=10)
        times.append(time.monotonic() - start)
    data = resp.json()["data"]
    assert sum(1 for e in data if e["type"] in ("qemu", "lxc")) == 5000
    assert sum(1 for e in data if e["type"] == "node") == 50
    assert statistics.median(times) < 0.1, times
    stopped = sum(1 for e in data if e["type"] in ("qemu", "lxc") and e["status"] == "stopped")
    assert 0.15 < stopped / 5000 < 0.35


def test_cached_resources_answer_equals_reference_rendering() -> None:
    state = SimState.create(nodes=5, guests=300, seed=4, settings=Settings(),
                            local_fingerprint="AA")
    state.cluster.nodes["pve3"].unreachable = "No route to host"
    next(g for g in state.cluster.guests.values() if g.running).lock = "backup"
    for _ in range(2):
        state.cluster.tick()
        for type_filter in (None, "vm", "node", "storage", "pool", "sdn"):
            cached = json.loads(state.cache.resources(type_filter))
            assert cached == views.resources(state.cluster, type_filter)


def test_cli_injects_faults_and_reads_stats(pve_sim: SimProcess, capsys: Any) -> None:
    common = ["--url", pve_sim.url, "--token", pve_sim.token_secret, "--ca-file", pve_sim.ca_file]
    assert cli.main(["fault", *common, "node-offline", "pve2", "--reason", "Connection refused"]) == 0
    assert pve_sim.api("GET", "/nodes/pve2/status").reason == "Connection refused"
    assert cli.main(["fault", *common, "clear"]) == 0
    assert pve_sim.api("GET", "/nodes/pve2/status").ok
    capsys.readouterr()
    assert cli.main(["stats", *common]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["endpoints"]["GET /nodes/{node}/status"] == 2


# ------------------------------------------------------------------ a real client library


def test_proxmoxer_talks_to_the_simulator(pve_sim: SimProcess) -> None:
    api = ProxmoxAPI(
        pve_sim.host, port=pve_sim.port, user="root@pam", token_name="jarvis",
        token_value=pve_sim.token_secret, verify_ssl=pve_sim.ca_file, backend="https",
        timeout=10,
    )
    assert api.version.get()["release"] == "9.0"
    vms = api.cluster.resources.get(type="vm")
    assert {v["vmid"] for v in vms} == set(range(100, 112))
    upid = api.nodes("pve1").qemu(108).status.start.post()
    assert UPID_RE.match(upid)
    pve_sim.admin("POST", "/nodes/pve2/offline")
    with pytest.raises(ResourceException) as err:
        api.nodes("pve2").status.get()
    assert err.value.status_code == 595 and "No route to host" in str(err.value)
    with pytest.raises(ResourceException) as err:
        api.nodes("pve1").lxc(100).status.start.post()
    assert "CT 100 already running" in str(err.value)


def test_proxmoxer_password_login(shared_sim: SimProcess) -> None:
    api = ProxmoxAPI(shared_sim.host, port=shared_sim.port, user="root@pam",
                     password=shared_sim.password, verify_ssl=shared_sim.ca_file, timeout=10)
    assert len(api.nodes.get()) == 4
