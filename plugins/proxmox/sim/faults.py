"""Fault injection and the admin API under /_sim/ (JSON in, JSON out).

Faults persist until deleted (DELETE /_sim/faults clears all and restores the cluster);
events such as a guest crash or a power change happen once and are not listed.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from .actions import crash, node_boot, node_power_off
from .disks import pick
from .errors import ApiError
from .hostos import NodeHost, updates_list
from .state import Fault, SimState

KINDS = ("node-offline", "high-cpu", "disk-full", "latency", "http-error", "deny", "token",
         "disk-failing", "hot-node", "service-stopped", "updates")
HOST_KINDS = ("disk-failing", "hot-node", "service-stopped", "updates")


class AdminError(Exception):
    """A bad admin request: answered 400/404 with {"error": message}."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _node(sim: SimState, name: Any) -> Any:
    node = sim.cluster.nodes.get(str(name))
    if node is None:
        raise AdminError(f"no such node {name!r}", 404)
    return node


def _guest(sim: SimState, vmid: Any) -> Any:
    try:
        guest = sim.cluster.guests.get(int(vmid))
    except (TypeError, ValueError):
        guest = None
    if guest is None:
        raise AdminError(f"no such guest {vmid!r}", 404)
    return guest


def _host(sim: SimState, name: Any) -> NodeHost:
    return sim.hosts[_node(sim, name).name]


def _host_fault(sim: SimState, kind: str, spec: dict[str, Any], clean: dict[str, Any]) -> None:
    """Apply a fault inside a node's OS (disks, sensors, services, packages)."""
    host = _host(sim, spec.get("node"))
    if kind == "disk-failing":
        try:
            disk = pick(host.disks, None if spec.get("disk") is None else str(spec["disk"]))
        except LookupError as exc:
            raise AdminError(str(exc), 404) from None
        disk.failing_wearout = int(_number(spec, "wearout", 3))
        disk.failing = True
        clean["disk"] = disk.devpath
    elif kind == "hot-node":
        celsius = _number(spec, "celsius", 96.0)
        if not 0 < celsius < 150:
            raise AdminError("'celsius' must be between 0 and 150")
        host.thermal.hot = host.thermal.package = clean["celsius"] = celsius
    elif kind == "service-stopped":
        service = host.service(str(spec.get("service", "")))
        if service is None:
            raise AdminError(f"no service {spec.get('service')!r} on {host.name}; known: "
                             f"{', '.join(host.services)}", 404)
        state = clean.setdefault("state", "failed")
        if state not in ("failed", "inactive"):
            raise AdminError("'state' must be 'failed' or 'inactive'")
        host.stop(service, state)
        service.sticky = bool(spec.get("sticky", False))
        clean["service"] = service.name
    else:  # updates
        count = int(_number(spec, "count", 12))
        security = int(_number(spec, "security", min(3, count)))
        try:
            host.updates_fault = updates_list(count, security)
        except ValueError as exc:
            raise AdminError(f"updates: {exc}") from None
        clean.update(count=count, security=security)


def _undo_host_fault(sim: SimState, fault: Fault) -> None:
    spec = fault.spec
    host = sim.hosts[str(spec["node"])]
    if fault.kind == "disk-failing":
        disk = host.disks.get(str(spec["disk"]))
        if disk is not None and not _others(sim, fault, "disk"):
            disk.failing = False
    elif fault.kind == "hot-node":
        thermal = host.thermal
        if not _others(sim, fault):
            thermal.hot = None
            thermal.package = thermal.idle + sim.cluster.nodes[host.name].cpu * 38.0
    elif fault.kind == "service-stopped":
        service = host.services[str(spec["service"])]
        service.sticky = False
        if service.active != "active":
            host.start(service)
    elif fault.kind == "updates" and not _others(sim, fault):
        host.updates_fault = None


def _others(sim: SimState, fault: Fault, *keys: str) -> bool:
    """Tell whether another active fault of the same kind holds the same node (and keys)."""
    return any(
        f is not fault and f.kind == fault.kind and f.spec.get("node") == fault.spec.get("node")
        and all(f.spec.get(k) == fault.spec.get(k) for k in keys)
        for f in sim.faults
    )


def forget(sim: SimState, kind: str, node: str, **match: Any) -> None:
    """Drop faults the node itself has resolved (a restarted service, applied updates)."""
    for fault in [f for f in sim.faults if f.kind == kind and f.spec.get("node") == node
                  and all(f.spec.get(k) == v for k, v in match.items())]:
        sim.faults.remove(fault)
    sim.cluster.changed()


