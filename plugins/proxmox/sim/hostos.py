"""What a simulated node's operating system holds: services, pending updates, temperatures, disks.

Seeded per node from its own random stream (the cluster's streams stay untouched, so a seed
still yields the same cluster); temperatures follow the node's CPU load on every metrics tick.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from .disks import DiskSet, build_disks
from .model import Cluster, Node

SERVICES = {
    "pveproxy": "PVE API Proxy Server",
    "pvedaemon": "PVE API Daemon",
    "pvestatd": "PVE Status Daemon",
    "pve-cluster": "The Proxmox VE cluster filesystem",
    "corosync": "Corosync Cluster Engine",
    "chrony": "chrony, an NTP client/server",
    "ssh": "OpenBSD Secure Shell server",
}

# (package, suite, new version, installed version, arch): what apt could upgrade on PVE 9.
UPDATES = [
    ("pve-manager", "stable", "9.0.12", "9.0.11", "all"),
    ("libpve-common-perl", "stable", "9.0.12", "9.0.11", "all"),
    ("qemu-server", "stable", "9.0.23", "9.0.22", "amd64"),
    ("pve-container", "stable", "6.0.14", "6.0.13", "all"),
    ("proxmox-widget-toolkit", "stable", "5.0.6", "5.0.5", "all"),
    ("libpve-storage-perl", "stable", "9.0.14", "9.0.13", "all"),
    ("pve-qemu-kvm", "stable", "10.0.2-4", "10.0.2-3", "amd64"),
    ("tzdata", "stable-updates", "2025b-4+deb13u1", "2025b-4", "all"),
    ("curl", "stable", "8.14.1-2+deb13u1", "8.14.1-2", "amd64"),
    ("libcurl4t64", "stable", "8.14.1-2+deb13u1", "8.14.1-2", "amd64"),
]
SECURITY_UPDATES = [
    ("openssl", "stable-security", "3.5.1-1+deb13u1", "3.5.1-1", "amd64"),
    ("libssl3t64", "stable-security", "3.5.1-1+deb13u1", "3.5.1-1", "amd64"),
    ("openssh-server", "stable-security", "1:10.0p1-7+deb13u1", "1:10.0p1-7", "amd64"),
    ("openssh-client", "stable-security", "1:10.0p1-7+deb13u1", "1:10.0p1-7", "amd64"),
    ("libc6", "stable-security", "2.41-12+deb13u1", "2.41-12", "amd64"),
    ("sudo", "stable-security", "1.9.16p2-3+deb13u1", "1.9.16p2-3", "amd64"),
]
INTEL_LIMITS = (80.0, 100.0)  # coretemp high / crit


@dataclass
class Service:
    """A systemd unit and its state (ActiveState: active, inactive or failed)."""

    name: str
    description: str
    active: str = "active"
    pid: int = 0
    since: float = 0.0  # when it entered its current state (epoch seconds)
    sticky: bool = False  # a restart fails while a sticky service-stopped fault holds

    @property
    def sub_state(self) -> str:
        """systemd's SubState for a simple service."""
        return {"active": "running", "inactive": "dead"}.get(self.active, "failed")


@dataclass(frozen=True)
class Package:
    """A line of `apt list --upgradable`."""

    name: str
    suite: str
    version: str
    old: str
    arch: str

    @property
    def security(self) -> bool:
        """True for packages from the security archive."""
        return "security" in self.suite


@dataclass
class Thermal:
    """CPU temperature sensors (coretemp on Intel, k10temp on AMD) following the CPU load."""

    vendor: str  # "intel" | "amd"
    cores: int
    idle: float
    package: float
    offsets: list[float]
    hot: float | None = None  # target of a hot-node fault (deg C)

    def update(self, rng: random.Random, load: float) -> None:
        """One tick: drift towards idle + load-driven heat, or hold near the hot-node target."""
        if self.hot is not None:
            self.package = self.hot + rng.uniform(-0.6, 0.6)
            return
        target = self.idle + load * 38.0
        self.package = self.package + (target - self.package) * 0.5 + rng.uniform(-0.8, 0.8)

    def reading(self, value: float) -> float:
        """A value at the sensor's resolution (coretemp: 1 deg C, k10temp: 1/8 deg C)."""
        return float(round(value)) if self.vendor == "intel" else round(value * 8) / 8

    @property
    def core_temps(self) -> list[float]:
        """Per-core (Intel) or per-CCD (AMD) readings."""
        return [self.reading(self.package - off) for off in self.offsets]


