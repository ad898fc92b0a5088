"""Command topics on guests and nodes, mapped onto the Proxmox tools."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jarvis.core import Command, ToolError
from jarvis.plugins.proxmox.kinds import GUEST_VERBS, NODE_VERBS

_SET_STATES = {"running": "guest_start", "on": "guest_start", "stopped": "guest_shutdown",
               "off": "guest_shutdown"}


_VMID = re.compile(r"^[1-9][0-9]{0,8}$", re.ASCII)
_NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$", re.ASCII)


def _vmid(ids: tuple[str, ...]) -> int:
    """Return the vmid of a guest topic: canonical ASCII digits only (no ``000108``, no ``١٠٨``)."""
    text = ids[0] if ids else ""
    if not _VMID.match(text):
        raise ToolError("invalid_args", "the guest id in the topic is not a vmid (ASCII digits, no leading zero)")
    return int(text)


def _plain(payload: Any, allowed: Any) -> str:
    """Return a plain-text payload, lowercased, checked against ``allowed``."""
    choices = ", ".join(allowed)
    if not isinstance(payload, str):
        raise ToolError("invalid_args", f"expected plain text, one of: {choices}")
    word = payload.strip().strip('"').lower()
    if word not in allowed:
        raise ToolError("invalid_args", f"unknown action; use one of: {choices}")
    return word


def guest_set(ids: tuple[str, ...], payload: Any) -> tuple[str, dict[str, Any]]:
    """``guest/<vmid>/set``: ``{"state": "running"|"stopped"}`` or plain ``ON``/``OFF``."""
    vmid = _vmid(ids)
    if isinstance(payload, Mapping):
        state = payload.get("state")
        if not isinstance(state, str) or state.lower() not in ("running", "stopped"):
            raise ToolError("invalid_args", 'expected {"state": "running"} or {"state": "stopped"}')
        return _SET_STATES[state.lower()], {"vmid": vmid}
    if isinstance(payload, str) and payload.strip().lower() in ("on", "off"):
        return _SET_STATES[payload.strip().lower()], {"vmid": vmid}
    raise ToolError("invalid_args", 'expected plain ON/OFF or {"state": "running"|"stopped"}')


def guest_action(ids: tuple[str, ...], payload: Any) -> tuple[str, dict[str, Any]]:
    """``guest/<vmid>/action``: plain start, shutdown, stop, reboot, reset, suspend, resume."""
    vmid = _vmid(ids)
    return f"guest_{_plain(payload, GUEST_VERBS)}", {"vmid": vmid}


def node_action(ids: tuple[str, ...], payload: Any) -> tuple[str, dict[str, Any]]:
    """``node/<node>/action``: plain wake, reboot, shutdown."""
    node = ids[0] if ids else ""
    if not _NODE.match(node):
        raise ToolError("invalid_args", "the node name in the topic is not a node name (ASCII letters, digits, -)")
    return NODE_VERBS[_plain(payload, tuple(NODE_VERBS))], {"node": node}


def build_commands() -> list[Command]:
    """Return the Proxmox command topics."""
    return [
        Command(kind="guest", verb="set", to_call=guest_set),
        Command(kind="guest", verb="action", to_call=guest_action),
        Command(kind="node", verb="action", to_call=node_action),
    ]
