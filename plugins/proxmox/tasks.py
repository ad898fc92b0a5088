"""PVE tasks: UPID parsing and task status answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jarvis.plugins.proxmox.convert import as_int, opt_str


@dataclass(frozen=True, slots=True)
class Upid:
    """The parts of a task id ``UPID:node:pid:pstart:starttime:type:id:user:``."""

    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str


def parse_upid(upid: str) -> Upid:
    """Split a UPID; raise ValueError when it is not one."""
    parts = str(upid).split(":")
    if len(parts) < 8 or parts[0] != "UPID" or not parts[1]:
        raise ValueError(f"{upid!r} is not a task id (UPID:node:pid:pstart:start:type:id:user:)")
    try:
        return Upid(
            node=parts[1],
            pid=int(parts[2], 16),
            pstart=int(parts[3], 16),
            starttime=int(parts[4], 16),
            type=parts[5],
            id=parts[6],
            user=parts[7],
        )
    except ValueError:
        raise ValueError(f"{upid!r} has non-hex pid/pstart/starttime fields") from None


@dataclass(slots=True)
class TaskStatus:
    """/nodes/{node}/tasks/{upid}/status: ``status`` is running or stopped."""

    upid: str
    node: str | None
    status: str
    exitstatus: str | None = None
    type: str | None = None
    id: str | None = None
    user: str | None = None
    starttime: int | None = None
    endtime: int | None = None

    @property
    def running(self) -> bool:
        """Return True while the task has not ended."""
        return self.status == "running"

    @property
    def ok(self) -> bool:
        """Return True when the task ended well (``OK``, or only warnings)."""
        exit_text = self.exitstatus or ""
        return not self.running and (exit_text == "OK" or exit_text.startswith("WARNINGS"))


def parse_task_status(data: Mapping[str, Any] | None, *, upid: str = "") -> TaskStatus:
    """Parse a task status answer."""
    data = data or {}
    return TaskStatus(
        upid=str(data.get("upid") or upid),
        node=opt_str(data.get("node")),
        status=str(data.get("status") or "unknown"),
        exitstatus=opt_str(data.get("exitstatus")),
        type=opt_str(data.get("type")),
        id=opt_str(data.get("id")),
        user=opt_str(data.get("user")),
        starttime=as_int(data.get("starttime")),
        endtime=as_int(data.get("endtime")),
    )
