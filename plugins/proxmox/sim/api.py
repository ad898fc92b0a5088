"""Handlers of the simulated /api2/json endpoints and the route table that binds them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from . import disks, rrd, views, views_guest
from .actions import LXC_ACTIONS, QEMU_ACTIONS, config_missing, guest_action, node_command, wake
from .auth import Identity
from .errors import ParamError, internal, perm_error
from .model import Guest, Node
from .router import NODE, VMID, VMID_OPT, P, Raw, Result, Route, Router
from .state import SimState

TIMEFRAME = P(optional=False, enum=("hour", "day", "week", "month", "year"))
CF = P(enum=("AVERAGE", "MAX"))
STORAGE = P(format="pve-storage-id", optional=False)
AGENT_GET = ("get-osinfo", "get-host-name", "network-get-interfaces", "info")


@dataclass
class Ctx:
    """What a handler sees: verified parameters and the caller's identity."""

    params: dict[str, Any]
    identity: Identity


def _node(sim: SimState, ctx: Ctx) -> Node:
    return sim.cluster.nodes[ctx.params["node"]]


def _guest(sim: SimState, ctx: Ctx, kind: str) -> Guest:
    node, vmid = ctx.params["node"], ctx.params["vmid"]
    guest = sim.cluster.guests.get(vmid)
    if guest is None or guest.node != node or guest.kind != kind:
        raise config_missing(node, kind, vmid)
    return guest


def version(sim: SimState, ctx: Ctx) -> Any:
    """GET /version."""
    return views.version()


def cluster_status(sim: SimState, ctx: Ctx) -> Any:
    """GET /cluster/status."""
    return views.cluster_status(sim.cluster)


def cluster_resources(sim: SimState, ctx: Ctx) -> Any:
    """GET /cluster/resources (answer cached per tick/change)."""
    return Raw(sim.cache.resources(ctx.params.get("type")))


def cluster_nextid(sim: SimState, ctx: Ctx) -> Any:
    """GET /cluster/nextid: PVE answers the id as a string."""
    vmid = ctx.params.get("vmid")
    if vmid is not None:
        if vmid in sim.cluster.guests:
            raise ParamError({"vmid": f"VM {vmid} already exists"})
        return str(vmid)
    free = 100
    while free in sim.cluster.guests:
        free += 1
    return str(free)


def cluster_tasks(sim: SimState, ctx: Ctx) -> Any:
    """GET /cluster/tasks: recent tasks of all nodes, newest first."""
    recent = sorted(sim.tasks.tasks.values(), key=lambda t: t.starttime, reverse=True)[:50]
    out = []
    for task in recent:
        entry = task.decoded()
        if task.status == "stopped":
            entry.update(status=task.exitstatus, endtime=task.endtime, saved="1")
        out.append(entry)
    return out


def nodes_index(sim: SimState, ctx: Ctx) -> Any:
    """GET /nodes."""
    return views.nodes_index(sim.cluster)


def node_status(sim: SimState, ctx: Ctx) -> Any:
    """GET /nodes/{node}/status."""
    return views.node_status(_node(sim, ctx))


def node_power(sim: SimState, ctx: Ctx) -> Any:
    """POST /nodes/{node}/status (command=reboot|shutdown): returns null like PVE."""
    node_command(sim, _node(sim, ctx), ctx.params["command"])
    return None


def node_rrd(sim: SimState, ctx: Ctx) -> Any:
    """GET /nodes/{node}/rrddata (not proxied: RRD data is cluster-wide)."""
    node = sim.cluster.nodes.get(ctx.params["node"])
    if node is None:
        raise internal(
            f"RRD error: opening '/var/lib/rrdcached/db/pve-node-9.0/{ctx.params['node']}': "
            "No such file or directory"
        )
    return rrd.node_rrd(sim.cluster, node, ctx.params["timeframe"], ctx.params.get("cf", ""))


def guest_list(kind: str, sim: SimState, ctx: Ctx) -> Any:
    """GET /nodes/{node}/qemu|lxc."""
    guests = [g for g in sim.cluster.node_guests(ctx.params["node"]) if g.kind == kind]
    return views.guest_list(sorted(guests, key=lambda g: g.vmid))


def guest_current(kind: str, sim: SimState, ctx: Ctx) -> Any:
    """GET .../{vmid}/status/current."""
    return views_guest.guest_current(_guest(sim, ctx, kind))