@dataclass
class NodeHost:
    """One node's OS: services, pending package updates, thermal sensors and disks."""

    name: str
    services: dict[str, Service]
    pending: list[Package]
    thermal: Thermal
    disks: DiskSet
    updates_fault: list[Package] | None = None  # replaces `pending` while an updates fault holds
    next_pid: int = 0

    @property
    def upgradable(self) -> list[Package]:
        """What `apt list --upgradable` shows now."""
        return self.pending if self.updates_fault is None else self.updates_fault

    def service(self, unit: str) -> Service | None:
        """Look up a unit by name, with or without the .service suffix."""
        return self.services.get(unit.removesuffix(".service"))

    def new_pid(self) -> int:
        """A fresh process id for a (re)started service."""
        self.next_pid += 1 + self.next_pid % 7
        return self.next_pid

    def start(self, service: Service) -> None:
        """Mark `service` active with a new main process."""
        service.active, service.pid, service.since = "active", self.new_pid(), time.time()

    def stop(self, service: Service, state: str = "inactive") -> None:
        """Mark `service` inactive (stopped) or failed; it has no main process then."""
        service.active, service.pid, service.since = state, 0, time.time()


def _thermal(rng: random.Random, node: Node) -> Thermal:
    amd = node.cpu_model.startswith("AMD")
    cores = (2 if node.maxcpu >= 16 else 1) if amd else min(node.maxcpu, 8)
    idle = rng.uniform(32.0, 42.0)
    offsets = [rng.uniform(1.0, 4.0) if amd else rng.uniform(0.0, 3.0) for _ in range(cores)]
    return Thermal("amd" if amd else "intel", cores, idle, idle + node.cpu * 38.0, offsets)


def build_host(node: Node, seed: int) -> NodeHost:
    """Create one node's OS state from the cluster seed and the node id."""
    rng = random.Random(seed * 1_000_003 + node.nodeid * 7919)
    booted = time.time() - node.uptime
    pid = rng.randrange(600, 1500)
    services = {}
    for name, description in SERVICES.items():
        pid += rng.randrange(3, 40)
        services[name] = Service(name, description, "active", pid, booted)
    pending = [Package(*u) for u in rng.sample(UPDATES, rng.randrange(0, 3))]
    return NodeHost(node.name, services, pending, _thermal(rng, node), build_disks(rng),
                    next_pid=rng.randrange(200_000, 900_000))


def build_hosts(cluster: Cluster) -> dict[str, NodeHost]:
    """OS state for every node of the cluster."""
    return {name: build_host(node, cluster.seed) for name, node in cluster.nodes.items()}


@dataclass
class HostTicker:
    """Moves temperatures on every metrics tick from a dedicated seeded stream."""

    rng: random.Random = field(default_factory=random.Random)

    def tick(self, cluster: Cluster, hosts: dict[str, NodeHost]) -> None:
        """Advance every powered node's sensors by one tick."""
        for name, host in hosts.items():
            node = cluster.nodes[name]
            if node.powered:
                host.thermal.update(self.rng, node.cpu)


def updates_list(count: int, security: int) -> list[Package]:
    """`count` pending packages of which `security` come from the security archive."""
    if not 0 <= security <= count:
        raise ValueError("need 0 <= security <= count")
    chosen = [Package(*u) for u in SECURITY_UPDATES[:security]]
    chosen += [Package(f"libsim-security{i}", "stable-security", "1.0-1+deb13u1", "1.0-1", "amd64")
               for i in range(security - len(SECURITY_UPDATES))]
    plain = count - security
    chosen += [Package(*u) for u in UPDATES[:plain]]
    chosen += [Package(f"libsim{i}", "stable", "2.0-2", "2.0-1", "amd64")
               for i in range(plain - len(UPDATES))]
    return sorted(chosen, key=lambda p: p.name)
