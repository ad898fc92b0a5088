"""Proxmox nodes are SSH hosts by default: by node name, at the IP the cluster reports."""

from __future__ import annotations

from typing import Any

from jarvis.core import Entity, Snapshot, Source, hookimpl

from tests.fixtures.hub import running_hub
from tests.fixtures.sshd import SshdServer


class ClusterStandIn:
    """A source publishing one node entity, as the proxmox plugin does (with its cluster IP)."""

    @hookimpl
    def register_sources(self, register: Any) -> None:
        async def poll() -> Snapshot:
            data = {"name": "pve9", "status": "online", "ip": "127.0.0.1"}
            return Snapshot([Entity(("node", "pve9", "state"), data)])

        register(Source(name="nodes", interval_s=60, poll=poll))


def config(sshd: SshdServer, **extra: Any) -> dict[str, Any]:
    block = {"node_port": sshd.port, "node_username": sshd.username, "key_file": str(sshd.client_key),
             "known_hosts": str(sshd.known_hosts), **extra}
    return {"plugins": {"ssh": block}}


async def test_a_node_the_hub_knows_is_reachable_by_name(sshd: SshdServer) -> None:
    async with running_hub(config(sshd), plugins=["ssh"], extra_plugins={"cluster": ClusterStandIn()}) as hub:
        await hub.refresh()
        reply = await hub.call_tool("ssh.exec", {"host": "pve9", "argv": ["uptime"]}, source="cli")
    assert reply["status"] == "ok", reply
    assert reply["data"]["exit_status"] == 0 and "load average" in reply["data"]["stdout"]


async def test_unknown_names_and_opted_out_nodes_are_not_found(sshd: SshdServer) -> None:
    async with running_hub(config(sshd, proxmox_nodes=False), plugins=["ssh"],
                           extra_plugins={"cluster": ClusterStandIn()}) as hub:
        await hub.refresh()
        opted_out = await hub.call_tool("ssh.exec", {"host": "pve9", "argv": ["uptime"]}, source="cli")
        unknown = await hub.call_tool("ssh.exec", {"host": "pve77", "argv": ["uptime"]}, source="cli")
    assert opted_out["status"] == "error" and opted_out["error"]["code"] == "not_found", opted_out
    assert unknown["status"] == "error" and unknown["error"]["code"] == "not_found", unknown
