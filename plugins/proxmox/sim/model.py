"""Cluster state of the simulator: nodes, guests, storages, and the periodic metrics tick.

Metrics move only on ticks (not per request), drawn from a dedicated seeded random stream in a
fixed order, so the same seed yields the same metric sequence tick by tick.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

GIB = 1024**3

PVE_VERSION = {"version": "9.0.11", "release": "9.0", "repoid": "3bf5476b8a4699e2"}
PVEVERSION_STRING = "pve-manager/9.0.11/3bf5476b8a4699e2"
KERNEL_RELEASE = "6.14.11-4-pve"
KERNEL_VERSION = "#1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4 (2025-10-10T08:04Z)"


@dataclass
class Node:
    """One cluster member (hardware, power state and live metrics)."""

    name: str
    nodeid: int
    ip: str
    mac: str
    fingerprint: str
    maxcpu: int
    maxmem: int
    maxdisk: int
    swaptotal: int
    cpu_model: str
    mhz: str
    sockets: int
    powered: bool = True
    # A fault makes a powered node unreachable; the string is the 595 reason phrase.
    unreachable: str | None = None
    uptime: int = 0
    cpu: float = 0.02
    base_cpu: float = 0.02
    mem: int = 0
    disk: int = 0
    swapused: int = 0
    iowait: float = 0.001
    netin: int = 0
    netout: int = 0
    arcsize: int = 0
    ksm_shared: int = 0
    offline_since: float | None = None
    high_cpu: bool = False
    booting: bool = False

    @property
    def online(self) -> bool:
        """True if the node is powered and reachable (what corosync would report)."""
        return self.powered and self.unreachable is None

    def loadavg(self) -> list[str]:
        """Return the 1/5/15-minute load averages formatted as PVE does (strings)."""
        load = self.cpu * self.maxcpu
        return [f"{load:.2f}", f"{load * 0.9:.2f}", f"{load * 0.8:.2f}"]


@dataclass
class Guest:
    """A QEMU VM or LXC container with its configuration and live metrics."""

    vmid: int
    kind: str  # "qemu" | "lxc"
    name: str
    node: str
    status: str  # "running" | "stopped"
    cores: int
    maxmem: int
    maxdisk: int
    template: bool = False
    tags: str = ""
    pool: str | None = None
    onboot: bool = False
    agent: bool = False
    agent_running: bool = False
    maxswap: int = 0
    ostype: str = "l26"
    mac: str = "BC:24:11:00:00:00"
    ip: str = "192.168.1.100"
    cpu: float = 0.0
    base_cpu: float = 0.02
    mem: int = 0
    disk: int = 0
    netin: int = 0
    netout: int = 0
    diskread: int = 0
    diskwrite: int = 0
    uptime: int = 0
    pid: int | None = None
    paused: bool = False
    lock: str | None = None
    high_cpu: bool = False
    started_at: float | None = None
    stopped_at: float | None = None

    @property
    def running(self) -> bool:
        """True while the guest's process exists (paused VMs count as running)."""
        return self.status == "running"


@dataclass
class Storage:
    """One entry of storage.cfg."""

    storage: str
    type: str
    content: str
    shared: bool = False
    nodes: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def enabled_on(self, node: str) -> bool:
        """True if the storage is configured for `node`."""
        return self.nodes is None or node in self.nodes


@dataclass
class Usage:
    """Capacity and usage of a storage on one node (shared storages share one object)."""

    total: int
    used: int
    full: bool = False

    @property
    def used_effective(self) -> int:
        """Used bytes, or nearly all of it while a disk-full fault is active."""
        return self.total - 4096 * 1024 if self.full else self.used


@dataclass
class Cluster:
    """Everything the simulated cluster knows, mutated by ticks, tasks and faults."""

    name: str
    local: str
    nodes: dict[str, Node]
    guests: dict[int, Guest]
    storages: list[Storage]
    usage: dict[tuple[str, str], Usage]
    seed: int
    tick_seconds: float = 2.0
    ticks: int = 0
    version: int = 0  # bumped on every change so cached views can be rebuilt
    rng_metrics: random.Random = field(default_factory=random.Random)
    rng_events: random.Random = field(default_factory=random.Random)
    _by_node: dict[str, list[Guest]] | None = field(default=None, repr=False)

    def changed(self) -> None:
        """Mark state as changed so cached JSON is rebuilt on next request."""
        self.version += 1

    def node_guests(self, node: str) -> list[Guest]:
        """Guests configured on `node`, ordered by vmid (guests never move between nodes)."""
        if self._by_node is None:
            index: dict[str, list[Guest]] = {name: [] for name in self.nodes}
            for vmid in sorted(self.guests):
                guest = self.guests[vmid]
                index.setdefault(guest.node, []).append(guest)
            self._by_node = index
        return self._by_node.get(node, [])

    def usage_for(self, storage: Storage, node: str) -> Usage:
        """Return the usage record of `storage` as seen from `node`."""
        key = ("*", storage.storage) if storage.shared else (node, storage.storage)
        return self.usage[key]

    def tick(self) -> None:
        """Advance metrics by one tick: random walks, growing counters and uptimes."""
        rng = self.rng_metrics
        dt = self.tick_seconds
        self.ticks += 1
        for node in self.nodes.values():
            if not node.powered:
                continue
            node.uptime += int(round(dt)) or 1
            running_cpu = 0.0
            running_mem = 0
            for guest in self.node_guests(node.name):
                if not guest.running:
                    continue
                _tick_guest(guest, rng, dt)
                running_cpu += guest.cpu * guest.cores
                running_mem += guest.mem if guest.kind == "lxc" else guest.maxmem // 2 + guest.mem // 2
            node.base_cpu = _walk(rng, node.base_cpu, 0.004, 0.005, 0.08)
            target = node.base_cpu + running_cpu / node.maxcpu
            node.cpu = min(1.0, 0.97 + rng.random() * 0.03) if node.high_cpu else min(0.99, target)
            os_mem = int(node.maxmem * 0.08)
            node.mem = min(int(node.maxmem * 0.96), os_mem + running_mem + node.arcsize)
            node.iowait = round(abs(_walk(rng, node.iowait, 0.0005, 0.0, 0.05)), 6)
            node.netin += int(rng.uniform(20_000, 200_000) * dt)
            node.netout += int(rng.uniform(10_000, 150_000) * dt)
            node.disk = min(node.maxdisk - GIB, node.disk + rng.randrange(0, 64 * 1024))
        self.changed()


def _walk(rng: random.Random, value: float, step: float, low: float, high: float) -> float:
    return min(high, max(low, value + rng.uniform(-step, step)))


def _tick_guest(guest: Guest, rng: random.Random, dt: float) -> None:
    guest.uptime += int(round(dt)) or 1
    if guest.paused:
        guest.cpu = 0.0
        return
    guest.base_cpu = _walk(rng, guest.base_cpu, 0.01, 0.001, 0.6)
    guest.cpu = 0.97 + rng.random() * 0.03 if guest.high_cpu else round(guest.base_cpu, 6)
    low, high = int(guest.maxmem * 0.15), int(guest.maxmem * 0.92)
    guest.mem = int(_walk(rng, guest.mem, guest.maxmem * 0.01, low, high))
    guest.netin += int(rng.uniform(500, 60_000) * dt)
    guest.netout += int(rng.uniform(200, 40_000) * dt)
    guest.diskread += int(rng.uniform(0, 200_000) * dt)
    guest.diskwrite += int(rng.uniform(1_000, 300_000) * dt)
    if guest.kind == "lxc":
        guest.disk = min(guest.maxdisk, guest.disk + rng.randrange(0, 8192))
