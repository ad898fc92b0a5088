"""Proxmox tools: read the cluster, power guests and nodes, follow tasks to the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from jarvis.core import PluginContext, Risk, Target, Tool, ToolCall, ToolError
from jarvis.plugins.proxmox.client import PveError
from jarvis.plugins.proxmox.coordinator import Coordinator
from jarvis.plugins.proxmox.entities import (
    cluster_data,
    guest_counts,
    guest_data,
    guest_rows,
    node_data,
    storage_data,
    storage_map,
)
from jarvis.plugins.proxmox.models import parse_cluster_resources, parse_node_status
from jarvis.plugins.proxmox.tasks import TaskStatus, parse_task_status, parse_upid, task_path
from jarvis.plugins.proxmox.toolkit import (
    GUEST_ACTIONS,
    GuestAction,
    NoArgs,
    NodeArgs,
    VmidArgs,
    guest_status_data,
    pve_errors,
)
from pydantic import BaseModel, ConfigDict, Field

GetCoordinator = Callable[[], Coordinator]


class ResourcesArgs(BaseModel):
    """Optional filter of cluster_resources."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["vm", "node", "storage"] | None = Field(None, description="only this kind")


class StorageArgs(BaseModel):
    """Optional node filter of storage_list."""

    model_config = ConfigDict(extra="forbid")
    node: str | None = Field(None, description="only storage on this node")


class GuestListArgs(BaseModel):
    """Filters of guest_list."""

    model_config = ConfigDict(extra="forbid")
    node: str | None = None
    status: str | None = Field(None, description="running, stopped, paused, unknown")
    type: Literal["qemu", "lxc"] | None = None
    tag: str | None = None
    include_templates: bool = False
    limit: int = Field(500, ge=1, le=10000)


class TaskArgs(BaseModel):
    """A task id as returned by an action."""

    model_config = ConfigDict(extra="forbid")
    upid: str = Field(..., description="UPID:node:...:user:")


