"""The merged cluster model the sources share, and the entity payloads built from it."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from jarvis.core import Entity, Payload
from jarvis.plugins.proxmox.convert import used_pct
from jarvis.plugins.proxmox.guests import Row, published
from jarvis.plugins.proxmox.models import (
    ClusterResources,
    ClusterStatus,
    NodeStatus,
    StorageResource,
)

Key = tuple[str, ...]
_ONLINE, _OFFLINE = Payload({"state": "online"}), Payload({"state": "offline"})
OVERRIDE_TTL_S = 30.0  # cluster/resources lags real PVE by up to ~10 s (pvestatd)


@dataclass
class ClusterModel:
    """What the plugin knows: the last fast poll plus cached node and storage detail."""

    cluster_name: str | None = None
    resources: ClusterResources = field(default_factory=ClusterResources)
    status: ClusterStatus = field(default_factory=ClusterStatus)
    node_detail: dict[str, NodeStatus] = field(default_factory=dict)
    storage_detail: dict[tuple[str, str], StorageResource] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)  # node -> why its API failed
    overrides: dict[int, tuple[Row, float]] = field(default_factory=dict)
    has_data: bool = False
    # A guest's entity is reused while its row is the same object: no new tuple per poll.
    guest_entities: dict[int, Entity] = field(default_factory=dict)

    def member_online(self, name: str) -> bool:
        """Return True when cluster/resources and cluster/status both say the node is up."""
        res = self.resources.nodes.get(name)
        member = self.status.nodes.get(name)
        if res is not None and not res.online:
            return False
        if member is not None and not member.online:
            return False
        return res is not None or member is not None

    def node_online(self, name: str) -> bool:
        """Return True when the node is a live member and its own API answered last time."""
        return self.member_online(name) and name not in self.unreachable

    def node_names(self) -> list[str]:
        """Return every known node name, sorted."""
        return sorted(set(self.resources.nodes) | set(self.status.nodes))

    def online_nodes(self) -> set[str]:
        """Return the names of the nodes that are online."""
        return {n for n in self.node_names() if self.node_online(n)}

    def set_override(self, guest: Row) -> Row:
        """Trust a fresh guest status (after an action) until cluster/resources catches up."""
        current = self.resources.guests.get(guest["vmid"])
        if current is not None:
            merged = {**guest, "node": guest["node"] or current["node"], "pool": current["pool"]}
            for name in ("tags", "lock", "ha_state"):
                if not guest[name] and current[name]:
                    merged[name] = current[name]
            guest = Payload(merged)
        self.resources.guests[guest["vmid"]] = guest
        self.overrides[guest["vmid"]] = (guest, time.monotonic())
        return guest

    def apply_overrides(self) -> None:
        """Re-apply fresh overrides to a new poll; drop those PVE agrees with or that expired."""
        now = time.monotonic()
        for vmid, (guest, since) in list(self.overrides.items()):
            polled = self.resources.guests.get(vmid)
            if polled is None or polled["status"] == guest["status"] or now - since > OVERRIDE_TTL_S:
                del self.overrides[vmid]
            else:
                self.resources.guests[vmid] = Payload({**guest, "node": polled["node"]})

    def locate(self, vmid: int) -> Row | None:
        """Return the cached guest (its node and type), or None."""
        return self.resources.guests.get(vmid)


def _sum(values: Iterable[int | None]) -> int:
    return sum(v for v in values if v is not None)


def guest_tally(model: ClusterModel) -> dict[str, list[int]]:
    """Return node -> [running, total, templates, running templates] (counted during parsing)."""
    return model.resources.guests.tally()


def cluster_data(model: ClusterModel, tally: dict[str, list[int]] | None = None) -> Payload:
    """Return the ``cluster/state`` payload: quorum, counts and resource totals."""
    names = model.node_names()
    online = [n for n in names if model.node_online(n)]
    nodes = [model.resources.nodes[n] for n in online if n in model.resources.nodes]
    tally = guest_tally(model) if tally is None else tally
    up = set(online)
    running = sum(c[0] + c[3] for node, c in tally.items() if node in up)
    total = sum(c[1] for c in tally.values())
    templates = sum(c[2] for c in tally.values())
    cores = _sum(n.cpu_cores for n in nodes)
    busy = sum((n.cpu_pct or 0.0) * (n.cpu_cores or 0) for n in nodes)
    seen_shared: set[str] = set()
    storage_used = storage_total = 0
    for (node, name), item in sorted(storage_map(model).items()):
        if item.shared:
            if name in seen_shared:
                continue
            seen_shared.add(name)
        if model.node_online(node) or item.shared:
            storage_used += item.used or 0
            storage_total += item.total or 0
    return Payload({
        "name": model.cluster_name or model.status.name or (names[0] if names else None),
        "quorate": model.status.quorate if model.status.name else bool(online),
        "nodes_online": len(online),
        "nodes_total": len(names),
        "guests_running": running,
        "guests_total": total,
        "templates": templates,
        "cpu_cores": cores,
        "cpu_pct": round(busy / cores, 2) if cores else None,
        "mem_used": _sum(n.mem_used for n in nodes),
        "mem_total": _sum(n.mem_total for n in nodes),
        "disk_used": _sum(n.disk_used for n in nodes),
        "disk_total": _sum(n.disk_total for n in nodes),
        "storage_used": storage_used,
        "storage_total": storage_total,
    })


def node_data(model: ClusterModel, name: str, counts: dict[str, tuple[int, int]]) -> Payload:
    """Return ``node/<n>/state``; live metrics are null while the node is offline."""
    online = model.node_online(name)
    res = model.resources.nodes.get(name) if online else None
    member = model.status.nodes.get(name)
    detail = model.node_detail.get(name)
    live = detail if online else None
    running, total = counts.get(name, (0, 0))
    return Payload({
        "name": name,
        "status": "online" if online else "offline",
        "cpu_pct": res.cpu_pct if res else None,
        "cpu_cores": res.cpu_cores if res else (detail.cpu_cores if detail else None),
        "mem_used": res.mem_used if res else None,
        "mem_total": res.mem_total if res else None,
        "disk_used": res.disk_used if res else None,
        "disk_total": res.disk_total if res else None,
        "uptime_s": res.uptime_s if res else None,
        "load": live.load if live and live.load else None,
        "iowait_pct": live.iowait_pct if live else None,
        "swap_used": live.swap_used if live else None,
        "swap_total": live.swap_total if live else None,
        "temperature_c": None,  # the PVE API reports no temperatures
        "pve_version": detail.pve_version if detail else None,
        "kernel": detail.kernel if detail else None,
        "cpu_model": detail.cpu_model if detail else None,
        "ip": member.ip if member else None,
        "guests_running": running,
        "guests_total": total,
        "offline_reason": None if online else model.unreachable.get(name, "offline in cluster"),
    })


def guest_data(model: ClusterModel, guest: Mapping[str, Any], live: bool | None = None) -> Row:
    """Return ``guest/<vmid>/state``; status is ``unknown`` while its node is offline."""
    row = guest if type(guest) is Payload else Payload(guest)
    if live is None:
        live = model.node_online(row["node"])
    return published(row, live)


def guest_rows(model: ClusterModel) -> list[Row]:
    """Return every guest's state payload, by vmid."""
    online = model.online_nodes()
    rows = model.resources.guests.rows
    return [published(rows[v], rows[v]["node"] in online) for v in sorted(rows)]


