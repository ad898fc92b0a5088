"""The things the parser reasons about, read tolerantly from the hub's state payloads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Guest:
    """A VM (``qemu``) or container (``lxc``) as ``guest/<vmid>/state`` describes it."""

    vmid: int
    name: str
    type: str
    node: str
    status: str
    cpu_pct: float | None = None
    cpu_cores: int | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    disk_used: int | None = None
    disk_total: int | None = None
    uptime_s: int | None = None
    netin: int | None = None
    netout: int | None = None
    tags: tuple[str, ...] = ()
    template: bool = False
    lock: str | None = None
    ha_state: str | None = None

    @property
    def label(self) -> str:
        """Return "name (vmid)"."""
        return f"{self.name} ({self.vmid})"

    @property
    def kind_word(self) -> str:
        """Return "VM" or "container"."""
        return "VM" if self.type == "qemu" else "container"


@dataclass(frozen=True, slots=True)
class Node:
    """A Proxmox node as ``node/<name>/state`` describes it."""

    name: str
    status: str
    cpu_pct: float | None = None
    cpu_cores: int | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    disk_used: int | None = None
    disk_total: int | None = None
    uptime_s: int | None = None
    load: tuple[float, ...] = ()
    temperature_c: float | None = None
    pve_version: str | None = None
    ip: str | None = None
    guests_running: int | None = None
    guests_total: int | None = None

    @property
    def online(self) -> bool:
        """Return True when the node is online."""
        return self.status == "online"


@dataclass(frozen=True, slots=True)
class Storage:
    """A storage of one node as ``storage/<node>/<storage>/state`` describes it."""

    node: str
    storage: str
    type: str | None = None
    content: tuple[str, ...] = ()
    shared: bool = False
    active: bool | None = None
    used: int | None = None
    total: int | None = None
    used_pct: float | None = None


@dataclass(frozen=True, slots=True)
class Container:
    """A Docker container as ``docker/<host>/<container>/state`` describes it."""

    host: str
    name: str
    image: str | None = None
    status: str | None = None
    health: str | None = None
    restart_count: int | None = None
    started_at: str | None = None


@dataclass(frozen=True, slots=True)
class Host:
    """Any other configured machine (Wake-on-LAN and ping targets), from ``host/<name>/state``."""

    name: str
    reachable: bool | None = None
    address: str | None = None
    mac: str | None = None
    last_seen: str | float | None = None


@dataclass(frozen=True, slots=True)
class Cluster:
    """The ``cluster/state`` totals."""

    name: str | None = None
    quorate: bool | None = None
    nodes_online: int | None = None
    nodes_total: int | None = None
    guests_running: int | None = None
    guests_total: int | None = None
    cpu_pct: float | None = None
    mem_used: int | None = None
    mem_total: int | None = None


def _int(value: Any) -> int | None:
    kind = type(value)
    if kind is int or value is None:
        return value  # type: ignore[no-any-return]
    if kind is float:
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    kind = type(value)
    if kind is float or value is None:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v for v in value.replace(",", ";").split(";") if v)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if v)
    return ()


def guest_of(vmid: str, data: Mapping[str, Any]) -> Guest | None:
    """Read a guest payload; None when it has no usable vmid."""
    get = data.get
    number = _int(get("vmid")) or _int(vmid)
    if number is None:
        return None
    return Guest(
        number, _str(get("name")) or str(number), _str(get("type")) or "qemu", _str(get("node")) or "",
        _str(get("status")) or "unknown", _float(get("cpu_pct")), _int(get("cpu_cores")), _int(get("mem_used")),
        _int(get("mem_total")), _int(get("disk_used")), _int(get("disk_total")), _int(get("uptime_s")),
        _int(get("netin")), _int(get("netout")), _strings(get("tags")), bool(get("template")),
        _str(get("lock")), _str(get("ha_state")),
    )


def node_of(name: str, data: Mapping[str, Any]) -> Node:
    """Read a node payload."""
    load = data.get("load")
    loads = tuple(f for f in (_float(v) for v in load) if f is not None) if isinstance(load, list | tuple) else ()
    if not loads and _float(load) is not None:
        loads = (float(load),)  # type: ignore[arg-type]
    return Node(
        name=_str(data.get("name")) or name, status=_str(data.get("status")) or "unknown",
        cpu_pct=_float(data.get("cpu_pct")), cpu_cores=_int(data.get("cpu_cores")),
        mem_used=_int(data.get("mem_used")), mem_total=_int(data.get("mem_total")),
        disk_used=_int(data.get("disk_used")), disk_total=_int(data.get("disk_total")),
        uptime_s=_int(data.get("uptime_s")), load=loads, temperature_c=_float(data.get("temperature_c")),
        pve_version=_str(data.get("pve_version")), ip=_str(data.get("ip")),
        guests_running=_int(data.get("guests_running")), guests_total=_int(data.get("guests_total")),
    )


def storage_of(node: str, storage: str, data: Mapping[str, Any]) -> Storage:
    """Read a storage payload."""
    used, total = _int(data.get("used")), _int(data.get("total"))
    pct = _float(data.get("used_pct"))
    if pct is None and used is not None and total:
        pct = round(100.0 * used / total, 1)
    return Storage(
        node=_str(data.get("node")) or node, storage=_str(data.get("storage")) or storage,
        type=_str(data.get("type")), content=_strings(data.get("content")), shared=bool(data.get("shared")),
        active=data.get("active") if isinstance(data.get("active"), bool) else None,
        used=used, total=total, used_pct=pct,
    )


def container_of(host: str, name: str, data: Mapping[str, Any]) -> Container:
    """Read a Docker container payload."""
    return Container(
        host=_str(data.get("host")) or host, name=_str(data.get("name")) or name,
        image=_str(data.get("image")), status=_str(data.get("status")), health=_str(data.get("health")),
        restart_count=_int(data.get("restart_count")), started_at=_str(data.get("started_at")),
    )


def host_of(name: str, data: Mapping[str, Any]) -> Host:
    """Read a configured host payload."""
    reachable = data.get("reachable")
    seen = data.get("last_seen")
    return Host(
        name=_str(data.get("name")) or name, reachable=reachable if isinstance(reachable, bool) else None,
        address=_str(data.get("address")), mac=_str(data.get("mac")),
        last_seen=seen if isinstance(seen, str | int | float) and not isinstance(seen, bool) else None,
    )


def cluster_of(data: Mapping[str, Any]) -> Cluster:
    """Read the cluster payload."""
    quorate = data.get("quorate")
    return Cluster(
        name=_str(data.get("name")), quorate=bool(quorate) if quorate is not None else None,
        nodes_online=_int(data.get("nodes_online")), nodes_total=_int(data.get("nodes_total")),
        guests_running=_int(data.get("guests_running")), guests_total=_int(data.get("guests_total")),
        cpu_pct=_float(data.get("cpu_pct")), mem_used=_int(data.get("mem_used")),
        mem_total=_int(data.get("mem_total")),
    )
