"""Measure a running hub's CPU per fast cycle: `jarvis run` against the simulator and mosquitto.

    .venv/bin/python bench/bench_hub.py --nodes 50 --guests 5000

This is the figure a user sees in `top`: the whole hub process (HTTP, JSON, parsing, the state
store, deadbands, encoding and the MQTT client writing to a real mosquitto, garbage collection,
the event loop) over a window of steady-state fast cycles, divided by the cycles the simulator
served in that window. The simulator and the broker run in their own processes and are not
counted. Two runs: the fast tier alone (node and storage tiers polled once at start-up, before
the window), then the default intervals (10 s / 30 s / 300 s) with every tier amortised.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psutil
from bench_proxmox import Admin, spawn
from jarvis.mqtt.broker import start_demo_broker


class Counter:
    """Counts the messages the hub publishes, as any subscriber would receive them."""

    def __init__(self, port: int) -> None:
        self.count = 0
        self.bytes = 0
        self.health: list[dict[str, Any]] = []
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-counter")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe("jarvis/#")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        self.count += 1
        self.bytes += len(message.payload)
        if message.topic == "jarvis/bridge/health":
            self.health.append(json.loads(message.payload))

    def stop(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()


def hub_config(info: dict[str, Any], mqtt_port: int, intervals: dict[str, float]) -> dict[str, Any]:
    """Return a config.yaml (as a dict) for the hub against the simulator and the broker."""
    return {
        # Health as often as the fast cycle: it carries each poll's and each flush's CPU.
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "base_topic": "jarvis",
                 "health_interval_s": intervals["fast_s"]},
        "hub": {"log_level": "WARNING"},
        "web": {"enabled": False},
        "plugins": {
            "proxmox": {
                "endpoints": [info["url"]], "token_id": info["token_id"],
                "token_secret": info["token_secret"], "fingerprint": info["fingerprint"],
                "timeout_s": 60, "intervals": intervals,
            },
        },
    }


def measure(info: dict[str, Any], admin: Admin, mqtt_port: int, intervals: dict[str, float],
            warmup_s: float, window_s: float, windows: int) -> dict[str, Any]:
    """Run one hub, wait ``warmup_s``, then measure its CPU over ``windows`` windows.

    Several windows, and the median of them, because a shared machine's neighbours make any
    single window noisy.
    """
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(json.dumps(hub_config(info, mqtt_port, intervals)))  # JSON is YAML
        hub = subprocess.Popen([str(Path(sys.executable).with_name("jarvis")), "run", "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        counter = Counter(mqtt_port)
        try:
            time.sleep(warmup_s)
            if hub.poll() is not None:
                raise SystemExit(f"the hub exited: {hub.stderr.read() if hub.stderr else ''}")
            process = psutil.Process(hub.pid)
            samples = [one_window(process, admin, counter, window_s) for _ in range(windows)]
            result = dict(samples[0])
            for key in result:
                result[key] = statistics.median(s[key] for s in samples)
            result["cycles"] = sum(s["cycles"] for s in samples)
            result["api_calls"] = sum(s["api_calls"] for s in samples)
            result["windows"] = [round(s["per_cycle_ms"], 1) for s in samples]
            result["rss_mib"] = process.memory_info().rss / 2**20
            return result
        finally:
            counter.stop()
            hub.terminate()
            try:
                hub.wait(20)
            except subprocess.TimeoutExpired:
                hub.kill()


def one_window(process: psutil.Process, admin: Admin, counter: Counter, window_s: float) -> dict[str, float]:
    """Measure the hub's CPU, the cycles served and the messages received over one window."""
    admin.reset()
    messages, sent, healths = counter.count, counter.bytes, len(counter.health)
    before, started = process.cpu_times(), time.monotonic()
    time.sleep(window_s)
    after, elapsed = process.cpu_times(), time.monotonic() - started
    total, endpoints = admin.calls()
    cycles = max(endpoints.get("GET /cluster/resources", 0), 1)
    cpu_ms = (after.user + after.system - before.user - before.system) * 1000
    health = counter.health[healths:]
    polls = [h["sources"]["proxmox:cluster"]["cpu_ms"] for h in health
             if "cpu_ms" in h.get("sources", {}).get("proxmox:cluster", {})]
    flushes = [h["mqtt"]["last_flush"]["cpu_ms"] for h in health
               if h["mqtt"].get("last_flush", {}).get("changes", 0) > 100]
    return {
        "poll_ms": statistics.median(polls) if polls else float("nan"),
        "flush_ms": statistics.median(flushes) if flushes else float("nan"),
        "cycles": cycles, "api_calls": total, "per_cycle_ms": cpu_ms / cycles,
        "user_ms": (after.user - before.user) * 1000 / cycles,
        "system_ms": (after.system - before.system) * 1000 / cycles,
        "messages": (counter.count - messages) / cycles,
        "kbytes": (counter.bytes - sent) / 1024 / cycles,
        "cpu_pct": cpu_ms / 10 / elapsed,
    }