def add_fault(sim: SimState, spec: dict[str, Any]) -> Fault | None:
    """Validate and apply a fault; return it (None for one-shot events like guest-crash)."""
    kind = spec.get("kind")
    if kind == "guest-crash":
        crash(sim, _guest(sim, spec.get("vmid")))
        return None
    if kind not in KINDS:
        raise AdminError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}, guest-crash")
    clean = dict(spec)
    if kind in HOST_KINDS:
        _host_fault(sim, str(kind), spec, clean)
    elif kind == "node-offline":
        node = _node(sim, spec.get("node"))
        if node.name == sim.cluster.local:
            clean.setdefault("note", "local node: API connections are dropped")
        clean.setdefault("reason", "No route to host")
        node.unreachable = str(clean["reason"])
        node.offline_since = node.offline_since or time.time()
        sim.node_changed(node)
    elif kind == "high-cpu":
        if "vmid" in spec:
            _guest(sim, spec["vmid"]).high_cpu = True
        else:
            _node(sim, spec.get("node")).high_cpu = True
    elif kind == "disk-full":
        storage = next((s for s in sim.cluster.storages if s.storage == spec.get("storage")), None)
        if storage is None:
            raise AdminError(f"no such storage {spec.get('storage')!r}", 404)
        if not storage.shared:
            _node(sim, spec.get("node"))
        sim.cluster.usage_for(storage, str(spec.get("node", ""))).full = True
    elif kind == "latency":
        clean["ms"] = _number(spec, "ms")
        if spec.get("node") is not None:
            _node(sim, spec["node"])
    elif kind == "http-error":
        clean["rate"] = _number(spec, "rate", 1.0)
        clean["status"] = int(_number(spec, "status", 500))
        clean.setdefault("prefix", "/")
        clean.setdefault("message", "got timeout")
    elif kind == "deny":
        if not spec.get("privilege"):
            raise AdminError("deny needs 'privilege' (e.g. VM.PowerMgmt)")
        _token(sim, spec).denied.add(str(spec["privilege"]))
    elif kind == "token":
        token = _token(sim, spec)
        action = spec.get("action", "revoke")
        if action == "revoke":
            token.revoked = True
        elif action == "rotate":
            token.secret = str(spec.get("secret") or uuid.uuid4())
            clean["secret"] = token.secret
        else:
            raise AdminError("token action must be 'revoke' or 'rotate'")
    fault = Fault(sim.next_fault_id, str(kind), clean)
    sim.next_fault_id += 1
    sim.faults.append(fault)
    sim.cluster.changed()
    return fault


def _number(spec: dict[str, Any], key: str, default: float | None = None) -> float:
    value = spec.get(key, default)
    if value is None:
        raise AdminError(f"fault needs numeric '{key}'")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise AdminError(f"'{key}' must be a number") from exc


def _token(sim: SimState, spec: dict[str, Any]) -> Any:
    name = spec.get("token", "jarvis")
    token = sim.auth.tokens.get(f"root@pam!{name}")
    if token is None:
        raise AdminError(f"no such token {name!r}", 404)
    return token


def remove_fault(sim: SimState, fault: Fault) -> None:
    """Undo one fault."""
    spec = fault.spec
    if fault.kind == "node-offline":
        node = sim.cluster.nodes[str(spec["node"])]
        if not any(f.kind == "node-offline" and f.spec["node"] == node.name and f is not fault
                   for f in sim.faults):
            node.unreachable = None
            if node.powered:
                node.offline_since = None
            sim.node_changed(node)
    elif fault.kind == "high-cpu":
        if "vmid" in spec:
            sim.cluster.guests[int(spec["vmid"])].high_cpu = False
        else:
            sim.cluster.nodes[str(spec["node"])].high_cpu = False
    elif fault.kind == "disk-full":
        storage = next(s for s in sim.cluster.storages if s.storage == spec["storage"])
        sim.cluster.usage_for(storage, str(spec.get("node", ""))).full = False
    elif fault.kind in HOST_KINDS:
        _undo_host_fault(sim, fault)
    elif fault.kind == "deny":
        _token(sim, spec).denied.discard(str(spec["privilege"]))
    elif fault.kind == "token":
        token = _token(sim, spec)
        token.revoked = False
        if token is sim.token:
            token.secret = sim.admin_secret
    sim.faults.remove(fault)
    sim.cluster.changed()


def clear_faults(sim: SimState) -> int:
    """Remove every fault; return how many there were."""
    count = len(sim.faults)
    for fault in list(sim.faults):
        remove_fault(sim, fault)
    return count


def latency_seconds(sim: SimState, node: str | None) -> float:
    """Total injected latency for a request (global faults plus those for `node`)."""
    ms = 0.0
    for fault in sim.faults:
        if fault.kind == "latency" and fault.spec.get("node") in (None, node):
            ms += float(fault.spec["ms"])
    return ms / 1000.0


