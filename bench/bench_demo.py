"""Benchmark `jarvis demo`: process start to `bridge/state` online and to the whole cluster on MQTT.

    .venv/bin/python bench/bench_demo.py [--runs 5]

Each run starts `jarvis demo` on free ports (its own mosquitto, the simulator in a subprocess,
hub, dashboard) and a paho subscriber on `jarvis/#` that connects as soon as the broker
listens. It records when `bridge/state` says online, when `cluster/state` lists 4 nodes with
every guest's state published, and the hub process's RSS after 5 s. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psutil
from jarvis.mqtt.broker import find_free_port

JARVIS = str(Path(sys.executable).with_name("jarvis"))


def one_run(guests: int) -> dict[str, float]:
    """Start the demo once; return seconds to online, to the full cluster, and RSS in MiB."""
    port = find_free_port()
    seen: dict[str, Any] = {}
    marks: dict[str, float] = {}
    done = threading.Event()

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        now = time.monotonic()
        seen[msg.topic] = json.loads(msg.payload) if msg.payload else None
        if msg.topic == "jarvis/bridge/state" and (seen[msg.topic] or {}).get("state") == "online":
            marks.setdefault("online", now)
        cluster = seen.get("jarvis/cluster/state") or {}
        states = [t for t in seen if t.startswith("jarvis/guest/") and t.endswith("/state")]
        if cluster.get("nodes_total") == 4 and len(states) >= cluster.get("guests_total", guests):
            marks.setdefault("cluster", now)
            done.set()

    started = time.monotonic()
    proc = subprocess.Popen(
        [JARVIS, "demo", "--mqtt-port", str(port), "--ws-port", "0", "--http-port", "0", "--guests", str(guests)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_connect = lambda c, *_: c.subscribe("jarvis/#")
    client.on_message = on_message
    try:
        while True:
            try:
                client.connect("127.0.0.1", port)
                break
            except OSError:
                time.sleep(0.01)
        client.loop_start()
        if not done.wait(30):
            raise SystemExit("the demo did not publish its cluster within 30 s")
        time.sleep(max(0.0, 5 - (time.monotonic() - started)))
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        client.loop_stop()
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    return {"online": marks["online"] - started, "cluster": marks["cluster"] - started, "rss": rss}


def main() -> None:
    """Run the demo several times and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--guests", type=int, default=12)
    args = parser.parse_args()
    rows = [one_run(args.guests) for _ in range(args.runs)]
    print(f"# bench_demo  ({platform.python_version()}, {platform.machine()}, {psutil.cpu_count()} CPUs)\n")
    print(f"command: .venv/bin/python bench/bench_demo.py --runs {args.runs} --guests {args.guests}\n")
    print("| measure | median | min | max |\n|---|---:|---:|---:|")
    for key, label, scale, unit in (("online", "start -> bridge/state online", 1000, "ms"),
                                    ("cluster", "start -> 4 nodes and every guest on MQTT", 1000, "ms"),
                                    ("rss", "hub process RSS after 5 s (simulator apart)", 1, "MiB")):
        values = [r[key] * scale for r in rows]
        print(f"| {label} | {statistics.median(values):.0f} {unit} | {min(values):.0f} | {max(values):.0f} |")


if __name__ == "__main__":
    main()
