"""The ``plugins.ssh`` config block, and the read-only allowlist that decides exec's risk tier.

An empty block is valid: with no ``hosts`` the plugin idles. List the Proxmox nodes there,
named as in the PVE cluster, so ``ssh.*`` tools and ``pct_exec`` address them by node name::

    plugins:
      ssh:
        key_file: ~/.ssh/id_ed25519          # default for every host
        known_hosts: ~/.ssh/known_hosts      # host keys are always verified
        # trust_on_first_use: true           # opt-in: record unknown keys in tofu_known_hosts
        hosts:
          pve1: {host: 192.168.1.10}
          pve2: {host: 192.168.1.11, port: 2222, username: admin}
        readonly_allowlist:                  # replaces the default list
          - [uptime, "**"]
          - [systemctl, status, "**"]

Under trust on first use a host's key is recorded in its ``known_hosts`` when set, else in
``tofu_known_hosts`` (a file this plugin owns); a later different key is refused.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

from jarvis.plugins.ssh.client import HostSpec
from pydantic import BaseModel, ConfigDict, Field, field_validator

HOST_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
SERVICE_NAME = r"^[A-Za-z0-9][A-Za-z0-9@._-]{0,254}$"
ADDRESS = r"^[A-Za-z0-9][A-Za-z0-9.:_-]{0,253}$"

# Each pattern matches an argv element by element (shell-style globs per argument); a final
# "**" accepts any further arguments, otherwise the length must match. Only commands that
# cannot change anything, whatever arguments follow, end in "**".
DEFAULT_READONLY_ALLOWLIST: list[list[str]] = [
    ["uptime", "**"],
    ["hostname"],
    ["uname", "**"],
    ["free", "**"],
    ["df", "**"],
    ["lsblk", "**"],
    ["cat", "/proc/loadavg"],
    ["cat", "/proc/meminfo"],
    ["ip", "-br", "addr"],
    ["ip", "addr"],
    ["ip", "route"],
    ["systemctl", "status", "**"],
    ["systemctl", "is-active", "**"],
    ["systemctl", "is-failed", "**"],
    ["systemctl", "list-units", "**"],
    ["systemctl", "--failed"],
    ["pveversion", "**"],
    ["pvecm", "status"],
    ["pvecm", "nodes"],
    ["pvesm", "status"],
    ["qm", "list"],
    ["pct", "list"],
    ["zpool", "status", "**"],
    ["zpool", "list", "**"],
    ["apt", "list", "--upgradable"],
]


class HostConfig(BaseModel):
    """One host: where it is and how to log in; unset files fall back to the block's defaults."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(pattern=ADDRESS, description="address or DNS name")
    port: int = Field(22, ge=1, le=65535)
    username: str = Field("root", pattern=r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,31}$")
    key_file: str | None = None
    known_hosts: str | None = None
    trust_on_first_use: bool | None = None


class SshConfig(BaseModel):
    """Config of the SSH plugin (``plugins.ssh``)."""

    model_config = ConfigDict(extra="forbid")

    hosts: dict[str, HostConfig] = Field(
        default_factory=dict,
        description="name -> host; name them like the Proxmox nodes to act on those nodes",
    )
    proxmox_nodes: bool = Field(
        True,
        description="Proxmox nodes the hub knows are hosts too: by node name, at the IP the "
        "cluster reports, as node_username with the defaults below (a `hosts` entry of that name wins)",
    )
    node_port: int = Field(22, ge=1, le=65535, description="SSH port of the Proxmox nodes")
    node_username: str = Field("root", pattern=r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,31}$")
    key_file: str = "~/.ssh/id_ed25519"
    known_hosts: str = Field(
        "~/.ssh/known_hosts", description="host keys are verified against this file"
    )
    trust_on_first_use: bool = Field(
        False,
        description="opt-in: accept an unknown host key once and record it in "
        "tofu_known_hosts; a later mismatch is still refused",
    )
    tofu_known_hosts: str = Field(
        "~/.local/state/jarvis/ssh_known_hosts",
        description="the known_hosts file this plugin owns, for trust on first use",
    )
    connect_timeout_s: float = Field(10.0, gt=0, le=120)
    command_timeout_s: float = Field(30.0, gt=0, le=3600)
    long_command_timeout_s: float = Field(300.0, gt=0, le=86400)
    readonly_allowlist: list[list[str]] = Field(
        default_factory=lambda: [list(p) for p in DEFAULT_READONLY_ALLOWLIST],
        description="argv patterns an exec may match to count as read-only",
    )

    @field_validator("hosts")
    @classmethod
    def _host_names(cls, hosts: dict[str, HostConfig]) -> dict[str, HostConfig]:
        """Host names become tool arguments and topic ids: keep them plain."""
        for name in hosts:
            if not re.match(HOST_NAME, name):
                raise ValueError(f"invalid host name {name!r}: use letters, digits, . _ -")
        return hosts

    def node_spec(self, address: str) -> HostSpec:
        """Return the spec of a Proxmox node reached at ``address`` with the block's defaults."""
        known_hosts = self.tofu_known_hosts if self.trust_on_first_use else self.known_hosts
        return HostSpec(host=address, port=self.node_port, username=self.node_username, key_file=self.key_file,
                        known_hosts=known_hosts, trust_on_first_use=self.trust_on_first_use)

    def host_specs(self) -> dict[str, HostSpec]:
        """Resolve every host against the block's defaults."""
        specs = {}
        for name, h in self.hosts.items():
            tofu = self.trust_on_first_use if h.trust_on_first_use is None else h.trust_on_first_use
            default_kh = self.tofu_known_hosts if tofu else self.known_hosts
            specs[name] = HostSpec(
                host=h.host,
                port=h.port,
                username=h.username,
                key_file=h.key_file or self.key_file,
                known_hosts=h.known_hosts or default_kh,
                trust_on_first_use=tofu,
            )
        return specs


def is_readonly(argv: Sequence[str], allowlist: Sequence[Sequence[str]]) -> bool:
    """Tell whether argv matches one of the read-only patterns."""
    return any(_matches(argv, pattern) for pattern in allowlist)


def _matches(argv: Sequence[str], pattern: Sequence[str]) -> bool:
    if not pattern:
        return False
    rest = pattern[-1] == "**"
    fixed = pattern[:-1] if rest else pattern
    if len(argv) < len(fixed) or (not rest and len(argv) != len(fixed)):
        return False
    return all(fnmatch.fnmatchcase(arg, pat) for arg, pat in zip(argv, fixed, strict=False))
