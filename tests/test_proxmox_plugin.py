"""The Proxmox plugin in a running hub, against the HTTPS PVE simulator (no mocks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from jarvis.core import Event
from jarvis.core.hub import Hub

from tests.fixtures.hub import running_hub
from tests.fixtures.proxmox import (
    plugin_status,
    proxmox_config,
    run_source,
    runner,
    sim_admin,
    wait_until,
)


@pytest.fixture
async def hub(pve_sim: Any) -> AsyncIterator[Hub]:
    """A hub with the proxmox plugin on the simulator, polled once by every tier."""
    async with running_hub(proxmox_config(pve_sim), plugins=["proxmox"]) as started:
        await started.refresh()
        yield started


def guests(hub: Hub) -> dict[int, Mapping[str, Any]]:
    """Return retained guest states by vmid."""
    return {int(key[1]): data for key, data in hub.state.items(("guest",)).items()}


def pick(hub: Hub, *, status: str, kind: str | None = None) -> int:
    """Return the vmid of a non-template guest in ``status`` (and of ``kind``)."""
    for vmid, data in sorted(guests(hub).items()):
        if data["status"] == status and not data["template"] and kind in (None, data["type"]):
            return vmid
    pytest.skip(f"the simulator has no {status} {kind or 'guest'}")


async def call(hub: Hub, tool: str, **args: Any) -> dict[str, Any]:
    """Call a proxmox tool as a human on the CLI; approve a confirmation if one is asked."""
    reply = await hub.call_tool(f"proxmox.{tool}", args, source="cli")
    if reply["status"] == "confirmation_required":
        reply = await hub.pipeline.resolve_confirmation(
            reply["confirmation"]["id"], True, "cli")
    return reply


# -- state -------------------------------------------------------------------------------------


async def test_publishes_cluster_nodes_guests_and_storage(hub: Hub, pve_sim: Any) -> None:
    cluster = hub.state.get(("cluster", "state"))
    assert cluster is not None and cluster["quorate"] is True
    assert cluster["nodes_online"] == cluster["nodes_total"] >= 2
    nodes = sorted(k[1] for k in hub.state.items(("node",)) if k[2] == "state")
    assert nodes[0] == "pve1"
    for node in nodes:
        assert hub.state.get(("node", node, "availability")) == {"state": "online"}
        state = hub.state.get(("node", node, "state"))
        assert state is not None and state["pve_version"] and state["load"]
        assert state["temperature_c"] is None and state["mem_total"] > 0
    assert len(guests(hub)) == cluster["guests_total"] + cluster["templates"]
    one = next(iter(guests(hub).values()))
    assert one["type"] in ("qemu", "lxc") and isinstance(one["tags"], list)
    storage = hub.state.items(("storage",))
    assert storage and all(s["total"] for s in storage.values())
    assert any(s["enabled"] is True for s in storage.values())  # merged from /nodes/{n}/storage
    assert plugin_status(hub) == ("ok", None)


async def test_fast_cycle_makes_at_most_three_api_calls(hub: Hub, pve_sim: Any) -> None:
    await sim_admin(pve_sim, "POST", "/_sim/stats/reset")
    assert await run_source(hub, "cluster")
    stats = await sim_admin(pve_sim, "GET", "/_sim/stats")
    assert stats["total"] <= 3, stats
    assert runner(hub, "cluster").metrics["api_calls"] == stats["total"]


# -- tools -------------------------------------------------------------------------------------


async def test_read_tools(hub: Hub) -> None:
    status = await call(hub, "cluster_status")
    assert status["status"] == "ok" and status["data"]["cluster"]["quorate"] is True
    listed = await call(hub, "guest_list", node="pve1")
    assert listed["status"] == "ok"
    assert listed["data"]["guests"] and all(g["node"] == "pve1" for g in listed["data"]["guests"])
    vmid = listed["data"]["guests"][0]["vmid"]
    one = await call(hub, "guest_status", vmid=vmid)
    assert one["status"] == "ok" and one["data"]["vmid"] == vmid and one["data"]["node"] == "pve1"
    detail = await call(hub, "node_detail", node="pve2")
    assert detail["status"] == "ok" and detail["data"]["detail"]["cpu_model"]
    storage = await call(hub, "storage_list", node="pve1")
    assert storage["status"] == "ok" and {s["node"] for s in storage["data"]} == {"pve1"}
    resources = await call(hub, "cluster_resources", type="vm")
    assert resources["status"] == "ok" and resources["data"]["guests"]
    assert not resources["data"]["nodes"]


async def test_guest_start_tracks_its_task_and_updates_state(hub: Hub) -> None:
    vmid = pick(hub, status="stopped")
    progress: list[Event] = []
    hub.events_subscribe(lambda e: progress.append(e) if e.type == "task" else None)
    reply = await call(hub, "guest_start", vmid=vmid)
    assert reply["status"] == "ok", reply
    data = reply["data"]
    assert data["upid"].startswith("UPID:") and data["exitstatus"] == "OK"
    assert data["status"] == "stopped"  # the task's status: it ended
    assert data["guest"]["status"] == "running"
    assert progress and progress[-1].details["upid"] == data["upid"]
    # The retained state follows without waiting for the next 60 s cycle.
    await wait_until(lambda: guests(hub)[vmid]["status"] == "running", within=5)
    task = await call(hub, "task_status", upid=data["upid"])
    assert task["status"] == "ok" and task["data"]["exitstatus"] == "OK"


async def test_starting_a_running_guest_is_a_conflict(hub: Hub) -> None:
    vmid = pick(hub, status="running")
    reply = await call(hub, "guest_start", vmid=vmid)
    assert reply["status"] == "error" and reply["error"]["code"] == "conflict"
    assert str(vmid) in reply["error"]["message"]


async def test_unknown_vmid_is_not_found(hub: Hub) -> None:
    reply = await call(hub, "guest_shutdown", vmid=987654)
    assert reply["error"]["code"] == "not_found"
    reply = await call(hub, "node_detail", node="nosuchnode")
    assert reply["error"]["code"] == "not_found"


async def test_stop_is_dangerous_and_needs_confirmation(hub: Hub) -> None:
    vmid = pick(hub, status="running")
    asked = await hub.call_tool("proxmox.guest_stop", {"vmid": vmid}, source="cli")
    assert asked["status"] == "confirmation_required"
    done = await hub.pipeline.resolve_confirmation(asked["confirmation"]["id"], True, "cli")
    assert done["status"] == "ok" and done["data"]["guest"]["status"] == "stopped"
    await wait_until(lambda: guests(hub)[vmid]["status"] == "stopped", within=5)


async def test_a_failed_task_is_an_upstream_error(hub: Hub, pve_sim: Any) -> None:
    vmid = pick(hub, status="running", kind="qemu")

    async def crash_soon() -> None:
        await asyncio.sleep(0.1)  # the reboot task is running now (it takes 2 x task_seconds)
        await sim_admin(pve_sim, "POST", f"/_sim/guests/{vmid}/crash")

    crash = asyncio.create_task(crash_soon())
    reply = await call(hub, "guest_reboot", vmid=vmid)
    await crash
    assert reply["status"] == "error" and reply["error"]["code"] == "upstream_error"
    assert "not running" in reply["error"]["message"]


async def test_commands_map_onto_tools(hub: Hub) -> None:
    vmid = pick(hub, status="stopped")
    reply = await hub.handle_command("guest", (str(vmid),), "set", "ON", "mqtt")
    assert reply["status"] == "ok", reply
    for verb in ("suspend", "resume"):
        reply = await hub.handle_command("guest", (str(vmid),), "action", verb, "mqtt")
        assert reply["status"] == "ok", reply
    bad = await hub.handle_command("guest", (str(vmid),), "action", "explode", "mqtt")
    assert bad["error"]["code"] == "invalid_args"
    off = await hub.handle_command("guest", (str(vmid),), "set", {"state": "stopped"}, "mqtt")
    assert off["status"] == "ok", off
    assert off["data"]["guest"]["status"] == "stopped"
    node = await hub.handle_command("node", ("pve2",), "action", "wake", "mqtt")
    assert node["error"]["code"] == "conflict"  # it is online


# -- failures ----------------------------------------------------------------------------------


async def test_one_node_offline_only_that_node(hub: Hub, pve_sim: Any) -> None:
    on_pve2 = [v for v, g in guests(hub).items() if g["node"] == "pve2"]
    assert on_pve2
    await sim_admin(pve_sim, "POST", "/_sim/faults", {"kind": "node-offline", "node": "pve2"})
    await hub.refresh()
    assert hub.state.get(("node", "pve2", "availability")) == {"state": "offline"}
    assert hub.state.get(("node", "pve2", "state"))["status"] == "offline"  # type: ignore[index]
    assert hub.state.get(("node", "pve1", "availability")) == {"state": "online"}
    assert all(guests(hub)[v]["status"] == "unknown" for v in on_pve2)
    others = [g for g in guests(hub).values() if g["node"] != "pve2"]
    assert all(g["status"] != "unknown" for g in others)
    assert plugin_status(hub)[0] == "ok"  # one node down is news, not a plugin failure
    reply = await call(hub, "guest_status", vmid=on_pve2[0])
    assert reply["error"]["code"] == "unreachable"
    await sim_admin(pve_sim, "DELETE", "/_sim/faults")
    await run_source(hub, "cluster")
    assert hub.state.get(("node", "pve2", "availability")) == {"state": "online"}
    assert all(guests(hub)[v]["status"] != "unknown" for v in on_pve2)


async def test_node_wake_boots_a_powered_off_node(hub: Hub, pve_sim: Any) -> None:
    await sim_admin(pve_sim, "POST", "/_sim/nodes/pve3/poweroff")
    await run_source(hub, "cluster")
    assert hub.state.get(("node", "pve3", "availability")) == {"state": "offline"}
    reply = await call(hub, "node_wake", node="pve3")
    assert reply["status"] == "ok" and reply["data"]["mac"]

    async def online() -> bool:
        await run_source(hub, "cluster")
        return hub.state.get(("node", "pve3", "availability")) == {"state": "online"}

    for _ in range(100):
        if await online():
            break
        await asyncio.sleep(0.1)
    assert hub.state.get(("node", "pve3", "availability")) == {"state": "online"}


async def test_revoked_token_degrades_with_the_token_id(hub: Hub, pve_sim: Any) -> None:
    await sim_admin(pve_sim, "POST", "/_sim/faults", {"kind": "token", "action": "revoke"})
    assert not await run_source(hub, "cluster")
    status, reason = plugin_status(hub)
    assert status == "degraded" and reason and pve_sim.token_id in reason and "401" in reason
    await sim_admin(pve_sim, "DELETE", "/_sim/faults")
    assert await run_source(hub, "cluster")
    assert plugin_status(hub) == ("ok", None)


async def test_missing_privilege_is_named(hub: Hub, pve_sim: Any) -> None:
    await sim_admin(pve_sim, "POST", "/_sim/faults", {"kind": "deny", "privilege": "Sys.Audit"})
    assert not await run_source(hub, "nodes")
    status, reason = plugin_status(hub)
    assert status == "degraded" and reason and "Sys.Audit" in reason and pve_sim.token_id in reason
    vmid = pick(hub, status="stopped")
    await sim_admin(pve_sim, "POST", "/_sim/faults", {"kind": "deny", "privilege": "VM.PowerMgmt"})
    reply = await call(hub, "guest_start", vmid=vmid)
    assert reply["error"]["code"] == "denied" and "VM.PowerMgmt" in reply["error"]["message"]


async def test_node_shutdown_is_confirmed_then_the_node_goes_offline(hub: Hub) -> None:
    asked = await hub.call_tool("proxmox.node_shutdown", {"node": "pve4"}, source="cli")
    assert asked["status"] == "confirmation_required"
    done = await hub.pipeline.resolve_confirmation(asked["confirmation"]["id"], True, "cli")
    assert done["status"] == "ok" and done["data"]["status"] == "requested"

    async def offline() -> bool:
        await run_source(hub, "cluster")
        return hub.state.get(("node", "pve4", "availability")) == {"state": "offline"}

    for _ in range(50):
        if await offline():
            break
        await asyncio.sleep(0.1)
    assert hub.state.get(("node", "pve4", "availability")) == {"state": "offline"}
    again = await call(hub, "node_reboot", node="pve4")
    assert again["error"]["code"] == "conflict"


async def test_without_endpoints_the_plugin_idles() -> None:
    async with running_hub({"plugins": {"proxmox": {}}}, plugins=["proxmox"]) as idle:
        assert plugin_status(idle) == ("ok", "idle: no endpoints configured")
        assert not [r for r in idle.runners if r.ctx.name == "proxmox"]
        reply = await call(idle, "guest_list")
        assert reply["error"]["code"] == "unreachable"
        assert "proxmox.guest_start" in idle.pipeline.registry.tools
