"""Render cluster state in the exact shapes PVE's API returns (field names and JSON types).

PVE emits numbers as numbers except where Perl kept strings (lxc list `vmid`, `loadavg`,
`cpuinfo.mhz`, `hvm`); booleans are mostly 0/1 integers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .model import (
    KERNEL_RELEASE,
    KERNEL_VERSION,
    PVE_VERSION,
    PVEVERSION_STRING,
    Cluster,
    Guest,
    Node,
    Storage,
)


def version() -> dict[str, Any]:
    """GET /version."""
    return dict(PVE_VERSION)


def cluster_status(cluster: Cluster) -> list[dict[str, Any]]:
    """GET /cluster/status: the cluster entry plus one entry per member."""
    online = sum(1 for n in cluster.nodes.values() if n.online)
    res: list[dict[str, Any]] = [
        {
            "type": "cluster",
            "id": "cluster",
            "name": cluster.name,
            "nodes": len(cluster.nodes),
            "version": len(cluster.nodes) + 2,
            "quorate": 1 if online * 2 > len(cluster.nodes) else 0,
        }
    ]
    for node in cluster.nodes.values():
        res.append(
            {
                "type": "node",
                "id": f"node/{node.name}",
                "name": node.name,
                "nodeid": node.nodeid,
                "ip": node.ip,
                "local": 1 if node.name == cluster.local else 0,
                "online": 1 if node.online else 0,
                "level": "",
            }
        )
    return res


def node_entry(node: Node) -> dict[str, Any]:
    """A node as in /cluster/resources and /nodes (PVE API2Tools::extract_node_stats).

    An offline member keeps only id/node/type/status/level/max*: its live stats are omitted.
    """
    entry: dict[str, Any] = {"id": f"node/{node.name}", "node": node.name, "type": "node"}
    if node.online:
        entry.update(
            uptime=node.uptime, cpu=round(node.cpu, 6), mem=node.mem, disk=node.disk,
            status="online",
        )
    else:
        entry["status"] = "offline"
    entry.update(level="", maxcpu=node.maxcpu, maxmem=node.maxmem, maxdisk=node.maxdisk)
    return entry


def vm_entry(guest: Guest, node_online: bool) -> dict[str, Any]:
    """A guest as in /cluster/resources (extract_vm_stats plus tags/lock/pool)."""
    entry: dict[str, Any] = {
        "id": f"{guest.kind}/{guest.vmid}",
        "vmid": guest.vmid,
        "node": guest.node,
        "type": guest.kind,
        "status": "unknown",
    }
    if node_online:
        running = guest.running
        entry.update(
            uptime=guest.uptime if running else 0,
            name=guest.name,
            status=guest.status,
            template=1 if guest.template else 0,
            maxcpu=guest.cores,
            cpu=round(guest.cpu, 6) if running else 0,
            maxmem=guest.maxmem,
            mem=guest.mem if running else 0,
            maxdisk=guest.maxdisk,
            disk=guest.disk if guest.kind == "lxc" else 0,
            netin=guest.netin if running else 0,
            netout=guest.netout if running else 0,
            diskread=guest.diskread if running else 0,
            diskwrite=guest.diskwrite if running else 0,
        )
        if guest.kind == "qemu":
            entry["memhost"] = guest.mem if running else 0
    if guest.pool:
        entry["pool"] = guest.pool
    if guest.tags:
        entry["tags"] = guest.tags
    if guest.lock:
        entry["lock"] = guest.lock
    return entry


def storage_entry(cluster: Cluster, storage: Storage, node: Node) -> dict[str, Any]:
    """A storage of a node as in /cluster/resources (extract_storage_stats)."""
    entry: dict[str, Any] = {
        "id": f"storage/{node.name}/{storage.storage}",
        "storage": storage.storage,
        "node": node.name,
        "type": "storage",
        "plugintype": storage.type,
        "status": "unknown",
        "shared": 1 if storage.shared else 0,
        "content": storage.content,
    }
    if node.online:
        usage = cluster.usage_for(storage, node.name)
        entry.update(maxdisk=usage.total, disk=usage.used_effective, status="available")
    return entry


def resources(cluster: Cluster, type_filter: str | None) -> list[dict[str, Any]]:
    """GET /cluster/resources with the optional `type` filter."""
    res: list[dict[str, Any]] = []
    nodes = cluster.nodes
    if type_filter in (None, "pool"):
        for pool in sorted({g.pool for g in cluster.guests.values() if g.pool}):
            res.append({"id": f"/pool/{pool}", "pool": pool, "type": "pool"})
    if type_filter in (None, "vm"):
        for vmid in sorted(cluster.guests):
            guest = cluster.guests[vmid]
            res.append(vm_entry(guest, nodes[guest.node].online))
    if type_filter in (None, "node"):
        res.extend(_with_cgroup(node_entry(n)) for n in nodes.values())
    if type_filter in (None, "storage"):
        for storage in cluster.storages:
            for node in nodes.values():
                if storage.enabled_on(node.name):
                    res.append(storage_entry(cluster, storage, node))
    if type_filter in (None, "sdn"):
        for node in nodes.values():
            res.append(
                {
                    "id": f"sdn/{node.name}/localnetwork",
                    "sdn": "localnetwork",
                    "node": node.name,
                    "type": "sdn",
                    "status": "ok",
                }
            )
    return res


def _with_cgroup(entry: dict[str, Any]) -> dict[str, Any]:
    entry["cgroup-mode"] = 2
    return entry


def nodes_index(cluster: Cluster) -> list[dict[str, Any]]:
    """GET /nodes."""
    res = []
    for node in cluster.nodes.values():
        entry = node_entry(node)
        entry["ssl_fingerprint"] = node.fingerprint
        res.append(entry)
    return res


def node_status(node: Node) -> dict[str, Any]:
    """GET /nodes/{node}/status."""
    free = node.maxmem - node.mem
    return {
        "boot-info": {"mode": "efi", "secureboot": 0},
        "cpu": round(node.cpu, 6),
        "cpuinfo": {
            "cores": node.maxcpu // 2 if node.maxcpu > 4 else node.maxcpu,
            "cpus": node.maxcpu,
            "flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36"
            " clflush mmx fxsr sse sse2 ht syscall nx lm constant_tsc rep_good nopl"
            " xtopology pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt aes"
            " xsave avx f16c rdrand hypervisor lahf_lm abm avx2 bmi1 bmi2",
            "hvm": "1",
            "model": node.cpu_model,
            "mhz": node.mhz,
            "sockets": node.sockets,
            "user_hz": 100,
        },
        "current-kernel": {
            "machine": "x86_64",
            "release": KERNEL_RELEASE,
            "sysname": "Linux",
            "version": KERNEL_VERSION,
        },
        "idle": 0,
        "ksm": {"shared": node.ksm_shared},
        "kversion": f"Linux {KERNEL_RELEASE} {KERNEL_VERSION}",
        "loadavg": node.loadavg(),
        "memory": {
            "available": free + node.arcsize,
            "free": free,
            "total": node.maxmem,
            "used": node.mem,
        },
        "pveversion": PVEVERSION_STRING,
        "rootfs": {
            "avail": node.maxdisk - node.disk,
            "free": node.maxdisk - node.disk,
            "total": node.maxdisk,
            "used": node.disk,
        },
        "swap": {
            "free": node.swaptotal - node.swapused,
            "total": node.swaptotal,
            "used": node.swapused,
        },
        "uptime": node.uptime,
        "wait": round(node.iowait, 6),
    }


def common_status(guest: Guest) -> dict[str, Any]:
    """Fields shared by the guest lists and status/current (qemu-server/pve-container vmstatus)."""
    running = guest.running
    data: dict[str, Any] = {
        "vmid": guest.vmid,
        "name": guest.name,
        "status": guest.status,
        "cpus": guest.cores,
        "cpu": round(guest.cpu, 6) if running else 0,
        "maxmem": guest.maxmem,
        "mem": guest.mem if running else 0,
        "maxdisk": guest.maxdisk,
        "disk": guest.disk if guest.kind == "lxc" else 0,
        "netin": guest.netin if running else 0,
        "netout": guest.netout if running else 0,
        "diskread": guest.diskread if running else 0,
        "diskwrite": guest.diskwrite if running else 0,
        "uptime": guest.uptime if running else 0,
    }
    if running and guest.pid:
        data["pid"] = guest.pid
    if guest.template:
        data["template"] = 1
    if guest.tags:
        data["tags"] = guest.tags
    if guest.lock:
        data["lock"] = guest.lock
    if guest.kind == "lxc":
        data["type"] = "lxc"
        data["maxswap"] = guest.maxswap
        data["swap"] = 0
    return data


def guest_list(guests: list[Guest]) -> list[dict[str, Any]]:
    """GET /nodes/{node}/qemu or /lxc (lxc returns `vmid` as a STRING, as PVE does)."""
    res = []
    for guest in guests:
        data = common_status(guest)
        if guest.kind == "lxc":
            data["vmid"] = str(guest.vmid)
        res.append(data)
    return res


def node_storage(cluster: Cluster, node: Node, params: dict[str, Any]) -> list[dict[str, Any]]:
    """GET /nodes/{node}/storage (pve-storage Status.pm index)."""
    res = []
    for storage in cluster.storages:
        if not storage.enabled_on(node.name):
            continue
        if params.get("storage") and storage.storage != params["storage"]:
            continue
        if params.get("content") and params["content"] not in storage.content.split(","):
            continue
        res.append(storage_status(cluster, storage, node))
    return res


def storage_status(cluster: Cluster, storage: Storage, node: Node) -> dict[str, Any]:
    """One storage's status on a node, as in GET /nodes/{node}/storage."""
    usage = cluster.usage_for(storage, node.name)
    used = usage.used_effective
    return {
        "storage": storage.storage,
        "type": storage.type,
        "content": storage.content,
        "shared": 1 if storage.shared else 0,
        "active": 1,
        "enabled": 1,
        "total": usage.total,
        "used": used,
        "avail": usage.total - used,
        "used_fraction": used / usage.total if usage.total else 0,
    }


def storage_index(cluster: Cluster, type_filter: str | None) -> list[dict[str, Any]]:
    """GET /storage: the storage.cfg entries."""
    digest = hashlib.sha1(repr([s.storage for s in cluster.storages]).encode()).hexdigest()
    res = []
    for storage in cluster.storages:
        if type_filter and storage.type != type_filter:
            continue
        entry: dict[str, Any] = {
            "storage": storage.storage,
            "type": storage.type,
            "content": storage.content,
            "shared": 1 if storage.shared else 0,
            "digest": digest,
        }
        if storage.nodes is not None:
            entry["nodes"] = ",".join(storage.nodes)
        entry.update(storage.extra)
        res.append(entry)
    return res