@dataclass
class ProxmoxTools:
    """The handlers, bound to one plugin instance's coordinator."""

    ctx: PluginContext
    coordinator: GetCoordinator

    # -- reads -------------------------------------------------------------------------------

    async def cluster_status(self, args: NoArgs, call: ToolCall) -> Any:
        """Return the cluster entity and every node's state."""
        with pve_errors():
            coord = self.coordinator()
            model = await coord.ensure_model(max_age_s=coord.config.intervals.fast_s * 2)
        counts = guest_counts(model)
        self._freshness(call)
        return {
            "cluster": cluster_data(model),
            "nodes": [node_data(model, n, counts) for n in model.node_names()],
        }

    async def cluster_resources(self, args: ResourcesArgs, call: ToolCall) -> Any:
        """Return a live /cluster/resources, parsed."""
        coord = self.coordinator()
        with pve_errors():
            params = {"type": args.type} if args.type else {}
            parsed = parse_cluster_resources(await coord.get("cluster/resources", **params))
        return {
            "nodes": [vars_of(n) for n in parsed.nodes.values()],
            "guests": list(parsed.guests.rows.values()),
            "storage": [
                {**vars_of(s), "used_pct": s.used_pct} for s in parsed.storage.values()
            ],
        }

    async def node_detail(self, args: NodeArgs, call: ToolCall) -> Any:
        """Return a live /nodes/{node}/status merged with the node's cluster view."""
        coord = self.coordinator()
        with pve_errors():
            model = await coord.ensure_model()
            self._check_node(args.node)
            status = parse_node_status(await coord.get(f"nodes/{args.node}/status"))
        model.node_detail[args.node] = status
        return {**node_data(model, args.node, guest_counts(model)), "detail": vars_of(status)}

    async def storage_list(self, args: StorageArgs, call: ToolCall) -> Any:
        """Return storage entities (from the last polls), optionally of one node."""
        coord = self.coordinator()
        with pve_errors():
            model = await coord.ensure_model()
        if args.node is not None:
            self._check_node(args.node)
        self._freshness(call)
        return [
            storage_data(model, item)
            for (node, _name), item in sorted(storage_map(model).items())
            if args.node is None or node == args.node
        ]

    async def guest_list(self, args: GuestListArgs, call: ToolCall) -> Any:
        """Return guests from the last poll, filtered."""
        coord = self.coordinator()
        with pve_errors():
            model = await coord.ensure_model()
        rows = []
        for data in guest_rows(model):
            if (
                (args.node and data["node"] != args.node)
                or (args.status and data["status"] != args.status)
                or (args.type and data["type"] != args.type)
                or (args.tag and args.tag not in data["tags"])
                or (data["template"] and not args.include_templates)
            ):
                continue
            rows.append(data)
        self._freshness(call)
        return {"count": len(rows), "guests": rows[: args.limit], "truncated": len(rows) > args.limit}

    async def guest_status(self, args: VmidArgs, call: ToolCall) -> Any:
        """Return a guest's live status/current."""
        coord = self.coordinator()
        with pve_errors():
            guest = await self._locate(args.vmid)
            data = await coord.get(f"nodes/{guest['node']}/{guest['type']}/{args.vmid}/status/current")
        return guest_status_data(coord.model, data, guest["type"], guest["node"])

    async def task_status(self, args: TaskArgs, call: ToolCall) -> Any:
        """Return a task's status (node taken from the UPID, which is checked strictly first)."""
        try:
            upid = parse_upid(args.upid)
        except ValueError as error:
            raise ToolError("invalid_args", str(error)) from None
        with pve_errors():
            data = await self.coordinator().get(task_path(upid.node, args.upid))
        return vars_of(parse_task_status(data, upid=args.upid))

    # -- actions -----------------------------------------------------------------------------

    async def guest_action(self, action: GuestAction, args: VmidArgs, call: ToolCall) -> Any:
        """Run one power action on a guest and follow its task to the end."""
        coord = self.coordinator()
        with pve_errors():
            guest = await self._locate(args.vmid)
            kind, node = guest["type"], guest["node"]
            if action.kinds and kind not in action.kinds:
                raise ToolError("invalid_args", f"{action.verb} is not supported for {kind}")
            if guest["template"]:
                raise ToolError("conflict", f"guest {args.vmid} is a template; it cannot run")
            live = await coord.refresh_guest(args.vmid, kind, node)
            status = (live or guest)["status"]
            if action.refuse_if and status in action.refuse_if:
                raise ToolError("conflict", f"guest {args.vmid} is already {status}")
            upid = await coord.post(f"nodes/{node}/{kind}/{args.vmid}/status/{action.verb}")
            result = await self._follow(node, upid, call, action.timeout_s)
        try:
            await coord.refresh_guest(args.vmid, kind, node)
        except PveError:
            pass  # the action succeeded; the next poll will show the state
        self._wake("cluster")
        return {**result, "guest": guest_data(coord.model, coord.model.resources.guests[args.vmid])}

    async def node_power(self, command: str, args: NodeArgs, call: ToolCall) -> Any:
        """Reboot or shut down a node (PVE answers at once; there is no task to follow)."""
        coord = self.coordinator()
        with pve_errors():
            await coord.ensure_model()
            self._check_node(args.node)
            if not coord.model.node_online(args.node):
                raise ToolError("conflict", f"node {args.node} is offline")
            upid = await coord.post(f"nodes/{args.node}/status", command=command)
            result = await self._follow(args.node, upid, call, 60.0)
        self._wake("cluster", "nodes")
        return result

    async def node_wake(self, args: NodeArgs, call: ToolCall) -> Any:
        """Wake an offline node: PVE's wakeonlan through an online node, else a magic packet."""
        try:
            return await self._wake_through_pve(args.node)
        except ToolError as exc:
            if exc.code in ("conflict", "not_found", "invalid_args"):
                raise
            reason = exc.message
        # The cluster could not do it (no node left online, or PVE refused): the network
        # plugin knows the node's MAC when a host entry is named like the node.
        if not self.ctx.has_tool("network.wake"):
            raise ToolError("unreachable", f"{reason}; configure plugins.network.hosts.{args.node}.mac "
                            "to wake it with a magic packet")
        reply = await self.ctx.call_tool("network.wake", {"host": args.node}, source=call.source)
        if reply["status"] != "ok":
            error = reply.get("error") or {"code": "upstream_error", "message": str(reply)}
            raise ToolError(error["code"], f"{reason}; magic packet: {error['message']}")
        self._wake("cluster", "nodes")
        return {"upid": None, "status": "sent", "exitstatus": None, "node": args.node, "via": "network.wake",
                "mac": reply["data"].get("mac")}

    async def _wake_through_pve(self, node: str) -> Any:
        coord = self.coordinator()
        with pve_errors():
            model = await coord.ensure_model()
            self._check_node(node)
            if model.node_online(node):
                raise ToolError("conflict", f"node {node} is already online")
            helpers = [n for n in model.node_names() if n != node and model.node_online(n)]
            if not helpers:
                raise ToolError("unreachable", "no online node is left to send Wake-on-LAN from")
            mac = await coord.post(f"nodes/{node}/wakeonlan")
        self._wake("cluster", "nodes")
        return {"upid": None, "status": "sent", "exitstatus": None, "node": node, "via": "pve", "mac": mac}

    # -- helpers -----------------------------------------------------------------------------

    async def _locate(self, vmid: int) -> Any:
        """Find a guest's node and type: cache first, then a live cluster/resources."""
        coord = self.coordinator()
        model = await coord.ensure_model()
        guest = model.locate(vmid)
        if guest is None:
            fresh = parse_cluster_resources(await coord.get("cluster/resources", type="vm"))
            guest = fresh.guests.get(vmid)
            if guest is not None:
                model.resources.guests[vmid] = guest
        if guest is None:
            raise ToolError("not_found", f"no guest with vmid {vmid} in the cluster")
        return guest

    def _check_node(self, node: str) -> None:
        model = self.coordinator().model
        if model.has_data and node not in model.node_names():
            known = ", ".join(model.node_names())
            raise ToolError("not_found", f"no node named {node!r} (nodes: {known})")

    async def _follow(self, node: str, upid: Any, call: ToolCall, timeout_s: float) -> dict:
        """Poll a task until it stops; report progress; raise on failure or timeout."""
        if not isinstance(upid, str) or not upid.startswith("UPID:"):
            return {"upid": None, "status": "requested", "exitstatus": None}
        coord = self.coordinator()
        started = time.monotonic()
        delay = 0.1
        try:
            parse_upid(upid)
        except ValueError:
            return {"upid": None, "status": "requested", "exitstatus": None}
        while True:
            data = await coord.get(task_path(node, upid))
            task: TaskStatus = parse_task_status(data, upid=upid)
            elapsed = round(time.monotonic() - started, 2)
            call.progress({"upid": upid, "status": task.status, "elapsed_s": elapsed})
            if not task.running:
                break
            if elapsed > timeout_s:
                raise ToolError("timeout", f"task {upid} still running after {elapsed:g} s; "
                                "follow it with proxmox.task_status")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        if not task.ok:
            raise ToolError("upstream_error", f"task {upid} failed: {task.exitstatus}")
        return {"upid": upid, "status": task.status, "exitstatus": task.exitstatus}

    def _freshness(self, call: ToolCall) -> None:
        """Say how old the cluster view behind a cached answer is (stale while PVE is unreachable)."""
        coord = self.coordinator()
        call.report_freshness(coord.fast_as_of, not coord.fast_ok)

    def _wake(self, *sources: str) -> None:
        """Ask the hub to poll these sources now, so retained state follows the action."""
        if self.coordinator().client is not None:  # without a client no source is registered
            self.ctx.wake_sources(*sources)