def injected_error(sim: SimState, path: str) -> ApiError | None:
    """An HTTP error fault that fires for `path` (seeded dice for partial rates)."""
    for fault in sim.faults:
        if fault.kind != "http-error" or not path.startswith(str(fault.spec["prefix"])):
            continue
        if sim.rng_faults.random() < float(fault.spec["rate"]):
            message = str(fault.spec["message"])
            return ApiError(int(fault.spec["status"]), message.rstrip("\n") + "\n")
    return None


def admin(sim: SimState, method: str, path: str, body: dict[str, Any]) -> Any:
    """Dispatch one /_sim/ request; return JSON data or raise AdminError."""
    if method == "GET" and path == "/stats":
        return {"total": sum(sim.stats.values()), "endpoints": dict(sim.stats)}
    if method == "POST" and path == "/stats/reset":
        sim.stats.clear()
        return {"total": 0, "endpoints": {}}
    if path == "/faults":
        if method == "GET":
            return [{"id": f.id, "kind": f.kind, **f.spec} for f in sim.faults]
        if method == "POST":
            fault = add_fault(sim, body)
            return {"id": fault.id if fault else None, "kind": body.get("kind")}
        if method == "DELETE":
            return {"cleared": clear_faults(sim)}
    m = re.fullmatch(r"/faults/(\d+)", path)
    if m and method == "DELETE":
        fault = next((f for f in sim.faults if f.id == int(m.group(1))), None)
        if fault is None:
            raise AdminError(f"no such fault {m.group(1)}", 404)
        remove_fault(sim, fault)
        return {"cleared": 1}
    m = re.fullmatch(r"/nodes/([^/]+)/(offline|online|poweroff|poweron)", path)
    if m and method == "POST":
        return _node_event(sim, m.group(1), m.group(2), body)
    m = re.fullmatch(r"/guests/([^/]+)/crash", path)
    if m and method == "POST":
        add_fault(sim, {"kind": "guest-crash", "vmid": m.group(1)})
        return {"vmid": int(m.group(1)), "status": "stopped"}
    m = re.fullmatch(r"/token/(rotate|revoke|restore)", path)
    if m and method == "POST":
        if m.group(1) == "restore":
            for fault in [f for f in sim.faults if f.kind == "token"]:
                remove_fault(sim, fault)
            return {"token_secret": sim.token.secret}
        add_fault(sim, {**body, "kind": "token", "action": m.group(1)})
        return {"token_secret": None if m.group(1) == "revoke" else sim.token.secret}
    if method == "POST" and path == "/tick":
        sim.tick()
        return {"ticks": sim.cluster.ticks}
    if method == "GET" and path == "/state":
        return state_summary(sim)
    raise AdminError(f"no admin endpoint {method} /_sim{path}", 404)


def _node_event(sim: SimState, name: str, event: str, body: dict[str, Any]) -> Any:
    node = _node(sim, name)
    if event == "offline":
        add_fault(sim, {**body, "kind": "node-offline", "node": name})
    elif event == "online":
        for fault in [f for f in sim.faults if f.kind == "node-offline" and f.spec["node"] == name]:
            remove_fault(sim, fault)
    elif event == "poweroff":
        node_power_off(sim, node)
    else:
        node_boot(sim, node)
    return {"node": name, "online": node.online, "powered": node.powered}


def state_summary(sim: SimState) -> dict[str, Any]:
    """GET /_sim/state: a compact overview for humans and tests."""
    guests = sim.cluster.guests.values()
    return {
        "seed": sim.cluster.seed,
        "ticks": sim.cluster.ticks,
        "local": sim.cluster.local,
        "nodes": {n.name: _node_summary(sim, n.name) for n in sim.cluster.nodes.values()},
        "guests": {"total": len(sim.cluster.guests),
                   "running": sum(1 for g in guests if g.running)},
        "faults": [{"id": f.id, "kind": f.kind, **f.spec} for f in sim.faults],
    }


def _node_summary(sim: SimState, name: str) -> dict[str, Any]:
    node, host = sim.cluster.nodes[name], sim.hosts[name]
    return {
        "online": node.online, "powered": node.powered, "unreachable": node.unreachable,
        "mac": node.mac, "ip": node.ip, "cpu_temp": host.thermal.reading(host.thermal.package),
        "services_down": sorted(s.name for s in host.services.values() if s.active != "active"),
        "updates": len(host.upgradable),
        "failing_disks": [d.devpath for d in host.disks.disks if d.failing],
    }
