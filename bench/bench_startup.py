"""Benchmark hub start-up: process start to `bridge/state` online, and idle RSS.

    .venv/bin/python bench/bench_startup.py [--runs 5] [--idle 5]

Each run starts `jarvis run -c <config>` (the MQTT bridge only: no plugins, no dashboard)
against a mosquitto started by this script, and times from just before the process is spawned
until a subscriber sees `{"state":"online"}` on `jarvis/bridge/state`. After `--idle` seconds
the hub's RSS is read with psutil. Reference rows: a bare interpreter, and importing the hub.
Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import psutil
import yaml
from jarvis.mqtt.broker import MosquittoProcess

BASE = "jarvis"


class OnlineWatcher:
    """A paho subscriber that records when bridge/state says online."""

    def __init__(self, broker: MosquittoProcess) -> None:
        self.online_at: float | None = None
        self.arrived = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        # Forget the previous run's retained state, then listen.
        self.client.publish(f"{BASE}/bridge/state", b"", qos=1, retain=True).wait_for_publish(5)
        self.client.subscribe(f"{BASE}/bridge/state", qos=1)
        time.sleep(0.2)  # let the SUBACK arrive before the hub starts

    def _on_message(self, _client: object, _userdata: object, message: paho.MQTTMessage) -> None:
        if message.payload == b'{"state":"online"}' and self.online_at is None:
            self.online_at = time.perf_counter()
            self.arrived.set()

    def close(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()


def one_run(broker: MosquittoProcess, config: Path, idle_s: float) -> tuple[float, int]:
    """Start the hub once; return (seconds to online, RSS bytes after idling)."""
    watcher = OnlineWatcher(broker)
    jarvis = Path(sys.executable).with_name("jarvis")
    env = {**os.environ, "JARVIS_LOAD_PLUGINS": ""}
    started = time.perf_counter()
    process = subprocess.Popen([str(jarvis), "run", "-c", str(config)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not watcher.arrived.wait(60):
            raise RuntimeError("the hub never said online")
        assert watcher.online_at is not None
        to_online = watcher.online_at - started
        time.sleep(idle_s)
        rss = psutil.Process(process.pid).memory_info().rss
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        watcher.close()
    return to_online, rss


def timed(cmd: list[str], runs: int) -> float:
    """Median wall time of a command."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str]) -> None:
    """Run the benchmark and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=5.0)
    ns = parser.parse_args(argv)
    with MosquittoProcess(mode="demo") as broker, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(yaml.safe_dump({
            "mqtt": {"host": broker.host, "port": broker.port, "client_id": "bench-startup"},
            "web": {"enabled": False},
        }))
        results = [one_run(broker, config, ns.idle) for _ in range(ns.runs)]
        python_s = timed([sys.executable, "-c", "pass"], ns.runs)
        import_s = timed([sys.executable, "-c", "import jarvis.core.runner, jarvis.mqtt.bridge"], ns.runs)
    to_online = [r[0] for r in results]
    rss = [r[1] for r in results]
    print(f"# bench_startup  ({platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs)\n")
    print("command: .venv/bin/python bench/bench_startup.py " + " ".join(argv))
    print("hub command: JARVIS_LOAD_PLUGINS= .venv/bin/jarvis run -c config.yaml  (mqtt block only, web off)\n")
    print("| measure | median | min | max | runs |")
    print("|---|---:|---:|---:|---:|")
    print(f"| process start -> bridge/state online | {statistics.median(to_online) * 1000:.0f} ms | "
          f"{min(to_online) * 1000:.0f} ms | {max(to_online) * 1000:.0f} ms | {ns.runs} |")
    print(f"| idle RSS after {ns.idle:g} s | {statistics.median(rss) / 2**20:.1f} MiB | {min(rss) / 2**20:.1f} MiB | "
          f"{max(rss) / 2**20:.1f} MiB | {ns.runs} |")
    print(f"| reference: `python -c pass` | {python_s * 1000:.0f} ms | | | {ns.runs} |")
    print(f"| reference: `python -c 'import jarvis.core.runner, jarvis.mqtt.bridge'` | {import_s * 1000:.0f} ms "
          f"| | | {ns.runs} |")


if __name__ == "__main__":
    main(sys.argv[1:])
