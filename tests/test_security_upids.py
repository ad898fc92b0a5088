"""Hole 6: ``proxmox.task_status`` builds its API path only from a strictly checked UPID.

Before: a crafted UPID (``UPID:pve1/qemu/104/config#:...``, or one with ``/../../version?``)
went into the path as it was and reached arbitrary GET endpoints of the PVE API. Now a UPID
must match PVE's own grammar, narrowed to the characters PVE writes; anything else is
``invalid_args`` before any request leaves the hub. Observed on the simulator's request counts.
"""

from __future__ import annotations

from typing import Any

import pytest
from jarvis.mqtt.broker import MosquittoProcess
from jarvis.plugins.proxmox.tasks import parse_upid, task_path

from tests.fixtures.bridge import AsyncPeer, bridged
from tests.fixtures.proxmox import proxmox_config

CRAFTED = [
    "UPID:pve1/qemu/104/config#:0:0:0:a:b:c:",
    "UPID:pve1:00000000:00000000:00000000:x:y:/../../version?:",
    "UPID:pve1:00000000:00000000:00000000:../../../version?a:b:c:",
    "UPID:pve1:0:0:0:a:b:c:",
    "UPID:pve1:0000000G:00000000:00000000:qmstart:100:root@pam:",
    "UPID:pve1:00000000:00000000:00000000:qmstart:100:root@pam:?x=1",
    "UPID:pve1:00000000:00000000:00000000:qmstart:100:root@pam",
    "UPID:pve%2F1:00000000:00000000:00000000:qmstart:100:root@pam:",
    "UPID:pve1:00000000:00000000:00000000:qm start:100:root@pam:",
    "UPID:pve1:０0000000:00000000:00000000:qmstart:100:root@pam:",
]
VALID = "UPID:pve1:0000A1B2:0001C3D4:65F0A1B2:qmstart:100:root@pam!jarvis:"


@pytest.mark.parametrize("upid", CRAFTED)
def test_a_crafted_upid_is_not_a_task_id(upid: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_upid(upid)
    assert upid not in str(caught.value)  # not echoed


def test_a_real_upid_is_a_task_id_and_its_path_is_plain() -> None:
    task = parse_upid(VALID)
    assert (task.node, task.type, task.id, task.user) == ("pve1", "qmstart", "100", "root@pam!jarvis")
    assert task_path("pve1", VALID) == f"nodes/pve1/tasks/{VALID}/status"


async def test_task_status_never_sends_a_crafted_path_to_pve(mqtt_broker: MosquittoProcess, pve_sim: Any) -> None:
    async with bridged(mqtt_broker, proxmox_config(pve_sim), plugins=["proxmox"]) as (hub, _bridge):
        await hub.refresh()
        pve_sim.admin("POST", "/stats/reset")
        async with AsyncPeer(mqtt_broker, "admin1") as admin:
            for upid in CRAFTED:
                reply = await admin.request("tool/proxmox.task_status", {"upid": upid})
                assert reply["status"] == "error" and reply["error"]["code"] == "invalid_args", (upid, reply)
            stats = pve_sim.admin("GET", "/stats")
            # A well-formed UPID goes through: PVE itself answers (here: no such task).
            unknown = await admin.request("tool/proxmox.task_status", {"upid": VALID})
            after = pve_sim.admin("GET", "/stats")
    touched = {k: v for k, v in stats["endpoints"].items() if v}
    assert touched == {}, f"crafted UPIDs reached PVE: {touched}"
    assert unknown["status"] == "error" and "no such task" in unknown["error"]["message"], unknown
    assert {k: v for k, v in after["endpoints"].items() if v} == {"GET /nodes/{node}/tasks/{upid}/status": 1}
