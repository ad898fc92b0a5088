"""Parsers for the remote tools' output (systemctl, apt), kept apart so they are easy to test."""

from __future__ import annotations

import re
from typing import Any

SHOW_PROPERTIES = "LoadState,ActiveState,SubState,UnitFileState,Description,MainPID"

# systemd's ActiveState folded into the four states callers act on.
_STATES = {
    "active": "active",
    "reloading": "active",
    "inactive": "inactive",
    "activating": "inactive",  # not serving yet
    "deactivating": "inactive",
    "failed": "failed",
}
_NO_SYSTEMD = ("has not been booted with systemd", "failed to connect to bus")
_NO_UNIT = re.compile(r"unit \S+ (not found|could not be found|not loaded)", re.IGNORECASE)
_APT_LINE = re.compile(
    r"^(?P<name>[^/\s]+)/(?P<suite>\S+)\s+(?P<version>\S+)\s+(?P<arch>\S+)"
    r"(?:\s+\[upgradable from:\s*(?P<from>[^\]]+)\])?"
)


def service_show(text: str) -> dict[str, Any]:
    """Turn ``systemctl show --property=...`` output into a status dict."""
    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    active = props.get("ActiveState", "")
    pid = props.get("MainPID", "")
    return {
        "state": _STATES.get(active, "unknown"),
        "active_state": active or None,
        "sub_state": props.get("SubState") or None,
        "load_state": props.get("LoadState") or None,
        "unit_file_state": props.get("UnitFileState") or None,
        "description": props.get("Description") or None,
        "main_pid": int(pid) if pid.isdigit() and pid != "0" else None,
    }


def systemd_unavailable(text: str) -> bool:
    """Tell whether systemctl failed because systemd is not running on the host."""
    lowered = text.lower()
    return any(marker in lowered for marker in _NO_SYSTEMD)


def unit_missing(text: str) -> bool:
    """Tell whether systemctl failed because the unit does not exist."""
    return bool(_NO_UNIT.search(text))


def apt_upgradable(text: str) -> list[dict[str, Any]]:
    """Parse ``apt list --upgradable`` into one dict per package."""
    packages = []
    for line in text.splitlines():
        match = _APT_LINE.match(line.strip())
        if match is None:  # "Listing...", blank lines, notes
            continue
        packages.append(
            {
                "name": match["name"],
                "suite": match["suite"],
                "version": match["version"],
                "arch": match["arch"],
                "from_version": match["from"],
            }
        )
    return packages
