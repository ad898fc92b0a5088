"""The hub-free PVE client and the plugin's resilience, against the real HTTPS simulator."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from jarvis.plugins.proxmox.client import (
    PveAuthError,
    PveClient,
    PveNodeOffline,
    PvePermissionError,
    PveTlsError,
    PveUnreachable,
    PveUpstreamError,
)
from jarvis.plugins.proxmox.models import (
    parse_cluster_resources,
    parse_cluster_status,
    parse_guest_status,
    parse_node_status,
    parse_storage_list,
)
from jarvis.plugins.proxmox.resources import ResourceItem, decode_resources
from jarvis.plugins.proxmox.sim.cert import write_certificates
from jarvis.plugins.proxmox.sim.runner import start_simulator
from jarvis.plugins.proxmox.tasks import parse_task_status

from tests.fixtures.hub import running_hub
from tests.fixtures.proxmox import (
    free_port,
    plugin_status,
    proxmox_config,
    run_source,
    runner,
    sim_admin,
)

DEAD = "127.0.0.1:1"  # nothing listens on port 1


def client(sim: Any, endpoints: list[str] | None = None, **kwargs: Any) -> PveClient:
    """A client for ``sim`` pinned to its certificate unless told otherwise."""
    kwargs.setdefault("fingerprints", [sim.fingerprint])
    return PveClient(endpoints or [sim.url], sim.token_id, sim.token_secret,
                     connect_timeout_s=2, timeout_s=5, **kwargs)


# -- TLS trust ---------------------------------------------------------------------------------


def test_pinned_fingerprint_is_accepted(pve_sim: Any) -> None:
    assert client(pve_sim).get("version")["version"]


def test_wrong_fingerprint_is_refused(pve_sim: Any) -> None:
    wrong = ":".join(["00"] * 32)
    with pytest.raises(PveTlsError, match="is not pinned"):
        client(pve_sim, fingerprints=[wrong]).get("version")


def test_ca_file_verifies_the_node_certificate(pve_sim: Any) -> None:
    assert client(pve_sim, fingerprints=(), ca_file=pve_sim.ca_file).get("version")


def test_default_verification_refuses_a_self_signed_cluster(pve_sim: Any) -> None:
    with pytest.raises(PveTlsError, match="CERTIFICATE_VERIFY_FAILED"):
        client(pve_sim, fingerprints=()).get("version")


# -- errors ------------------------------------------------------------------------------------


def test_bad_secret_names_the_token(pve_sim: Any) -> None:
    bad = PveClient([pve_sim.url], pve_sim.token_id, "wrong", fingerprints=[pve_sim.fingerprint])
    with pytest.raises(PveAuthError) as caught:
        bad.get("cluster/resources")
    assert pve_sim.token_id in caught.value.message and "401" in caught.value.message


def test_readonly_token_names_the_missing_privilege(pve_sim: Any) -> None:
    readonly = PveClient([pve_sim.url], pve_sim.readonly_token_id, pve_sim.readonly_token_secret,
                         fingerprints=[pve_sim.fingerprint])
    vmid = readonly.get("cluster/resources", type="vm")[0]["vmid"]
    node = readonly.get("cluster/resources", type="vm")[0]["node"]
    with pytest.raises(PvePermissionError) as caught:
        readonly.post(f"nodes/{node}/qemu/{vmid}/status/start")
    assert caught.value.privilege == "VM.PowerMgmt"
    assert pve_sim.readonly_token_id in caught.value.message


def test_offline_node_is_595_for_that_node_only(pve_sim: Any) -> None:
    pve_sim.admin("POST", "/_sim/faults", {"kind": "node-offline", "node": "pve2"})
    api = client(pve_sim)
    with pytest.raises(PveNodeOffline) as caught:
        api.get("nodes/pve2/status")
    assert caught.value.node == "pve2"
    assert api.get("nodes/pve1/status")["uptime"] > 0


def test_upstream_500_carries_pve_message(pve_sim: Any) -> None:
    pve_sim.admin("POST", "/_sim/faults", {"kind": "http-error", "prefix": "/cluster/status",
                                           "status": 500, "message": "cfs lock timeout"})
    with pytest.raises(PveUpstreamError) as caught:
        client(pve_sim).get("cluster/status")
    assert caught.value.status_code == 500 and "cfs lock timeout" in caught.value.message


def test_nothing_listening_is_unreachable() -> None:
    api = PveClient([DEAD], "root@pam!jarvis", "x", connect_timeout_s=1)
    with pytest.raises(PveUnreachable, match="127.0.0.1:1"):
        api.get("version")


# -- failover ----------------------------------------------------------------------------------


def test_fails_over_and_remembers_the_good_endpoint(pve_sim: Any) -> None:
    api = client(pve_sim, endpoints=[DEAD, pve_sim.url])
    assert parse_cluster_status(api.get("cluster/status")).quorate
    assert api.active_endpoint.port == pve_sim.port
    pve_sim.admin("POST", "/_sim/stats/reset")
    api.get("cluster/status")
    api.get("cluster/resources")
    assert pve_sim.admin("GET", "/_sim/stats")["total"] == 2
    assert api.total_calls == 3  # refused connections are not API calls


# -- every answer the plugin reads parses ------------------------------------------------------


def test_parses_every_simulator_answer(pve_sim: Any) -> None:
    api = client(pve_sim)
    resources = parse_cluster_resources(api.get("cluster/resources"))
    assert set(resources.nodes) == set(pve_sim.nodes) and resources.guests and resources.storage
    status = parse_cluster_status(api.get("cluster/status"))
    assert set(status.nodes) == set(pve_sim.nodes)
    node = parse_node_status(api.get("nodes/pve1/status"))
    assert node.pve_version and node.kernel and len(node.load) == 3
    storage = parse_storage_list(api.get("nodes/pve1/storage"), "pve1")
    assert storage and all(s.enabled is not None and s.total for s in storage)
    for guest in resources.guests.values():
        live = parse_guest_status(
            api.get(f"nodes/{guest['node']}/{guest['type']}/{guest['vmid']}/status/current"),
            kind=guest["type"], node=guest["node"])
        assert live is not None and live["vmid"] == guest["vmid"] and live["status"] == guest["status"]
        assert live["tags"] == guest["tags"]
    stopped = next(g for g in resources.guests.values()
                   if g["status"] == "stopped" and not g["template"])
    upid = api.post(f"nodes/{stopped['node']}/{stopped['type']}/{stopped['vmid']}/status/start")
    task = parse_task_status(api.get(f"nodes/{stopped['node']}/tasks/{upid}/status"))
    assert task.upid == upid and task.node == stopped["node"]


# -- the plugin when PVE misbehaves ------------------------------------------------------------


async def test_bad_token_at_start_degrades_with_the_token_id(pve_sim: Any) -> None:
    config = proxmox_config(pve_sim, token_secret="not-the-secret")
    async with running_hub(config, plugins=["proxmox"]) as hub:
        await hub.refresh()
        status, reason = plugin_status(hub)
        assert status == "degraded" and reason and pve_sim.token_id in reason
        assert "not-the-secret" not in reason
        assert hub.state.get(("cluster", "state")) is None


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
async def test_unreachable_at_start_degrades_then_recovers() -> None:
    port = free_port()
    secret = "the-token-secret-of-this-cluster"
    block = {"endpoints": [f"127.0.0.1:{port}"], "token_id": "root@pam!jarvis",
             "token_secret": secret, "verify_ssl": False,  # its certificate does not exist yet
             "intervals": {"fast_s": 60, "node_s": 120, "storage_s": 300}}
    async with running_hub({"plugins": {"proxmox": block}}, plugins=["proxmox"]) as hub:
        await hub.refresh()
        status, reason = plugin_status(hub)
        assert status == "degraded" and reason and "unreachable" in reason and str(port) in reason
        first_delay = runner(hub, "cluster").next_delay()
        assert not await run_source(hub, "cluster")
        assert runner(hub, "cluster").next_delay() > first_delay  # retries back off
        sim = await start_simulator(port=port, seed=1, task_seconds=0.2)
        try:
            await asyncio.to_thread(
                requests.post, f"{sim.url}/_sim/token/rotate", json={"secret": secret},
                headers={"Authorization": f"PVEAPIToken={sim.token_id}={sim.token_secret}"},
                verify=sim.ca_file, timeout=10)
            assert await run_source(hub, "cluster")
            assert plugin_status(hub) == ("ok", None)
            assert hub.state.get(("cluster", "state"))["nodes_online"] == 4  # type: ignore[index]
        finally:
            await sim.stop()


async def test_hub_fails_over_to_the_second_endpoint(pve_sim: Any) -> None:
    config = proxmox_config(pve_sim, endpoints=[DEAD, pve_sim.url])
    async with running_hub(config, plugins=["proxmox"]) as hub:
        await hub.refresh()
        assert plugin_status(hub) == ("ok", None)
        assert hub.state.get(("cluster", "state")) is not None
        assert runner(hub, "cluster").metrics["endpoint"] == pve_sim.url


@pytest.mark.parametrize("nodes", [4, 50])
async def test_fast_cycle_budget_whatever_the_size(pve_sim_factory: Any, nodes: int) -> None:
    sim = await asyncio.to_thread(pve_sim_factory, nodes=nodes, guests=nodes * 10)
    async with running_hub(proxmox_config(sim), plugins=["proxmox"]) as hub:
        await hub.refresh()
        for _ in range(3):
            await sim_admin(sim, "POST", "/_sim/stats/reset")
            assert await run_source(hub, "cluster")
            stats = await sim_admin(sim, "GET", "/_sim/stats")
            assert stats["total"] <= 3, stats["endpoints"]
            assert runner(hub, "cluster").metrics["api_calls"] <= 3
        assert len(hub.state.items(("guest",))) == nodes * 10


# -- the fast tier's one-read body -------------------------------------------------------------

def test_bulk_answers_reuse_one_connection(pve_sim: Any) -> None:
    pve = client(pve_sim)
    for _ in range(4):
        items = pve.get_decoded("cluster/resources", decode_resources)
        assert any(isinstance(i, ResourceItem) and i.type == "qemu" for i in items)
    pools = pve._apis[0]._store["session"].get_adapter(pve_sim.url).poolmanager.pools
    counts = [pools[key].num_connections for key in pools.keys()]
    assert counts == [1]


def stalling_https_server(folder: Path) -> tuple[socket.socket, str, str]:
    """Serve one HTTPS answer that promises 1 MB and sends 10 bytes, then stalls."""
    certs = write_certificates(folder, "stall", "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert_file, certs.key_file)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            raw, _ = listener.accept()
            with context.wrap_socket(raw, server_side=True) as conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 1000000\r\n\r\n{\"data\": [")
                time.sleep(5)

    threading.Thread(target=serve, daemon=True).start()
    return listener, f"https://127.0.0.1:{listener.getsockname()[1]}", certs.fingerprint


def test_an_answer_that_stalls_mid_body_is_a_timeout_not_a_crash(tmp_path: Path) -> None:
    listener, url, fingerprint = stalling_https_server(tmp_path)
    try:
        pve = PveClient([url], "root@pam!jarvis", "secret", fingerprints=[fingerprint],
                        connect_timeout_s=2, timeout_s=0.5)
        with pytest.raises(PveUnreachable, match="timed out") as caught:
            pve.get_decoded("cluster/resources", decode_resources)
        assert caught.value.timeout  # every endpoint timed out: the plugin says so, and retries
    finally:
        listener.close()