def guest_config(kind: str, sim: SimState, ctx: Ctx) -> Any:
    """GET .../{vmid}/config."""
    return views_guest.guest_config(_guest(sim, ctx, kind))


def guest_power(kind: str, action: str, sim: SimState, ctx: Ctx) -> Any:
    """POST .../{vmid}/status/{action}: returns the task UPID."""
    return guest_action(sim, ctx.identity.user, _guest(sim, ctx, kind), action)


def guest_rrd(kind: str, sim: SimState, ctx: Ctx) -> Any:
    """GET .../{vmid}/rrddata (not proxied)."""
    guest = sim.cluster.guests.get(ctx.params["vmid"])
    if guest is None or guest.kind != kind:
        raise internal(
            f"RRD error: opening '/var/lib/rrdcached/db/pve-vm-9.0/{ctx.params['vmid']}': "
            "No such file or directory"
        )
    return rrd.guest_rrd(sim.cluster, guest, ctx.params["timeframe"], ctx.params.get("cf", ""))


def agent(command: str, sim: SimState, ctx: Ctx) -> Any:
    """GET/POST /nodes/{node}/qemu/{vmid}/agent/{command}."""
    guest = _guest(sim, ctx, "qemu")
    if not guest.agent:
        raise internal("No QEMU guest agent configured")
    if not guest.running:
        raise internal(f"VM {guest.vmid} is not running")
    if not guest.agent_running:
        raise internal("QEMU guest agent is not running")
    return {"result": _agent_result(guest, command)}


