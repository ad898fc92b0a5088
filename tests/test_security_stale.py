"""Hole 11: answers and state from a cache say how old they are.

Before: while PVE was unreachable, read tools answered ``ok`` from the cache and retained state
stayed as it was, with no sign of age. Now a read reply carries ``as_of`` (when its data was
fetched) and ``stale``; retained state of a kind with ``freshness`` gains ``"stale": true`` and
``as_of`` while its source fails, and loses them when it recovers.
"""

from __future__ import annotations

from typing import Any

from jarvis.mqtt.broker import MosquittoProcess
from jarvis.plugins.proxmox.kinds import GUEST

from tests.fixtures.bridge import BASE, AsyncPeer, bridged, retained_under
from tests.fixtures.proxmox import proxmox_config


async def test_read_replies_and_retained_state_are_marked_stale_while_pve_is_unreachable(
    mqtt_broker: MosquittoProcess, pve_sim: Any
) -> None:
    async with bridged(mqtt_broker, proxmox_config(pve_sim, timeout_s=2), plugins=["proxmox"]) as (hub, _bridge):
        await hub.refresh()
        async with AsyncPeer(mqtt_broker, "viewer1") as viewer:
            fresh = await viewer.request("tool/proxmox.guest_list", {})
            assert fresh["status"] == "ok" and fresh["stale"] is False and fresh["as_of"].endswith("Z")
            before = await retained_under(mqtt_broker, f"{BASE}/guest/100/state")
            assert "stale" not in before[f"{BASE}/guest/100/state"]

            pve_sim.admin("POST", "/nodes/pve1/offline")  # the API node: nothing answers any more
            await hub.refresh()
            cached = await viewer.request("tool/proxmox.guest_list", {}, within=30)
            stale_state = (await retained_under(mqtt_broker, f"{BASE}/guest/100/state"))[f"{BASE}/guest/100/state"]
            cluster = (await retained_under(mqtt_broker, f"{BASE}/cluster/state"))[f"{BASE}/cluster/state"]

            pve_sim.admin("POST", "/nodes/pve1/online")
            await hub.refresh()
            again = await viewer.request("tool/proxmox.guest_list", {})
            after = (await retained_under(mqtt_broker, f"{BASE}/guest/100/state"))[f"{BASE}/guest/100/state"]

    assert cached["status"] == "ok" and cached["stale"] is True and cached["as_of"] == fresh["as_of"]
    assert stale_state["stale"] is True and stale_state["as_of"] <= cached["as_of"]
    assert cluster["stale"] is True
    assert GUEST.problems(stale_state) == []  # the schema describes the two fields
    assert again["stale"] is False and again["as_of"] >= fresh["as_of"]
    assert "stale" not in after and "as_of" not in after