async def start_broker() -> Any:
    """Start the demo broker (mosquitto, loopback, anonymous)."""
    return await start_demo_broker(0, 0)


def main() -> None:
    """Run both scenarios and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--guests", type=int, default=5000)
    parser.add_argument("--fast", type=float, default=2.0, help="fast interval of the first run (s)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per window, first run")
    parser.add_argument("--windows", type=int, default=5, help="windows per run (median reported)")
    parser.add_argument("--warmup-cycles", type=int, default=10,
                        help="fast cycles before measuring: a fresh process is up to 40 %% faster")
    parser.add_argument("--default-window", type=float, default=60.0,
                        help="seconds per window with the default intervals (0 skips that run)")
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    broker = loop.run_until_complete(start_broker())
    # Each fast cycle sees fresh metrics: the simulator ticks as often as the hub polls.
    proc, info = spawn(args.nodes, args.guests, args.fast)
    rows = []
    try:
        admin = Admin(info)
        fast_only = {"fast_s": args.fast, "node_s": 86400, "storage_s": 86400}
        rows.append((f"fast tier only, every {args.fast:g} s", measure(
            info, admin, broker.port, fast_only, warmup_s=6 + args.warmup_cycles * args.fast, window_s=args.window,
            windows=args.windows)))
        if args.default_window:
            proc.terminate()
            proc.wait(10)
            proc, info = spawn(args.nodes, args.guests, 10.0)
            admin = Admin(info)
            defaults = {"fast_s": 10, "node_s": 30, "storage_s": 300}
            rows.append(("default intervals 10/30/300 s, all tiers amortised", measure(
                info, admin, broker.port, defaults, warmup_s=6 + args.warmup_cycles * 10, window_s=args.default_window,
                windows=max(1, args.windows // 2))))
    finally:
        proc.terminate()
        proc.wait(10)
        loop.run_until_complete(broker.aclose())
    print(f"## Hub process CPU per fast cycle: {args.nodes} nodes x {args.guests} guests "
          f"(cpus: {os.cpu_count()})\n")
    print("| run | fast cycles | API calls | CPU ms per fast cycle, median of windows (user + sys) "
          "| each window | of which: poll + store / publish (as the hub reports them) "
          "| MQTT msgs per cycle | KiB per cycle | hub CPU % | RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['cycles']} | {r['api_calls']} | **{r['per_cycle_ms']:.0f}** "
              f"({r['user_ms']:.0f} + {r['system_ms']:.0f}) | {' '.join(map(str, r['windows']))} "
              f"| {r['poll_ms']:.0f} / {r['flush_ms']:.0f} "
              f"| {r['messages']:.0f} | {r['kbytes']:.0f} | {r['cpu_pct']:.1f} | {r['rss_mib']:.0f} |")


if __name__ == "__main__":
    threading.excepthook = lambda hook_args: None  # a counter thread dying at exit is not news
    main()
