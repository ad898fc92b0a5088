"""Worker tasks with real-format UPIDs, as PVE's fork_worker creates them.

UPID format (pve-common): UPID:node:PID:PSTART:STARTTIME:type:id:user: with PID, PSTART and
STARTTIME as 8 upper-case hex digits; `user` is the full token id for token requests.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ParamError
from .model import Cluster

UPID_RE = re.compile(
    r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
    r"([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$"
)

# The action runs when the task ends; it returns None for "OK" or an error text.
Action = Callable[[], "str | None"]


@dataclass
class Task:
    """One worker task and its outcome."""

    upid: str
    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str
    status: str = "running"
    exitstatus: str | None = None
    endtime: int | None = None
    log: list[str] = field(default_factory=list)
    handle: asyncio.TimerHandle | None = None
    action: Action | None = None

    def decoded(self) -> dict[str, Any]:
        """Return the fields PVE's upid_decode yields, with a token split into user/tokenid."""
        data: dict[str, Any] = {
            "upid": self.upid,
            "node": self.node,
            "pid": self.pid,
            "pstart": self.pstart,
            "starttime": self.starttime,
            "type": self.type,
            "id": self.id,
            "user": self.user,
        }
        if "!" in self.user:
            data["user"], data["tokenid"] = self.user.split("!", 1)
        return data


class TaskManager:
    """Creates, finishes and lists tasks; keeps finished ones as the node's task archive."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.tasks: dict[str, Task] = {}
        self.archive: dict[str, list[Task]] = {name: [] for name in cluster.nodes}

    def _new(self, node: str, type_: str, id_: str, user: str, starttime: int) -> Task:
        rng = self.cluster.rng_events
        pid = rng.randrange(1000, 4_000_000)
        uptime = self.cluster.nodes[node].uptime if node in self.cluster.nodes else 1000
        pstart = uptime * 100 + rng.randrange(100)
        upid = f"UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{type_}:{id_}:{user}:"
        return Task(upid, node, pid, pstart, starttime, type_, id_, user)

    def start(
        self, node: str, type_: str, id_: str, user: str, seconds: float, action: Action
    ) -> str:
        """Start a task that finishes after `seconds` by running `action`; return its UPID."""
        task = self._new(node, type_, id_, user, int(time.time()))
        task.action = action
        task.log.append(f"starting task {task.upid}")
        self.tasks[task.upid] = task
        loop = asyncio.get_running_loop()
        task.handle = loop.call_later(max(0.0, seconds), self._finish, task, None)
        return task.upid

    def _finish(self, task: Task, forced: str | None) -> None:
        if task.status != "running":
            return
        if forced is not None:
            error: str | None = forced
        else:
            try:
                error = task.action() if task.action else None
            except Exception as exc:  # a bug in an action must not kill the loop
                error = f"internal simulator error: {exc}"
        task.status = "stopped"
        task.endtime = int(time.time())
        task.exitstatus = "OK" if error is None else error.rstrip("\n")
        task.log.append("TASK OK" if error is None else f"TASK ERROR: {task.exitstatus}")
        self.archive.setdefault(task.node, []).append(task)
        self.cluster.changed()

    def stop(self, task: Task) -> None:
        """Abort a running task as DELETE /nodes/{node}/tasks/{upid} does."""
        if task.handle is not None:
            task.handle.cancel()
        self._finish(task, "interrupted by signal")

    def add_history(self, node: str, type_: str, id_: str, starttime: int, status: str) -> None:
        """Record an already finished task (used to seed a believable task archive)."""
        task = self._new(node, type_, id_, "root@pam", starttime)
        task.status, task.exitstatus = "stopped", status
        task.endtime = starttime + self.cluster.rng_events.randrange(5, 900)
        task.log = ["TASK OK" if status == "OK" else f"TASK ERROR: {status}"]
        self.tasks[task.upid] = task
        self.archive.setdefault(node, []).append(task)

    def lookup(self, node: str, upid: str) -> Task:
        """Find the task `upid` on `node` or raise PVE's parameter errors."""
        if not UPID_RE.match(upid):
            raise ParamError({"upid": "unable to parse worker upid"})
        task = self.tasks.get(upid)
        if task is None or task.node != node:
            raise ParamError({"upid": "no such task"})
        return task

    def status(self, task: Task) -> dict[str, Any]:
        """Return GET /nodes/{node}/tasks/{upid}/status."""
        data = task.decoded()
        data["status"] = task.status
        if task.status == "stopped":
            data["exitstatus"] = task.exitstatus
        return data

    def listing(self, node: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """Return GET /nodes/{node}/tasks (newest first) and the `total` attribute."""
        source = params.get("source", "archive")
        candidates: list[Task] = []
        if source in ("active", "all"):
            candidates += [t for t in self.tasks.values() if t.node == node and t.status == "running"]
        if source != "active":
            candidates += list(reversed(self.archive.get(node, [])))
        start, limit = int(params.get("start", 0)), int(params.get("limit", 50))
        wanted_status = _status_filter(params)
        out: list[dict[str, Any]] = []
        count = 0
        for task in candidates:
            entry = task.decoded()
            if params.get("userfilter") and params["userfilter"].lower() not in task.user.lower():
                continue
            if params.get("typefilter") and task.type != params["typefilter"]:
                continue
            if params.get("vmid") and task.id != str(params["vmid"]):
                continue
            if "since" in params and task.starttime < int(params["since"]):
                continue
            if "until" in params and task.starttime > int(params["until"]):
                continue
            kind = _normalize(task.exitstatus)
            if kind not in wanted_status:
                continue
            count += 1
            if count <= start or len(out) >= limit:
                continue
            if task.status == "running":
                entry["status"] = "RUNNING"
            else:
                entry["status"] = task.exitstatus
                entry["endtime"] = task.endtime
            out.append(entry)
        return out, count


def _normalize(exitstatus: str | None) -> str:
    if exitstatus is None:
        return "unknown"
    if exitstatus == "OK":
        return "ok"
    if exitstatus.startswith("WARNINGS"):
        return "warning"
    return "error"


def _status_filter(params: dict[str, Any]) -> set[str]:
    if params.get("errors") in (True, 1, "1"):
        return {"warning", "error", "unknown"}
    if params.get("statusfilter"):
        return {s.strip().lower() for s in str(params["statusfilter"]).split(",")}
    return {"ok", "warning", "error", "unknown"}


def seed_history(manager: TaskManager, now: int) -> None:
    """Give every node a short, believable archive: nightly backups and guest starts."""
    rng = manager.cluster.rng_events
    for node in manager.cluster.nodes.values():
        for day in (3, 2, 1):
            status = "OK" if rng.random() > 0.15 else "job errors"
            manager.add_history(node.name, "vzdump", "", now - day * 86400 - 3600, status)
        for guest in manager.cluster.node_guests(node.name)[:3]:
            if guest.running:
                kind = "qmstart" if guest.kind == "qemu" else "vzstart"
                manager.add_history(node.name, kind, str(guest.vmid), now - guest.uptime, "OK")
        manager.archive[node.name].sort(key=lambda t: t.starttime)
