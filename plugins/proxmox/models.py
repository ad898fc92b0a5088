"""Typed views of PVE API answers, tolerant of the shapes real clusters return.

PVE omits fields on offline nodes, sends vmid as an int or a string depending on the
endpoint, and encodes booleans as 0/1. Units are in the field names (``_pct``, ``_s``, bytes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jarvis.core import Payload
from jarvis.plugins.proxmox.convert import as_bool, as_float, as_int, opt_str, pct, used_pct
from jarvis.plugins.proxmox.guests import GuestTable, parse_guest
from jarvis.plugins.proxmox.resources import ResourceItem, as_mapping

GUEST_TYPES = ("qemu", "lxc")


@dataclass(slots=True)
class NodeResource:
    """A node as listed by /cluster/resources (metrics absent when offline)."""

    name: str
    status: str
    cpu_pct: float | None = None
    cpu_cores: int | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    disk_used: int | None = None
    disk_total: int | None = None
    uptime_s: int | None = None

    @property
    def online(self) -> bool:
        """Return True when PVE reports the node online."""
        return self.status == "online"


@dataclass(slots=True)
class StorageResource:
    """A storage on one node, from /cluster/resources or /nodes/{node}/storage."""

    node: str
    storage: str
    type: str | None = None
    content: list[str] = field(default_factory=list)
    shared: bool = False
    active: bool | None = None
    enabled: bool | None = None
    used: int | None = None
    total: int | None = None
    avail: int | None = None

    @property
    def used_pct(self) -> float | None:
        """Return used/total in percent."""
        return used_pct(self.used, self.total)


@dataclass(slots=True)
class ClusterResources:
    """Everything /cluster/resources lists, by kind (SDN zones and pools are skipped)."""

    nodes: dict[str, NodeResource] = field(default_factory=dict)
    guests: GuestTable = field(default_factory=GuestTable)
    storage: dict[tuple[str, str], StorageResource] = field(default_factory=dict)


def parse_storage(item: Mapping[str, Any], *, node: str | None = None) -> StorageResource | None:
    """Parse one storage entry from either /cluster/resources or /nodes/{node}/storage."""
    name = item.get("storage")
    where = item.get("node") or node
    if not name or not where:
        return None
    in_resources = item.get("type") == "storage"
    status = item.get("status")
    return StorageResource(
        node=str(where),
        storage=str(name),
        type=opt_str(item.get("plugintype") if in_resources else item.get("type")),
        content=[c for c in str(item.get("content") or "").split(",") if c],
        shared=as_bool(item.get("shared")),
        active=(status == "available") if in_resources and status else _opt_bool(item, "active"),
        enabled=_opt_bool(item, "enabled"),
        used=as_int(item.get("disk") if in_resources else item.get("used")),
        total=as_int(item.get("maxdisk") if in_resources else item.get("total")),
        avail=as_int(item.get("avail")),
    )


def _opt_bool(item: Mapping[str, Any], key: str) -> bool | None:
    return as_bool(item[key]) if key in item and item[key] is not None else None


def parse_cluster_resources(
    data: Iterable[Mapping[str, Any] | ResourceItem] | None, reuse: GuestTable | None = None
) -> ClusterResources:
    """Parse /cluster/resources (plain or typed items) into nodes, guests and storage.

    With ``reuse`` (the previous poll's guests), an unchanged guest keeps its previous row.
    """
    result = ClusterResources()
    add_guest, add_typed = result.guests.add_item, result.guests.add_typed
    for entry in data or ():
        if isinstance(entry, ResourceItem):  # the fast path: see resources.py
            if entry.type == "qemu" or entry.type == "lxc":
                add_typed(entry, reuse)
                continue
            item: Mapping[str, Any] = as_mapping(entry)
        else:
            item = entry
        kind = item.get("type")
        if kind == "node":
            name = item.get("node") or str(item.get("id", "")).partition("/")[2]
            if not name:
                continue
            result.nodes[name] = NodeResource(
                name=name,
                status=str(item.get("status") or "unknown"),
                cpu_pct=pct(item.get("cpu")),
                cpu_cores=as_int(item.get("maxcpu")),
                mem_used=as_int(item.get("mem")),
                mem_total=as_int(item.get("maxmem")),
                disk_used=as_int(item.get("disk")),
                disk_total=as_int(item.get("maxdisk")),
                uptime_s=as_int(item.get("uptime")),
            )
        elif kind in GUEST_TYPES:
            add_guest(item, reuse)
        elif kind == "storage":
            storage = parse_storage(item)
            if storage is not None:
                result.storage[(storage.node, storage.storage)] = storage
    return result


@dataclass(slots=True)
class ClusterNode:
    """A node as /cluster/status sees it (corosync membership)."""

    name: str
    online: bool
    nodeid: int | None = None
    ip: str | None = None
    local: bool = False


@dataclass(slots=True)
class ClusterStatus:
    """Cluster name, quorum and membership; ``name`` is None on a standalone node."""

    name: str | None = None
    quorate: bool | None = None
    version: int | None = None
    nodes: dict[str, ClusterNode] = field(default_factory=dict)


def parse_cluster_status(data: Iterable[Mapping[str, Any]] | None) -> ClusterStatus:
    """Parse /cluster/status."""
    result = ClusterStatus()
    for item in data or ():
        if item.get("type") == "cluster":
            result.name = opt_str(item.get("name"))
            result.quorate = as_bool(item.get("quorate"))
            result.version = as_int(item.get("version"))
        elif item.get("type") == "node" and item.get("name"):
            name = str(item["name"])
            result.nodes[name] = ClusterNode(
                name=name,
                online=as_bool(item.get("online")),
                nodeid=as_int(item.get("nodeid")),
                ip=opt_str(item.get("ip")),
                local=as_bool(item.get("local")),
            )
    return result


@dataclass(slots=True)
class NodeStatus:
    """/nodes/{node}/status: what only the node itself knows."""

    cpu_pct: float | None = None
    load: list[float] = field(default_factory=list)
    pve_version: str | None = None
    kernel: str | None = None
    uptime_s: int | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    swap_used: int | None = None
    swap_total: int | None = None
    rootfs_used: int | None = None
    rootfs_total: int | None = None
    cpu_model: str | None = None
    cpu_cores: int | None = None
    cpu_sockets: int | None = None
    iowait_pct: float | None = None


def parse_node_status(data: Mapping[str, Any] | None) -> NodeStatus:
    """Parse /nodes/{node}/status; ``pveversion`` ``pve-manager/8.2.4/...`` becomes ``8.2.4``."""
    data = data or {}
    memory, swap, rootfs = (data.get(k) or {} for k in ("memory", "swap", "rootfs"))
    cpuinfo = data.get("cpuinfo") or {}
    version = opt_str(data.get("pveversion"))
    if version and version.startswith("pve-manager/"):
        version = version.split("/")[1]
    kernel = opt_str(data.get("kversion"))
    current = data.get("current-kernel") or {}
    if isinstance(current, Mapping) and current.get("release"):
        kernel = str(current["release"])
    loads = [as_float(v) for v in data.get("loadavg") or ()]
    return NodeStatus(
        cpu_pct=pct(data.get("cpu")),
        load=[v for v in loads if v is not None],
        pve_version=version,
        kernel=kernel,
        uptime_s=as_int(data.get("uptime")),
        mem_used=as_int(memory.get("used")),
        mem_total=as_int(memory.get("total")),
        swap_used=as_int(swap.get("used")),
        swap_total=as_int(swap.get("total")),
        rootfs_used=as_int(rootfs.get("used")),
        rootfs_total=as_int(rootfs.get("total")),
        cpu_model=opt_str(cpuinfo.get("model")),
        cpu_cores=as_int(cpuinfo.get("cpus")),
        cpu_sockets=as_int(cpuinfo.get("sockets")),
        iowait_pct=pct(data.get("wait")),
    )


def parse_guest_status(data: Mapping[str, Any] | None, *, kind: str, node: str) -> Payload | None:
    """Parse /nodes/{node}/{qemu|lxc}/{vmid}/status/current into a guest row."""
    if not data:
        return None
    ha = data.get("ha") or {}
    managed = isinstance(ha, Mapping) and as_bool(ha.get("managed"))
    return parse_guest({**data, "type": data.get("type") or kind, "node": node,
                        "hastate": ha.get("state") if managed else None}, node=node)


def parse_storage_list(data: Iterable[Mapping[str, Any]] | None, node: str) -> list[StorageResource]:
    """Parse /nodes/{node}/storage."""
    parsed = (parse_storage(item, node=node) for item in data or ())
    return [s for s in parsed if s is not None]
