"""Benchmark the memory store: sustained events/s at 5 % of a core, flush cost with 1 M stored
events vs 1 k, recent-event queries and text search at 1 M events, RSS.

    .venv/bin/python bench/bench_memory.py [--events 1000000] [--seconds 20] [--dir DIR]

A busy cluster: 30,000 events a day (8 nodes, 200 guests; statuses, tasks, actions, alerts;
~400 bytes of JSON each), so 1 M events are 33 days and "30 days" is 900 k events.
(a) sustained: a store with the flush thread (commit interval 1 s) takes events at a paced
    rate; the whole process's CPU (caller, appends, flush thread) over the window is divided by
    the wall time. A 5 s run at a high rate gives CPU per event, the rate for 5 % follows, and a
    run of --seconds at that rate checks it.
(b) the 1 M store is built through the API with a simulated clock (999 k events over the past
    33 days, flushed in bulk, then 1,000 in the current hour); the 1 k store gets the same 1,000.
    Each is then measured in a fresh process: open time; flushes of +100 events (CPU, wall,
    bytes, files); recent-event queries (first call, then median and p99 of 200); unresolved;
    text search since 30 days ago; RSS.
Every measurement runs in its own process. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from jarvis.core.redact import redact, register_secret
from jarvis.plugins.memory import MemoryDB

PER_DAY = 30_000
STEP_S = 86400 / PER_DAY
NODES = [f"pve{i}" for i in range(1, 9)]
KINDS = ["status"] * 50 + ["task"] * 25 + ["action"] * 10 + ["alert"] * 8 + ["chat"] * 5 + ["remediation"] * 2
SEVERITIES = ["info"] * 85 + ["warning"] * 10 + ["error"] * 4 + ["critical"]
SECRETS = ["PVEAPIToken=root@pam!jarvis=6f1c2d3e", "ssh-passphrase-42", "sk-openai-bench-0000"]
APPS = ["web", "db", "k3s", "nas", "mail", "dns", "git", "ci", "mon", "proxy"]


class Clock:
    """A settable clock for building history."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Events:
    """A deterministic stream of event fields shaped like a busy cluster's."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def next(self) -> dict[str, Any]:
        rng = self.rng
        kind, node, vmid = rng.choice(KINDS), rng.choice(NODES), rng.randrange(100, 300)
        name = f"{APPS[vmid % 10]}-{vmid:03d}"
        severity = "warning" if kind == "alert" and rng.random() < 0.7 else rng.choice(SEVERITIES)
        if rng.random() < 1 / PER_DAY:  # about once a day
            summary = f"ZFS checksum error on pool tank ({node})"
        elif kind == "alert":
            summary = f"VM {vmid} ({name}) on {node}: cpu {rng.randrange(85, 100)}% for 5 min"
        elif kind == "task":
            summary = f"Task vzdump {vmid} ({name}) on {node} finished in {rng.randrange(20, 900)} s"
        elif kind == "action":
            summary = f"guest.restart {vmid} ({name}) requested by monitor"
        else:
            summary = f"{name} on {node}: {rng.choice(['running', 'healthy', 'stopped', 'migrating'])}"
        fields = {
            "type": kind, "severity": severity, "source": "monitor", "node": node, "vmid": vmid, "summary": summary,
            "details": {"cpu": round(rng.random(), 3), "mem": rng.randrange(1 << 30, 1 << 34), "name": name,
                        "upid": f"UPID:{node}:{rng.randrange(1 << 32):08X}:qmstart:{vmid}:root@pam:"},
        }  # fmt: skip
        if kind == "alert":
            fields.update(resolved=True, resolved_by="jarvis")
        return fields


def build(path: Path, total: int, recent: int = 1000) -> float:
    """Fill a store: ``total - recent`` events before this hour, ``recent`` in it; return seconds."""
    started = time.perf_counter()
    clock, events = Clock(), Events(seed=1)
    hour = clock.now - clock.now % 3600
    history = total - recent
    db = MemoryDB(path, autoflush=False, clock=clock)
    for i in range(history):
        clock.now = hour - (history - i) * STEP_S
        db.events.add(**events.next())
        if i % 5000 == 4999:
            db.flush()
    now = time.time()  # the current hour as of now: the measurements follow right away
    hour = now - now % 3600
    recent_events = Events(seed=2)
    for i in range(recent):
        clock.now = hour + i * (now - hour) / recent
        fields = recent_events.next()
        if fields["type"] == "alert" and i % 20 == 0:
            fields["resolved"] = False  # a few open alerts
        db.events.add(**fields)
    db.close()
    return time.perf_counter() - started


def worker(argv: list[str]) -> None:
    """Run one measurement in this (fresh) process and print its result as JSON."""
    what, path = argv[0], Path(argv[1])
    result: dict[str, Any]
    if what == "sustained":
        result = sustained(path, rate=float(argv[2]), seconds=float(argv[3]), masked=argv[4] == "redact")
    elif what == "store":
        result = measure_store(path)
    else:
        raise SystemExit(f"unknown worker {what}")
    print(json.dumps(result))


def sustained(path: Path, rate: float, seconds: float, masked: bool) -> dict[str, Any]:
    """Add events at ``rate`` per second for ``seconds`` with the flush thread on; return CPU use."""
    events = Events(seed=3)
    pool = [events.next() for _ in range(5000)]
    for secret in SECRETS:
        register_secret(secret)
    db = MemoryDB(path, mask=redact if masked else None)
    flushes: list[float] = []
    added, tick = 0, 0.01
    cpu0, start = time.process_time(), time.monotonic()
    last_flush = None
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(rate * elapsed)
        while added < due:
            db.events.add(**pool[added % len(pool)])
            added += 1
        if db.last_flush is not last_flush and db.last_flush is not None:
            last_flush = db.last_flush
            flushes.append(last_flush.seconds)
        time.sleep(tick - (time.monotonic() - start) % tick)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - start
    db.close()
    return {"rate": rate, "events": added, "cpu_s": cpu, "wall_s": wall, "flush_s": flushes}


def timed(call: Any, runs: int) -> dict[str, float]:
    """Time a first call, then ``runs`` more: first, median and p99 in ms."""
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"first": first * 1e3, "median": statistics.median(times) * 1e3, "p99": times[int(len(times) * 0.99)] * 1e3}


def measure_store(path: Path) -> dict[str, Any]:
    """Open a built store and measure open, flushes, queries, search and RSS."""
    proc = psutil.Process()
    t0 = time.perf_counter()
    db = MemoryDB(path, autoflush=False)
    open_ms = (time.perf_counter() - t0) * 1e3
    rss_open = proc.memory_info().rss
    stored = db.stats()["events"]
    events = Events(seed=4)
    flushes = []
    for _ in range(10):
        for _ in range(100):
            db.events.add(**events.next())
        cpu0 = time.thread_time()
        stats = db.flush()
        flushes.append({"cpu_ms": (time.thread_time() - cpu0) * 1e3, "wall_ms": stats.seconds * 1e3,
                        "bytes": stats.bytes, "files": stats.files})  # fmt: skip
    queries = {
        "recent(limit=50)": lambda: db.events.recent(limit=50),
        "recent(node='pve3', limit=50)": lambda: db.events.recent(node="pve3", limit=50),
        "recent(type='alert', limit=20)": lambda: db.events.recent(type="alert", limit=20),
        "recent(severity='critical', limit=20)": lambda: db.events.recent(severity="critical", limit=20),
        "recent(vmid=105, limit=20)": lambda: db.events.recent(vmid=105, limit=20),
        "recent(since=1 h, limit=None)": lambda: db.events.recent(since=_hours_ago(1), limit=None),
        "unresolved()": lambda: db.events.unresolved(),
    }
    query_ms = {name: timed(call, 200) for name, call in queries.items()}
    counts = {name: len(call()) for name, call in queries.items()}
    since = _hours_ago(24 * 30)
    searches = {
        "'checksum error' (about 1 a day)": "checksum error",
        "'kernel panic' (no match: every file read)": "kernel panic",
        "'vzdump' (common: stops at 50)": "vzdump",
    }
    search_ms = {name: timed(lambda text=text: db.search(text, since=since, tables=["events"]), 2)
                 for name, text in searches.items()}  # fmt: skip
    search_hits = {name: len(db.search(text, since=since, tables=["events"])) for name, text in searches.items()}
    result = {
        "open_ms": open_ms, "flushes": flushes, "query_ms": query_ms, "counts": counts, "search_ms": search_ms,
        "search_hits": search_hits, "records": stored["records"], "segments": stored["segments"],
        "rss_open": rss_open, "rss_end": proc.memory_info().rss,
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "disk": sum(f.stat().st_size for f in path.rglob("*") if f.is_file()),
    }  # fmt: skip
    db.close()
    return result


def _hours_ago(hours: float) -> float:
    return time.time() - hours * 3600


def run_worker(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--dir", type=Path, help="build the stores here (kept) instead of a temp dir")
    ns = parser.parse_args(argv)
    root = ns.dir or Path(tempfile.mkdtemp(prefix="bench-memory-"))
    print(f"# bench_memory  ({platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs)\n")
    print("command: .venv/bin/python bench/bench_memory.py " + " ".join(argv) + "\n")
    try:
        report_sustained(root, ns.seconds)
        report_stores(root, ns.events)
    finally:
        if ns.dir is None:
            shutil.rmtree(root, ignore_errors=True)


def report_sustained(root: Path, seconds: float) -> None:
    bare = run_worker("sustained", str(root / "bare"), "2000", "5", "none")
    probe = run_worker("sustained", str(root / "probe"), "2000", "5", "redact")
    rate = int(0.05 / (probe["cpu_s"] / probe["events"]) // 50 * 50)
    run = run_worker("sustained", str(root / "sustained"), str(rate), str(seconds), "redact")
    print("## Sustained appends (flush thread on, commit interval 1 s; whole-process CPU)\n")
    print("The hub's redactor (`jarvis.core.redact.redact`, 3 secrets registered) masks every event,")
    print("except in the first row.\n")
    print("| run | events/s | seconds | events | CPU ms | CPU % of one core | µs CPU / event | flushes "
          "| flush wall ms median / max |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, r in (("probe, no mask", bare), ("probe", probe), ("at the 5 % rate", run)):
        fl = sorted(s * 1e3 for s in r["flush_s"]) or [0.0]
        print(f"| {label} | {r['rate']:,.0f} | {r['wall_s']:.1f} | {r['events']:,} | {r['cpu_s'] * 1e3:,.0f} | "
              f"{r['cpu_s'] / r['wall_s'] * 100:.2f} % | {r['cpu_s'] / r['events'] * 1e6:.1f} | {len(r['flush_s'])} | "
              f"{statistics.median(fl):.1f} / {max(fl):.1f} |")  # fmt: skip
    print()


def report_stores(root: Path, total: int) -> None:
    small, big = root / "store-1k", root / "store-1m"
    build_small = build(small, 1000)
    results = {"1 k": run_worker("store", str(small))}
    build_big = build(big, total)
    results[f"{total / 1e6:g} M"] = run_worker("store", str(big))
    print(f"Built through the API: 1 k store in {build_small:.1f} s, {total:,}-event store in {build_big:.0f} s.\n")
    print("## Flush of +100 events (median of 10; the newest segment already holds 1,000 events)\n")
    print("| stored events | segments | open ms | flush CPU ms | flush wall ms | bytes written | files written |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, r in results.items():
        fl = r["flushes"]
        med = {k: statistics.median(f[k] for f in fl) for k in ("cpu_ms", "wall_ms", "bytes", "files")}
        print(f"| {label} ({r['records']:,}) | {r['segments']} | {r['open_ms']:.0f} | {med['cpu_ms']:.2f} | "
              f"{med['wall_ms']:.1f} | {med['bytes']:,.0f} | {med['files']:.0f} |")  # fmt: skip
    print()
    big_r = results[f"{total / 1e6:g} M"]
    print(f"## Queries at {big_r['records']:,} events (ms: first call after open, then median and p99 of 200)\n")
    print("| query | results | first | median | p99 |")
    print("|---|---:|---:|---:|---:|")
    for name, t in big_r["query_ms"].items():
        print(f"| `{name}` | {big_r['counts'][name]} | {t['first']:.2f} | {t['median']:.3f} | {t['p99']:.3f} |")
    print("\n## Text search over the last 30 days (900 k events; first call, then median of 2)\n")
    print("| search | hits (limit 50) | first ms | median ms |")
    print("|---|---:|---:|---:|")
    for name, t in big_r["search_ms"].items():
        print(f"| {name} | {big_r['search_hits'][name]} | {t['first']:.0f} | {t['median']:.0f} |")
    print("\n## Memory and disk\n")
    print("| stored events | RSS after open | RSS after all of the above | peak RSS | on disk |")
    print("|---|---:|---:|---:|---:|")
    for label, r in results.items():
        print(f"| {label} | {r['rss_open'] / 2**20:.1f} MiB | {r['rss_end'] / 2**20:.1f} MiB | "
              f"{r['maxrss'] / 2**20:.1f} MiB | {r['disk'] / 2**20:.1f} MiB |")  # fmt: skip
    print("\nkill -9 loses what was added after the start of the last completed flush: at most the commit")
    print("interval (1 s) plus one flush's duration (the 'flush wall ms' columns above).")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2:])
    else:
        main(sys.argv[1:])
