"""Benchmark the memory plugin in a hub: the context builder per budget (time and tokens) at demo
size and at 50 nodes x 5,000 guests, and the plugin's cost on the event loop per event.

    .venv/bin/python bench/bench_context.py [--runs 20] [--events 20000]

(a) A hub with the proxmox and memory plugins polls the PVE simulator (4 nodes / 12 guests, then
    50 / 5,000), with 200 events, 40 actions, 6 open alerts and a 20-message session in memory.
    ``store.context(budget, session=...)`` is timed whole (reading memory in a thread, building
    the text): wall ms and the process CPU ms, median of --runs; then ``build_context`` alone.
(b) Per event on the event loop: a hub emits --events events (``hub.emit``, then the on_event
    deliveries) with the memory plugin and, in the same run, without it. The event loop thread's
    CPU (``time.thread_time``) per event; the difference is the plugin's share. The store's
    flush thread is apart (its own thread): its CPU over the same window is reported too.
Prints markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jarvis.core import Event  # noqa: E402
from jarvis.plugins.memory.context import build_context, pick_budget  # noqa: E402

from tests.fixtures.hub import running_hub  # noqa: E402
from tests.fixtures.sim import spawn_simulator  # noqa: E402


def fill(store: Any) -> None:
    """Some history: events, actions, alerts, a session, preferences, memories."""
    for i in range(200):
        store.record_event({"type": "status", "summary": f"guest {100 + i % 12} status changed", "node": "pve1"})
    for i in range(6):
        store.record_event({"type": "alert", "severity": "error", "node": f"pve{i % 4 + 1}", "vmid": 100 + i,
                            "summary": f"guest {100 + i} stopped unexpectedly"})
    for i in range(40):
        store.record_action({"tool": "proxmox.guest_start", "status": "ok", "risk": "write", "source": "mqtt",
                             "requested_by": "mqtt:alice", "args": {"vmid": 100 + i % 12}, "duration_ms": 800.0})
    for i in range(20):
        store.add_message("bench", "user" if i % 2 == 0 else "assistant", f"message {i} about vm {100 + i}")
    store.set_preference("k3s_master", "vm 105")
    store.remember("pve3 has a flaky NIC", "30d", ["pve3"])


async def measure_context(nodes: int, guests: int, runs: int) -> list[dict[str, Any]]:
    sim = spawn_simulator(nodes=nodes, guests=guests, seed=3)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = {"plugins": {"memory": {"path": tmp}, "proxmox": {
                "endpoints": [sim.url], "token_id": sim.token_id, "token_secret": sim.token_secret,
                "ca_file": sim.ca_file}}}
            async with running_hub(config, plugins=["proxmox", "memory"]) as hub:
                await hub.refresh()
                store = hub.memory()
                fill(store)
                for name in ("small", "large"):
                    walls, cpus, builds = [], [], []
                    result: dict[str, Any] = {}
                    for _ in range(runs):
                        wall, cpu = time.perf_counter(), time.process_time()
                        result = await store.context(name, session="bench", topic="vm 105")
                        walls.append((time.perf_counter() - wall) * 1000)
                        cpus.append((time.process_time() - cpu) * 1000)
                    state, kinds = store.world()
                    facts, _ = store._gather(pick_budget(name, store.budgets), "bench", "vm 105")
                    for _ in range(runs):
                        cpu = time.process_time()
                        build_context(state, kinds, facts, pick_budget(name, store.budgets))
                        builds.append((time.process_time() - cpu) * 1000)
                    rows.append({
                        "size": f"{nodes} nodes, {guests:,} guests", "budget": name,
                        "max": result["max_tokens"], "tokens": result["tokens"], "chars": len(result["text"]),
                        "messages": f"{len(result['messages'])} / {result['messages_tokens']}",
                        "wall": statistics.median(walls), "cpu": statistics.median(cpus),
                        "build": statistics.median(builds),
                    })
    finally:
        sim.stop()
    return rows


def flush_thread_cpu() -> float:
    """CPU seconds of the store's flush thread (Linux: /proc per-thread stats)."""
    for thread in threading.enumerate():
        if thread.name == "jarvis-memory-flush" and thread.native_id:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(stat[11]) + int(stat[12])) / 100  # utime + stime, clock ticks
    return 0.0


async def measure_events(count: int, memory: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = {"plugins": {"memory": {"path": tmp}}} if memory else {"hub": {"memory": "off"}}
        async with running_hub(config, plugins=["memory"] if memory else []) as hub:
            events = [Event(type="status", source="bench", node=f"pve{i % 8}", vmid=100 + i % 200,
                            summary=f"guest {100 + i % 200} changed state", details={"n": i, "cpu_pct": 12.5})
                      for i in range(count)]
            await asyncio.sleep(0.2)
            flush0, loop0, wall0 = flush_thread_cpu(), time.thread_time(), time.perf_counter()
            for i, event in enumerate(events):
                hub.emit(event)
                if i % 100 == 99:
                    await asyncio.gather(*list(hub._background))
            await asyncio.gather(*list(hub._background))
            loop_s, wall_s = time.thread_time() - loop0, time.perf_counter() - wall0
            await asyncio.sleep(1.2)  # the flush thread commits what came in
            flush_s = flush_thread_cpu() - flush0
    return {"loop_us": loop_s / count * 1e6, "wall_s": wall_s, "flush_ms": flush_s * 1000}


async def main(runs: int, count: int) -> None:
    rows = await measure_context(4, 12, runs) + await measure_context(50, 5000, max(5, runs // 4))
    print("| cluster | budget | max tokens | tokens (est.) | chars | messages / tokens | wall ms | CPU ms "
          "| build_context CPU ms |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['size']} | {r['budget']} | {r['max']:,} | {r['tokens']:,} | {r['chars']:,} | {r['messages']} "
              f"| {r['wall']:.1f} | {r['cpu']:.1f} | {r['build']:.1f} |")
    print()
    without = await measure_events(count, memory=False)
    with_memory = await measure_events(count, memory=True)
    print("| hub | events | loop CPU µs / event | wall s | flush thread CPU ms |")
    print("|---|---:|---:|---:|---:|")
    print(f"| without memory (hub.memory: off) | {count:,} | {without['loop_us']:.1f} | {without['wall_s']:.2f} | - |")
    print(f"| with the memory plugin | {count:,} | {with_memory['loop_us']:.1f} | {with_memory['wall_s']:.2f} "
          f"| {with_memory['flush_ms']:.0f} |")
    print(f"\nthe memory plugin's share on the event loop: {with_memory['loop_us'] - without['loop_us']:.1f} µs "
          "per event")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--events", type=int, default=20_000)
    ns = parser.parse_args()
    asyncio.run(main(ns.runs, ns.events))
