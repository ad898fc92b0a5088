"""Hole 7: ids in command topics are canonical ASCII, or the command is refused.

Before: ``jarvis/guest/١٠٨/action`` (Arabic-Indic 108) started guest 108 and
``guest/000108/action`` stopped it: Python's ``int()`` reads both, so one guest had many
topics and an ACL written per topic could be walked around. Now an id segment must be
``[A-Za-z0-9_-]`` and a vmid plain decimal without leading zeros. Observed on the simulator.
"""

from __future__ import annotations

from typing import Any

import pytest
from jarvis.mqtt.broker import MosquittoProcess
from jarvis.plugins.proxmox.commands import guest_action, node_action

from tests.fixtures.bridge import BASE, AsyncPeer, bridged, payload_of
from tests.fixtures.proxmox import proxmox_config

ODD_VMIDS = ["١٠٨", "000108", "0108", "１０８", "108 ", "+108", "1_08", "١٠٨٠"]


@pytest.mark.parametrize("vmid", ODD_VMIDS)
def test_a_non_canonical_vmid_is_not_a_guest(vmid: str) -> None:
    with pytest.raises(Exception) as caught:
        guest_action((vmid,), "start")
    assert getattr(caught.value, "code", None) == "invalid_args"


def test_a_node_name_in_a_topic_is_plain_ascii() -> None:
    for node in ("pve١", "pve 1", "pve1/..", ""):
        with pytest.raises(Exception) as caught:
            node_action((node,), "reboot")
        assert getattr(caught.value, "code", None) == "invalid_args"
    assert node_action(("pve1",), "reboot") == ("node_reboot", {"node": "pve1"})


async def test_unicode_digits_and_leading_zeros_never_reach_pve(mqtt_broker: MosquittoProcess, pve_sim: Any) -> None:
    async with bridged(mqtt_broker, proxmox_config(pve_sim), plugins=["proxmox"]) as (hub, _bridge):
        await hub.refresh()
        pve_sim.admin("POST", "/stats/reset")
        async with AsyncPeer(mqtt_broker, "homeassistant") as homeassistant:
            reply_to = f"{BASE}/reply/homeassistant/ids"
            await homeassistant.subscribe(reply_to)
            for vmid in (v for v in ODD_VMIDS if "+" not in v):  # a wildcard is no topic name
                for verb in ("start", "stop"):
                    since = homeassistant.mark()
                    await homeassistant.publish(f"{BASE}/guest/{vmid}/action", verb, response_topic=reply_to)
                    reply = payload_of(await homeassistant.expect(reply_to, since=since))
                    assert reply["status"] == "error", (vmid, verb, reply)
                    assert reply["error"]["code"] in ("invalid_args", "invalid_topic"), reply
            stats = pve_sim.admin("GET", "/stats")
    writes = {k: v for k, v in stats["endpoints"].items() if v and k.startswith("POST")}
    assert writes == {}, f"a non-canonical id reached PVE: {writes}"