def storage_map(model: ClusterModel) -> dict[tuple[str, str], StorageResource]:
    """Merge storage detail (enabled, avail) under the fresher cluster/resources figures."""
    known = set(model.node_names())
    merged: dict[tuple[str, str], StorageResource] = {
        key: item for key, item in model.storage_detail.items() if key[0] in known
    }
    for key, item in model.resources.storage.items():
        detail = merged.get(key)
        if detail is None:
            merged[key] = item
            continue
        merged[key] = replace(
            item,
            active=item.active if item.active is not None else detail.active,
            enabled=detail.enabled,
            avail=detail.avail if detail.avail is not None else item.avail,
            type=item.type or detail.type,
            content=item.content or detail.content,
        )
    return merged


def storage_data(model: ClusterModel, item: StorageResource) -> Payload:
    """Return ``storage/<node>/<storage>/state``."""
    online = model.node_online(item.node)
    return Payload({
        "node": item.node,
        "storage": item.storage,
        "type": item.type,
        "content": list(item.content),
        "shared": item.shared,
        "active": item.active if online else None,
        "enabled": item.enabled,
        "used": item.used if online else None,
        "total": item.total,
        "avail": item.avail if online else None,
        "used_pct": used_pct(item.used, item.total) if online else None,
    })


def guest_counts(model: ClusterModel) -> dict[str, tuple[int, int]]:
    """Return node -> (running, total) guest counts, templates excluded."""
    return _counts(guest_tally(model))


def _counts(tally: dict[str, list[int]]) -> dict[str, tuple[int, int]]:
    return {node: (c[0], c[1]) for node, c in tally.items() if c[1]}


def node_entities(model: ClusterModel, names: Iterable[str]) -> list[Entity]:
    """Return the cluster entity plus state and availability of the named nodes."""
    tally = guest_tally(model)
    counts = _counts(tally)
    out = [Entity(("cluster", "state"), cluster_data(model, tally))]
    for name in names:
        out.append(Entity(("node", name, "state"), node_data(model, name, counts)))
        out.append(Entity(("node", name, "availability"), _ONLINE if model.node_online(name) else _OFFLINE))
    return out


def guest_entities(model: ClusterModel, nodes: set[str] | None = None) -> list[Entity]:
    """Return guest entities, all of them or only those on ``nodes``.

    The payloads are the model's rows themselves: an unchanged guest keeps its row (and its
    entity) from poll to poll, which lets the state store skip it by identity.
    """
    online = model.online_nodes()
    cache = model.guest_entities
    rows = model.resources.guests.rows
    if len(cache) > 2 * len(rows) + 100:
        cache.clear()  # forget the guests that are gone
    # Usually every guest's node is up and all are wanted: then no row's node is looked up.
    check_nodes = nodes is not None or not all(node in online for node in guest_tally(model))
    out = []
    for vmid, row in rows.items():
        entity = cache.get(vmid)
        if check_nodes:
            node = row["node"]
            if nodes is not None and node not in nodes:
                continue
            if node not in online:
                out.append(Entity(entity.key if entity else _guest_key(vmid), published(row, False)))
                continue
        if entity is None or entity.data is not row:
            entity = cache[vmid] = Entity(entity.key if entity else _guest_key(vmid), row)
        out.append(entity)
    return out


def _guest_key(vmid: int) -> Key:
    return ("guest", str(vmid), "state")


def storage_entities(model: ClusterModel, nodes: set[str] | None = None) -> list[Entity]:
    """Return storage entities, all of them or only those on ``nodes``."""
    return [
        Entity(("storage", node, name, "state"), storage_data(model, item))
        for (node, name), item in storage_map(model).items()
        if nodes is None or node in nodes
    ]


def all_entities(model: ClusterModel) -> list[Entity]:
    """Return every entity the plugin publishes (what the fast source owns)."""
    return [
        *node_entities(model, model.node_names()),
        *guest_entities(model),
        *storage_entities(model),
    ]