def vars_of(obj: Any) -> dict[str, Any]:
    """Return a slotted dataclass's fields as a dict."""
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def build_tools(ctx: PluginContext, coordinator: GetCoordinator) -> list[Tool]:
    """Return every Proxmox tool bound to one plugin instance."""
    impl = ProxmoxTools(ctx, coordinator)
    guest_target: Callable[[Any], Target] = lambda a: Target("guest", str(a.vmid))  # noqa: E731
    node_target: Callable[[Any], Target] = lambda a: Target("node", a.node)  # noqa: E731
    tools = [
        Tool(name="cluster_status", description="Cluster quorum, node states and resource "
             "totals.", args=NoArgs, risk=Risk.READ, handler=impl.cluster_status),
        Tool(name="cluster_resources", description="Live list of nodes, guests and storage "
             "(optionally one type).", args=ResourcesArgs, risk=Risk.READ,
             handler=impl.cluster_resources),
        Tool(name="node_detail", description="Live status of one node: load, versions, memory, "
             "CPU model.", args=NodeArgs, risk=Risk.READ, handler=impl.node_detail),
        Tool(name="storage_list", description="Storage usage per node.", args=StorageArgs,
             risk=Risk.READ, handler=impl.storage_list),
        Tool(name="guest_list", description="VMs and containers with status and usage; filter "
             "by node, status, type or tag.", args=GuestListArgs, risk=Risk.READ,
             handler=impl.guest_list),
        Tool(name="guest_status", description="Live status of one guest by vmid.", args=VmidArgs,
             risk=Risk.READ, handler=impl.guest_status, target=guest_target),
        Tool(name="task_status", description="Status of a PVE task by UPID.", args=TaskArgs,
             risk=Risk.READ, handler=impl.task_status),
    ]
    for action in GUEST_ACTIONS:
        async def handler(args: VmidArgs, call: ToolCall, action: GuestAction = action) -> Any:
            return await impl.guest_action(action, args, call)

        tools.append(Tool(
            name=f"guest_{action.verb}", description=action.description, args=VmidArgs,
            risk=action.risk, handler=handler, target=guest_target,
            disruptive=action.disruptive, timeout_s=action.timeout_s + 15,
        ))
    for command in ("reboot", "shutdown"):
        async def node_handler(args: NodeArgs, call: ToolCall, command: str = command) -> Any:
            return await impl.node_power(command, args, call)

        tools.append(Tool(
            name=f"node_{command}", description=f"{command.capitalize()} a Proxmox node (all its "
            "guests go down with it).", args=NodeArgs, risk=Risk.DANGEROUS, handler=node_handler,
            target=node_target, disruptive=True, timeout_s=90.0,
        ))
    tools.append(Tool(
        name="node_wake", description="Wake an offline node with Wake-on-LAN (sent by an online "
        "node).", args=NodeArgs, risk=Risk.WRITE, handler=impl.node_wake, target=node_target,
    ))
    return tools

