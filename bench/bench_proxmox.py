"""Benchmark the Proxmox plugin's polling against the simulator, beside prometheus-pve-exporter.

    .venv/bin/python bench/bench_proxmox.py --nodes 50 --guests 5000 --cycles 8

The simulator runs in its own process (so its CPU is not counted). For our plugin each fast
cycle is measured as the hub would run it: poll (HTTP + JSON in worker threads) and the state
store diff ("poll"), then the MQTT publisher's deadband filter and JSON encoding (broker I/O
left out). API calls come from the simulator's own counters (/_sim/stats). The exporter is
pve_exporter's collector called in-process (token auth, verify_ssl false), all modules on.
Needs `pip install prometheus-pve-exporter` (the project's `bench` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import psutil
import requests
from jarvis.core.runner import tune_gc
from jarvis.core.state import StateStore
from jarvis.mqtt.publisher import StatePublisher
from jarvis.plugins.proxmox.client import PveClient
from jarvis.plugins.proxmox.config import ProxmoxConfig
from jarvis.plugins.proxmox.coordinator import Coordinator
from jarvis.plugins.proxmox.kinds import KINDS


def spawn(nodes: int, guests: int, tick_s: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start the simulator CLI and return the process and its connection details."""
    cmd = [sys.executable, "-m", "jarvis.plugins.proxmox.sim", "--port", "0", "--json",
           "--seed", "7", "--nodes", str(nodes), "--guests", str(guests),
           "--tick-seconds", str(tick_s)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("the simulator did not start")
    return proc, json.loads(line)


class Admin:
    """The simulator's /_sim API (stats)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.url = info["url"]
        self.headers = {"Authorization": f"PVEAPIToken={info['token_id']}={info['token_secret']}"}
        self.ca = info["ca_file"]

    def reset(self) -> None:
        requests.post(f"{self.url}/_sim/stats/reset", headers=self.headers, verify=self.ca,
                      timeout=30)

    def calls(self) -> tuple[int, dict[str, int]]:
        data = requests.get(f"{self.url}/_sim/stats", headers=self.headers, verify=self.ca,
                            timeout=30).json()
        return int(data["total"]), data["endpoints"]


async def bench_ours(info: dict[str, Any], admin: Admin, cycles: int, pause_s: float, warmup: int) -> dict:
    """Run the fast tier ``warmup`` times, then ``cycles`` measured times; the slow tiers once.

    No forced garbage collection between cycles, and warm-up cycles first: a long-running hub's
    memory is laid out less favourably than a fresh one's, and the first cycles run up to 40 %
    faster than the steady state this measures.
    """
    tune_gc()  # as `jarvis run` does
    process = psutil.Process()
    rss_before = process.memory_info().rss
    config = ProxmoxConfig.model_validate({
        "endpoints": [info["url"]], "token_id": info["token_id"],
        "token_secret": info["token_secret"], "fingerprint": info["fingerprint"],
        "timeout_s": 60,
    })
    client = PveClient(config.endpoints, info["token_id"], info["token_secret"],
                       fingerprints=config.fingerprint, timeout_s=60)
    coordinator = Coordinator(client, config)
    store = StateStore()
    sent: list[str] = []

    async def count(messages: list[tuple[str, bytes]]) -> None:
        sent.extend(topic for topic, _payload in messages)

    # The hub's own publisher with the deadbands of the plugin's kinds; only the broker I/O is left out.
    publisher = StatePublisher("jarvis", count, kinds=KINDS)
    store.subscribe(publisher.on_changes)
    store.apply("proxmox:cluster", await coordinator.poll_fast())  # warm-up: everything is new
    store.apply("proxmox:nodes", await coordinator.poll_nodes())
    await publisher.flush()
    for _ in range(warmup):
        await asyncio.sleep(pause_s)
        store.apply("proxmox:cluster", await coordinator.poll_fast())
        await publisher.flush()
    rows = []
    for _ in range(cycles):
        await asyncio.sleep(pause_s)  # let the simulator tick its metrics
        admin.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        snapshot = await coordinator.poll_fast()
        changes = store.apply("proxmox:cluster", snapshot)
        poll_cpu_ms = (time.process_time() - cpu) * 1000
        sent.clear()
        await publisher.flush()
        cpu_ms = (time.process_time() - cpu) * 1000
        wall_ms = (time.perf_counter() - wall) * 1000
        total, endpoints = admin.calls()
        rows.append({"calls": total, "reported": snapshot.metrics["api_calls"], "cpu_ms": cpu_ms,
                     "poll_cpu_ms": poll_cpu_ms,
                     "wall_ms": wall_ms, "changes": len(changes), "messages": len(sent),
                     "entities": len(snapshot.entities), "endpoints": endpoints})
    tiers = {}
    for name, poll in (("nodes", coordinator.poll_nodes), ("storage", coordinator.poll_storage)):
        admin.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        snapshot = await poll()
        store.apply(f"proxmox:{name}", snapshot)
        tiers[name] = {"calls": admin.calls()[0], "cpu_ms": (time.process_time() - cpu) * 1000,
                       "wall_ms": (time.perf_counter() - wall) * 1000}
    rss_after = process.memory_info().rss
    client.close()
    return {"rows": rows, "tiers": tiers, "rss": rss_after, "rss_growth": rss_after - rss_before,
            "entities": len(store)}


def bench_exporter(info: dict[str, Any], admin: Admin, scrapes: int) -> dict | None:
    """Scrape with prometheus-pve-exporter's collector, all modules, ``scrapes`` times."""
    try:
        from pve_exporter.collector import CollectorsOptions, collect_pve
    except ImportError:
        return None
    user, _, token_name = info["token_id"].partition("!")
    config = {"user": user, "token_name": token_name, "token_value": info["token_secret"],
              "verify_ssl": False}
    target = f"{info['host']}:{info['port']}"
    working, skipped = [], []
    for name in CollectorsOptions._fields:  # leave out what the simulator does not implement
        only = CollectorsOptions(**{n: n == name for n in CollectorsOptions._fields})
        try:
            collect_pve(config, target, True, True, only)
            working.append(name)
        except Exception as error:  # noqa: BLE001 - report and skip that module
            skipped.append(f"{name} ({str(error)[:60]})")
    options = CollectorsOptions(**{n: n in working for n in CollectorsOptions._fields})
    rows = []
    for _ in range(scrapes):
        admin.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        output = collect_pve(config, target, True, True, options)
        rows.append({"wall_ms": (time.perf_counter() - wall) * 1000,
                     "cpu_ms": (time.process_time() - cpu) * 1000,
                     "calls": admin.calls()[0], "bytes": len(output)})
    return {"rows": rows, "modules": working, "skipped": skipped}


def med(rows: list[dict], key: str) -> float:
    """Median of one column."""
    return statistics.median(r[key] for r in rows)


def report(args: argparse.Namespace, ours: dict, exporter: dict | None) -> str:
    """Return the results as a markdown table plus notes."""
    rows = ours["rows"]
    lines = [
        f"## Proxmox polling: {args.nodes} nodes x {args.guests} guests "
        f"({args.cycles} steady-state cycles after {args.warmup} warm-up cycles, simulator tick "
        f"{args.tick}s, pause {args.pause}s)",
        "",
        "| measure | jarvis proxmox (fast tier) | prometheus-pve-exporter |",
        "|---|---|---|",
    ]
    ex = exporter["rows"] if exporter else None
    lines.append(f"| API calls per cycle/scrape (sim stats) | {med(rows, 'calls'):.0f} "
                 f"(max {max(r['calls'] for r in rows)}) | "
                 + (f"{med(ex, 'calls'):.0f}" if ex else "n/a") + " |")
    lines.append(f"| wall ms per cycle/scrape (median) | {med(rows, 'wall_ms'):.0f} | "
                 + (f"{med(ex, 'wall_ms'):.0f}" if ex else "n/a") + " |")
    lines.append(f"| hub CPU ms per cycle: poll + diff (median) | {med(rows, 'poll_cpu_ms'):.0f} | - |")
    lines.append(f"| CPU ms per cycle/scrape in-process, with publishing (median) | {med(rows, 'cpu_ms'):.0f} | "
                 + (f"{med(ex, 'cpu_ms'):.0f}" if ex else "n/a") + " |")
    lines.append(f"| entities published | {ours['entities']} | "
                 + (f"{ex[0]['bytes']} bytes of metrics text" if ex else "n/a") + " |")
    lines.append(f"| entity changes per steady-state cycle (median) | "
                 f"{med(rows, 'changes'):.0f} of {rows[0]['entities']} | - |")
    lines.append(f"| MQTT messages per steady-state cycle, after deadbands (median) | "
                 f"{med(rows, 'messages'):.0f} | - |")
    lines.append(f"| RSS after the run (growth) | {ours['rss'] / 2**20:.0f} MiB "
                 f"(+{ours['rss_growth'] / 2**20:.0f} MiB) | same process |")
    for name, tier in ours["tiers"].items():
        lines.append(f"| {name} tier: calls / wall ms / CPU ms | {tier['calls']} / "
                     f"{tier['wall_ms']:.0f} / {tier['cpu_ms']:.0f} | - |")
    lines += ["", "Fast-cycle endpoints: " + json.dumps(rows[-1]["endpoints"])]
    if exporter:
        lines.append("Exporter modules: " + ", ".join(exporter["modules"])
                     + "; skipped (not in the simulator): " + (", ".join(exporter["skipped"])
                                                               or "none"))
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run both benchmarks, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--guests", type=int, default=5000)
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured cycles first")
    parser.add_argument("--scrapes", type=int, default=3, help="exporter scrapes (0: leave the peer out)")
    parser.add_argument("--tick", type=float, default=2.0, help="simulator metrics period")
    parser.add_argument("--pause", type=float, default=2.5, help="seconds between cycles")
    args = parser.parse_args()
    proc, info = spawn(args.nodes, args.guests, args.tick)
    try:
        admin = Admin(info)
        ours = asyncio.run(bench_ours(info, admin, args.cycles, args.pause, args.warmup))
        exporter = bench_exporter(info, admin, args.scrapes) if args.scrapes else None
        print(report(args, ours, exporter))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
