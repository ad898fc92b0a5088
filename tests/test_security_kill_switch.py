"""Hole 5: the kill switch and answers to confirmations never wait behind slow work.

Before: every message shared one pool of 64 handlers, so with PVE answering in 10 s and 100
``guest_status`` requests queued, ``autonomy off`` waited ~30 s. Control messages (the
autonomy request and topic, ``confirm``) now skip the pool. bench/bench_security.py measures it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from jarvis.mqtt.broker import MosquittoProcess

from tests.fixtures.bridge import BASE, AsyncPeer, bridged
from tests.fixtures.proxmox import proxmox_config

SLOW_MS = 10_000
QUEUED = 100


async def test_autonomy_off_answers_at_once_while_the_work_pool_is_saturated(
    mqtt_broker: MosquittoProcess, pve_sim: Any
) -> None:
    async with bridged(mqtt_broker, proxmox_config(pve_sim), plugins=["proxmox"]) as (hub, bridge):
        await hub.refresh()
        pve_sim.admin("POST", "/faults", {"kind": "latency", "ms": SLOW_MS})
        async with AsyncPeer(mqtt_broker, "operator1") as busy, AsyncPeer(mqtt_broker, "admin1") as admin:
            await admin.subscribe(f"{BASE}/reply/admin1/#")
            for n in range(QUEUED):
                await busy.publish(busy.topic("bridge/request/tool/proxmox.guest_status"),
                                   {"args": {"vmid": 100 + n % 12}, "transaction": n})
            # Wait until the pool is really full of slow calls.
            for _ in range(100):
                if bridge.link.counters["received"] >= QUEUED:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            started = time.monotonic()
            reply = await admin.request("autonomy", {"mode": "off"}, within=20)
            elapsed = time.monotonic() - started
            # The retained switch follows at once too, and a dashboard reading it sees "off".
            assert hub.autonomy == "off"
        pve_sim.admin("DELETE", "/faults")
    print(f"\nautonomy off answered in {elapsed * 1000:.0f} ms behind {QUEUED} requests at {SLOW_MS} ms each")
    assert reply["status"] == "ok", reply
    assert elapsed < 1.0, f"the kill switch waited {elapsed:.1f} s behind slow work"
    assert bridge.link.counters["control"] >= 1
