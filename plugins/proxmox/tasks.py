"""PVE tasks: UPID parsing and task status answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

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


# PVE's own grammar (PVE::Tools::upid_decode), narrowed to the characters PVE really writes:
# a node name, hex pid/pstart/starttime, a task type, an id (vmid, storage, service...) and the
# user (``root@pam``, ``user@realm!token``). Nothing in it may be a path separator or a query.
UPID_PATTERN = re.compile(
    r"^UPID:(?P<node>[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r":(?P<pid>[0-9A-Fa-f]{8}):(?P<pstart>[0-9A-Fa-f]{8,9}):(?P<starttime>[0-9A-Fa-f]{8})"
    r":(?P<type>[A-Za-z0-9_-]{1,64}):(?P<id>[A-Za-z0-9_.-]{0,128}):(?P<user>[A-Za-z0-9_.@!-]{1,128}):$",
    re.ASCII,
)


def parse_upid(upid: str) -> Upid:
    """Split a UPID; raise ValueError when it is not exactly one (the value itself is not echoed)."""
    match = UPID_PATTERN.match(upid) if isinstance(upid, str) else None
    if match is None:
        raise ValueError("not a task id: expected UPID:node:PID:PSTART:STARTTIME:type:id:user: "
                         "(8 hex digits per number, no other characters)")
    return Upid(
        node=match["node"],
        pid=int(match["pid"], 16),
        pstart=int(match["pstart"], 16),
        starttime=int(match["starttime"], 16),
        type=match["type"],
        id=match["id"],
        user=match["user"],
    )


def task_path(node: str, upid: str) -> str:
    """Return the API path of a task's status; both parts are checked, then percent-encoded."""
    parse_upid(upid)
    return f"nodes/{quote(node, safe='')}/tasks/{quote(upid, safe=':@!')}/status"


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
