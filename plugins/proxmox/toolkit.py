"""Shared pieces of the Proxmox tools: argument models, the action table, error mapping."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from jarvis.core import Risk, ToolError
from jarvis.plugins.proxmox.client import (
    PveAuthError,
    PveError,
    PveNodeOffline,
    PvePermissionError,
    PveUnreachable,
    PveUpstreamError,
)
from jarvis.plugins.proxmox.convert import as_bool
from jarvis.plugins.proxmox.entities import ClusterModel, guest_data
from jarvis.plugins.proxmox.models import parse_guest_status
from pydantic import BaseModel, ConfigDict, Field


class NoArgs(BaseModel):
    """No arguments."""

    model_config = ConfigDict(extra="forbid")


class VmidArgs(BaseModel):
    """One guest, by vmid."""

    model_config = ConfigDict(extra="forbid")
    vmid: int = Field(..., ge=100, le=999_999_999, description="VM or container id, e.g. 101")


class NodeArgs(BaseModel):
    """One node, by name."""

    model_config = ConfigDict(extra="forbid")
    node: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$")


@dataclass(frozen=True)
class GuestAction:
    """One guest power action: its PVE verb, risk and when it makes no sense."""

    verb: str
    description: str
    risk: Risk
    disruptive: bool = False
    refuse_if: frozenset[str] = frozenset()
    kinds: tuple[str, ...] = ()
    timeout_s: float = 60.0


_STOPPED = frozenset({"stopped"})
GUEST_ACTIONS: tuple[GuestAction, ...] = (
    GuestAction("start", "Start a VM or container and wait until it runs.", Risk.WRITE,
                refuse_if=frozenset({"running", "paused"})),
    GuestAction("shutdown", "Gracefully shut down a VM (ACPI) or container.", Risk.WRITE,
                disruptive=True, refuse_if=_STOPPED, timeout_s=200.0),
    GuestAction("suspend", "Pause a VM or freeze a container.", Risk.WRITE, disruptive=True,
                refuse_if=_STOPPED),
    GuestAction("resume", "Resume a paused VM or frozen container.", Risk.WRITE,
                refuse_if=_STOPPED),
    GuestAction("stop", "Hard-stop a guest at once (like pulling the plug).", Risk.DANGEROUS,
                disruptive=True, refuse_if=_STOPPED),
    GuestAction("reboot", "Reboot a guest (clean shutdown, then start).", Risk.DANGEROUS,
                disruptive=True, refuse_if=_STOPPED, timeout_s=200.0),
    GuestAction("reset", "Hard-reset a VM (like the reset button).", Risk.DANGEROUS,
                disruptive=True, refuse_if=_STOPPED, kinds=("qemu",)),
)


def tool_error(error: PveError) -> ToolError:
    """Map a client exception onto the tool error codes."""
    if isinstance(error, PveAuthError | PvePermissionError):
        return ToolError("denied", error.message)
    if isinstance(error, PveNodeOffline):
        return ToolError("unreachable", error.message)
    if isinstance(error, PveUnreachable):
        return ToolError("timeout" if error.timeout else "unreachable", error.message)
    if isinstance(error, PveUpstreamError):
        if error.status_code == 400:
            return ToolError("invalid_args", error.message)
        if "does not exist" in error.message or error.status_code == 404:
            return ToolError("not_found", error.message)
        if "already running" in error.message or "not running" in error.message:
            return ToolError("conflict", error.message)
    return ToolError("upstream_error", error.message)


@contextmanager
def pve_errors() -> Iterator[None]:
    """Turn client exceptions raised in the block into ToolError."""
    try:
        yield
    except PveError as error:
        raise tool_error(error) from None


def guest_status_data(
    model: ClusterModel, data: Mapping[str, Any] | None, kind: str, node: str
) -> dict[str, Any]:
    """Return a guest entity from a live status/current, plus what only that call knows."""
    guest = parse_guest_status(data, kind=kind, node=node)
    if guest is None:
        raise ToolError("upstream_error", "PVE returned no guest status")
    guest = model.set_override(guest)
    data = data or {}
    ha = data.get("ha") or {}
    return {
        **guest_data(model, guest, True),
        "qmpstatus": data.get("qmpstatus"),
        "agent": as_bool(data.get("agent")) if "agent" in data else None,
        "ha_managed": as_bool(ha.get("managed")) if isinstance(ha, Mapping) else False,
        "pid": data.get("pid"),
    }
