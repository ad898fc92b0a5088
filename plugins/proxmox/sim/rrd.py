"""RRD history (`rrddata`) in PVE 9 field names, a superset of PVE 8's.

Rows are synthesised around the current metrics with noise derived from (seed, object, time),
so the same seed and time give the same rows. Rows where the object had no data (guest stopped,
node offline) keep only what PVE keeps: maxima for guests, nothing but `time` for nodes.
"""

from __future__ import annotations

import random
import time
from typing import Any

from .model import Cluster, Guest, Node

# timeframe -> seconds per row (PVE 8 RRAs; each answer has 70 rows)
STEPS = {"hour": 60, "day": 1800, "week": 10800, "month": 43200, "year": 604800}
ROWS = 70


def _times(timeframe: str, now: float) -> list[int]:
    step = STEPS[timeframe]
    last = int(now) // step * step
    return [last - (ROWS - 1 - i) * step for i in range(ROWS)]


def _noise(seed: int, key: str, t: int) -> random.Random:
    return random.Random(f"{seed}:{key}:{t}")


def node_rrd(
    cluster: Cluster, node: Node, timeframe: str, cf: str, now: float | None = None
) -> list[dict[str, Any]]:
    """GET /nodes/{node}/rrddata."""
    now = time.time() if now is None else now
    peak = 1.25 if cf == "MAX" else 1.0
    boot = now - node.uptime
    rows: list[dict[str, Any]] = []
    for t in _times(timeframe, now):
        offline = (not node.online and (node.offline_since is None or t >= node.offline_since))
        if offline or t + STEPS[timeframe] <= boot:
            rows.append({"time": t})
            continue
        r = _noise(cluster.seed, node.name, t)
        cpu = max(0.0, node.cpu * r.uniform(0.7, 1.3) * peak)
        memused = node.mem * r.uniform(0.95, 1.05)
        rows.append(
            {
                "arcsize": node.arcsize * r.uniform(0.98, 1.02),
                "cpu": cpu,
                "iowait": node.iowait * r.uniform(0.5, 1.5) * peak,
                "loadavg": cpu * node.maxcpu,
                "maxcpu": node.maxcpu,
                "memavailable": max(0.0, node.maxmem - memused),
                "memtotal": node.maxmem,
                "memused": memused,
                "netin": r.uniform(20_000, 200_000) * peak,
                "netout": r.uniform(10_000, 150_000) * peak,
                "pressurecpusome": r.uniform(0, 3) * peak,
                "pressureiofull": 0,
                "pressureiosome": r.uniform(0, 0.2),
                "pressurememoryfull": 0,
                "pressurememorysome": 0,
                "roottotal": node.maxdisk,
                "rootused": node.disk * r.uniform(0.999, 1.0),
                "swaptotal": node.swaptotal,
                "swapused": float(node.swapused),
                "time": t,
            }
        )
    return rows


def guest_rrd(
    cluster: Cluster, guest: Guest, timeframe: str, cf: str, now: float | None = None
) -> list[dict[str, Any]]:
    """GET /nodes/{node}/{qemu|lxc}/{vmid}/rrddata."""
    now = time.time() if now is None else now
    peak = 1.25 if cf == "MAX" else 1.0
    node = cluster.nodes[guest.node]
    started = now - guest.uptime if guest.running else None
    rows: list[dict[str, Any]] = []
    for t in _times(timeframe, now):
        base: dict[str, Any] = {
            "disk": guest.disk if guest.kind == "lxc" else 0,
            "maxcpu": guest.cores,
            "maxdisk": guest.maxdisk,
            "maxmem": guest.maxmem,
            "time": t,
        }
        if not node.online and (node.offline_since is None or t >= node.offline_since):
            rows.append({"time": t})
            continue
        if started is None or t + STEPS[timeframe] <= started:
            rows.append(base)
            continue
        r = _noise(cluster.seed, f"vm/{guest.vmid}", t)
        mem = guest.mem * r.uniform(0.9, 1.1)
        base.update(
            cpu=max(0.0, guest.cpu * r.uniform(0.6, 1.4) * peak),
            diskread=r.uniform(0, 200_000) * peak,
            diskwrite=r.uniform(1_000, 300_000) * peak,
            mem=int(mem),
            netin=r.uniform(500, 60_000) * peak,
            netout=r.uniform(200, 40_000) * peak,
            pressurecpufull=r.uniform(0, 0.05),
            pressurecpusome=r.uniform(0, 0.1),
            pressureiofull=r.uniform(0, 0.5),
            pressureiosome=r.uniform(0, 0.5),
            pressurememoryfull=r.uniform(0, 0.01),
            pressurememorysome=r.uniform(0, 0.01),
        )
        if guest.kind == "qemu":
            base["memhost"] = mem * r.uniform(1.05, 1.3)
        rows.append(base)
    return rows