def _agent_result(guest: Guest, command: str) -> Any:
    if command == "get-host-name":
        return {"host-name": guest.name}
    if command == "get-osinfo":
        return {
            "id": "debian", "name": "Debian GNU/Linux", "machine": "x86_64",
            "pretty-name": "Debian GNU/Linux 12 (bookworm)", "version": "12 (bookworm)",
            "version-id": "12", "kernel-release": "6.1.0-40-amd64",
            "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.153-1 (2025-09-20)",
        }
    if command == "network-get-interfaces":
        stats = {
            "rx-bytes": guest.netin, "rx-dropped": 0, "rx-errs": 0,
            "rx-packets": guest.netin // 900, "tx-bytes": guest.netout, "tx-dropped": 0,
            "tx-errs": 0, "tx-packets": guest.netout // 900,
        }
        return [
            {
                "name": "lo", "hardware-address": "00:00:00:00:00:00", "statistics": stats,
                "ip-addresses": [
                    {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
                    {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128},
                ],
            },
            {
                "name": "ens18", "hardware-address": guest.mac.lower(), "statistics": stats,
                "ip-addresses": [
                    {"ip-address": guest.ip, "ip-address-type": "ipv4", "prefix": 24},
                    {"ip-address": f"fe80::be24:11ff:fe{guest.vmid % 256:02x}:1",
                     "ip-address-type": "ipv6", "prefix": 64},
                ],
            },
        ]
    if command == "info":
        return {"version": "7.2.19", "supported_commands": []}
    return {}


def tasks_list(sim: SimState, ctx: Ctx) -> Any:
    """GET /nodes/{node}/tasks."""
    data, total = sim.tasks.listing(ctx.params["node"], ctx.params)
    return Result(data, total)


def task_status(sim: SimState, ctx: Ctx) -> Any:
    """GET /nodes/{node}/tasks/{upid}/status."""
    return sim.tasks.status(sim.tasks.lookup(ctx.params["node"], ctx.params["upid"]))


def task_log(sim: SimState, ctx: Ctx) -> Any:
    """GET /nodes/{node}/tasks/{upid}/log."""
    task = sim.tasks.lookup(ctx.params["node"], ctx.params["upid"])
    start, limit = ctx.params.get("start", 0), ctx.params.get("limit", 50)
    lines = [{"n": i + 1, "t": text} for i, text in enumerate(task.log)]
    return Result(lines[start : start + limit], len(lines))


def task_stop(sim: SimState, ctx: Ctx) -> Any:
    """DELETE /nodes/{node}/tasks/{upid}."""
    sim.tasks.stop(sim.tasks.lookup(ctx.params["node"], ctx.params["upid"]))
    return None


def _storage(sim: SimState, ctx: Ctx) -> tuple[Node, Any]:
    node = _node(sim, ctx)
    for storage in sim.cluster.storages:
        if storage.storage == ctx.params["storage"] and storage.enabled_on(node.name):
            return node, storage
    raise internal(f"storage '{ctx.params['storage']}' does not exist")


def node_storage(sim: SimState, ctx: Ctx) -> Any:
    """GET /nodes/{node}/storage."""
    return views.node_storage(sim.cluster, _node(sim, ctx), ctx.params)


def storage_status(sim: SimState, ctx: Ctx) -> Any:
    """GET /nodes/{node}/storage/{storage}/status."""
    node, storage = _storage(sim, ctx)
    return views.storage_status(sim.cluster, storage, node)


def download_url(sim: SimState, ctx: Ctx) -> Any:
    """POST /nodes/{node}/storage/{storage}/download-url: a 'download' task."""
    node, storage = _storage(sim, ctx)
    if ctx.params["content"] not in storage.content.split(","):
        raise internal(f"storage '{storage.storage}' does not support '{ctx.params['content']}'")
    return sim.tasks.start(
        node.name, "download", ctx.params["filename"], ctx.identity.user,
        sim.settings.task_seconds * 2, lambda: None,
    )


def storage_index(sim: SimState, ctx: Ctx) -> Any:
    """GET /storage."""
    return views.storage_index(sim.cluster, ctx.params.get("type"))


def wakeonlan(sim: SimState, ctx: Ctx) -> Any:
    """POST /nodes/{node}/wakeonlan: runs on the local node, returns the target's MAC."""
    name = ctx.params["node"]
    if name in ("localhost", sim.cluster.local):
        raise internal(f"'{name}' is local node, cannot wake my self!")
    node = sim.cluster.nodes.get(name)
    if node is None:
        raise internal(f"no such cluster node '{name}'")
    wake(sim, node)
    return node.mac


def disks_list(sim: SimState, ctx: Ctx) -> Any:
    """GET /nodes/{node}/disks/list."""
    return disks.disk_list(sim.hosts[ctx.params["node"]].disks, ctx.params)


def disks_smart(sim: SimState, ctx: Ctx) -> Any:
    """GET /nodes/{node}/disks/smart?disk=/dev/...: SMART health and attributes."""
    if not disks.DISK_PATH.match(ctx.params["disk"]):
        raise ParamError({"disk": "value does not match the regex pattern"})
    host = sim.hosts[ctx.params["node"]]
    temp = int(12.0 + host.thermal.package * 0.55)
    return disks.smart(host.disks, ctx.params["disk"], ctx.params.get("healthonly", False), temp)


def login(sim: SimState, ctx: Ctx) -> Any:
    """POST /access/ticket (password login; no auth needed)."""
    username = ctx.params["username"]
    if ctx.params.get("realm") and "@" not in username:
        username = f"{username}@{ctx.params['realm']}"
    return sim.auth.login(username, ctx.params["password"], sim.cluster.name)


def build_router() -> Router:
    """All implemented methods; anything else answers 501 like PVE."""
    n, gq = "/nodes/{node}", "/nodes/{node}/qemu/{vmid}"
    vm_audit = ("/vms/{vmid}", "VM.Audit")
    routes = [
        Route("GET", "/version", version),
        Route("GET", "/cluster/status", cluster_status, perm=("/", "Sys.Audit")),
        Route("GET", "/cluster/resources", cluster_resources,
              {"type": P(enum=("vm", "storage", "node", "sdn", "pool"))}),
        Route("GET", "/cluster/nextid", cluster_nextid, {"vmid": VMID_OPT}),
        Route("GET", "/cluster/tasks", cluster_tasks),
        Route("GET", "/nodes", nodes_index),
        Route("GET", f"{n}/status", node_status, {"node": NODE}, True, ("/nodes/{node}", "Sys.Audit")),
        Route("POST", f"{n}/status", node_power,
              {"node": NODE, "command": P(optional=False, enum=("reboot", "shutdown"))},
              True, ("/nodes/{node}", "Sys.PowerMgmt")),
        Route("GET", f"{n}/rrddata", node_rrd, {"node": NODE, "timeframe": TIMEFRAME, "cf": CF},
              perm=("/nodes/{node}", "Sys.Audit")),
        Route("POST", f"{n}/wakeonlan", wakeonlan, {"node": NODE},
              perm=("/nodes/{node}", "Sys.PowerMgmt")),
        Route("GET", f"{n}/tasks", tasks_list, {
            "node": NODE, "start": P("integer", minimum=0), "limit": P("integer", minimum=0),
            "userfilter": P(), "typefilter": P(), "vmid": VMID_OPT, "errors": P("boolean"),
            "source": P(enum=("archive", "active", "all")), "since": P("integer"),
            "until": P("integer"), "statusfilter": P(),
        }, True),
        Route("GET", f"{n}/tasks/{{upid}}/status", task_status,
              {"node": NODE, "upid": P(optional=False)}, True),
        Route("GET", f"{n}/tasks/{{upid}}/log", task_log, {
            "node": NODE, "upid": P(optional=False), "start": P("integer", minimum=0),
            "limit": P("integer", minimum=0), "download": P("boolean"),
        }, True),
        Route("DELETE", f"{n}/tasks/{{upid}}", task_stop,
              {"node": NODE, "upid": P(optional=False)}, True),
        Route("GET", f"{n}/storage", node_storage, {
            "node": NODE, "content": P(), "storage": P(), "enabled": P("boolean"),
            "format": P("boolean"), "target": P(),
        }, True),
        Route("GET", f"{n}/storage/{{storage}}/status", storage_status,
              {"node": NODE, "storage": STORAGE}, True, ("/storage/{storage}", "Datastore.Audit")),
        Route("POST", f"{n}/storage/{{storage}}/download-url", download_url, {
            "node": NODE, "storage": STORAGE, "url": P(optional=False),
            "content": P(optional=False, enum=("iso", "vztmpl", "import")),
            "filename": P(optional=False), "checksum": P(), "checksum-algorithm": P(),
            "verify-certificates": P("boolean"), "compression": P(),
        }, True, ("/storage/{storage}", "Datastore.AllocateTemplate")),
        Route("GET", f"{n}/disks/list", disks_list, {
            "node": NODE, "skipsmart": P("boolean"), "include-partitions": P("boolean"),
            "type": P(enum=("unused", "journal_disks")),
        }, True, ("/", "Sys.Audit")),
        Route("GET", f"{n}/disks/smart", disks_smart,
              {"node": NODE, "disk": P(optional=False), "healthonly": P("boolean")}, True, ("/", "Sys.Audit")),
        Route("GET", "/storage", storage_index, {"type": P()}),
        Route("POST", "/access/ticket", login, {
            "username": P(optional=False), "password": P(optional=False), "realm": P(),
            "otp": P(), "path": P(), "privs": P(), "new-format": P("boolean"),
            "tfa-challenge": P(),
        }),
    ]
    for kind in ("qemu", "lxc"):
        g = f"/nodes/{{node}}/{kind}/{{vmid}}"
        ids = {"node": NODE, "vmid": VMID}
        routes += [
            Route("GET", f"{n}/{kind}", partial(guest_list, kind),
                  {"node": NODE, "full": P("boolean")}, True),
            Route("GET", f"{g}/status/current", partial(guest_current, kind), ids, True, vm_audit),
            Route("GET", f"{g}/config", partial(guest_config, kind),
                  {**ids, "current": P("boolean"), "snapshot": P()}, True, vm_audit),
            Route("GET", f"{g}/rrddata", partial(guest_rrd, kind),
                  {**ids, "timeframe": TIMEFRAME, "cf": CF}, perm=vm_audit),
        ]
        extra = {"skiplock": P("boolean"), "timeout": P("integer", minimum=0),
                 "forceStop": P("boolean"), "keepActive": P("boolean")}
        for action in QEMU_ACTIONS if kind == "qemu" else LXC_ACTIONS:
            routes.append(Route("POST", f"{g}/status/{action}", partial(guest_power, kind, action),
                                {**ids, **extra}, True, ("/vms/{vmid}", "VM.PowerMgmt")))
    agent_perm = ("/vms/{vmid}", "VM.GuestAgent.Audit")
    for command in AGENT_GET:
        routes.append(Route("GET", f"{gq}/agent/{command}", partial(agent, command),
                            {"node": NODE, "vmid": VMID}, True, agent_perm))
    routes.append(Route("POST", f"{gq}/agent/ping", partial(agent, "ping"),
                        {"node": NODE, "vmid": VMID}, True, agent_perm))
    return Router(routes)


def check_perm(route: Route, params: dict[str, Any], identity: Identity) -> None:
    """Raise 403 if the identity lacks the route's privilege."""
    if route.perm is None:
        return
    path, privilege = route.perm
    if not identity.has(privilege):
        raise perm_error(path.format(**params), privilege)
