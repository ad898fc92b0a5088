"""Benchmark the state publisher: throughput through a real mosquitto, and CPU when little changes.

    .venv/bin/python bench/bench_publisher.py [--entities 1000 10000] [--cycles 20] [--repeat 3]

(a) messages/s: N entities that all changed, StateStore -> StatePublisher -> BrokerLink ->
    mosquitto -> a `mosquitto_sub` process counting arrivals. Reference: a bare paho loop
    publishing the same payloads (no store, no diffing).
(b) CPU per cycle of 1,000 entities that did not change, and of 1,000 whose noisy metrics
    stay inside their deadbands; compared with a naive peer that publishes every entity every
    cycle with paho, and with change-only publishing without deadbands.
Prints markdown tables. Starts its own mosquitto (demo mode, free loopback ports).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from jarvis.core import Entity, Snapshot
from jarvis.core.config import MqttConfig
from jarvis.core.state import StateStore
from jarvis.mqtt.broker import MosquittoProcess, find_binary, start_mosquitto
from jarvis.mqtt.client import BrokerLink
from jarvis.mqtt.publisher import StatePublisher, encode


def guest(i: int, rng: random.Random, **changes: Any) -> dict[str, Any]:
    """A guest state payload shaped like the Proxmox plugin's (about 330 bytes of JSON)."""
    data: dict[str, Any] = {
        "vmid": 100 + i, "type": "qemu", "node": f"pve{i % 4 + 1}", "name": f"guest-{i}", "status": "running",
        "cpu_pct": 12.0, "mem_used": 2_000_000_000, "mem_total": 4_294_967_296, "disk_used": 10_000_000_000,
        "disk_total": 34_359_738_368, "uptime_s": 86_400, "netin": 1_000_000_000, "netout": 500_000_000,
        "tags": ["bench"], "template": False, "lock": None, "ha_state": None,
    }
    data.update(changes)
    return data


def snapshot(entities: dict[int, dict[str, Any]]) -> Snapshot:
    """A complete snapshot with fresh dict objects, as a poll would return."""
    return Snapshot([Entity(("guest", str(i), "state"), dict(d)) for i, d in entities.items()])


def wait_all(infos: list[paho.MQTTMessageInfo]) -> None:
    """Block until paho has written every message to the socket."""
    for info in infos:
        info.wait_for_publish(30)


async def noop(*_args: Any) -> None:
    """Ignore connects and incoming messages."""


async def connect_link(broker: MosquittoProcess, client_id: str) -> tuple[BrokerLink, asyncio.Task[None]]:
    """A connected BrokerLink (the hub's own client) to the bench broker."""
    config = MqttConfig(host=broker.host, port=broker.port, client_id=client_id)
    link = BrokerLink(config, will_topic=f"{client_id}/state", will_payload=b"offline",
                      on_connect=noop, on_message=noop)
    task = asyncio.create_task(link.run())
    await asyncio.wait_for(link.connected.wait(), 10)
    return link, task


class Counter:
    """A `mosquitto_sub` process counting messages under a topic filter."""

    def __init__(self, broker: MosquittoProcess, base: str, expected: int) -> None:
        self.broker, self.base, self.expected = broker, base, expected
        self.process: asyncio.subprocess.Process | None = None
        self.received = 0
        self.last_at = 0.0

    async def start(self) -> None:
        """Start mosquitto_sub and return once it is subscribed (it saw the retained marker)."""
        ready = paho.Client(paho.CallbackAPIVersion.VERSION2)
        ready.connect(self.broker.host, self.broker.port)
        ready.loop_start()
        ready.publish(f"{self.base}/ready", b"1", qos=1, retain=True).wait_for_publish(5)
        ready.loop_stop()
        ready.disconnect()
        sub = find_binary("mosquitto_sub")
        assert sub is not None, "apt-get install -y mosquitto-clients"
        self.process = await asyncio.create_subprocess_exec(
            sub, "-h", self.broker.host, "-p", str(self.broker.port), "-t", f"{self.base}/#", "-F", "%t",
            "-C", str(self.expected + 1), "-W", "60", stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        await asyncio.wait_for(self.process.stdout.readline(), 10)

    async def drain(self) -> None:
        """Count arrivals until mosquitto_sub exits."""
        assert self.process is not None and self.process.stdout is not None
        async for _line in self.process.stdout:
            self.received += 1
            self.last_at = time.perf_counter()
        await self.process.wait()


async def throughput_publisher(broker: MosquittoProcess, n: int, rng: random.Random) -> dict[str, Any]:
    """N changed entities through StateStore + StatePublisher + BrokerLink."""
    base = f"tp{n}-{rng.randrange(10**6)}"
    link, task = await connect_link(broker, f"bench-{base}")
    publisher = StatePublisher(base, link.publish_retained)
    store = StateStore()
    store.subscribe(publisher.on_changes)
    counter = Counter(broker, base, n)
    await counter.start()
    draining = asyncio.create_task(counter.drain())
    started = time.perf_counter()
    cpu = time.process_time()
    store.apply("bench", snapshot({i: guest(i, rng, status="stopped") for i in range(n)}))
    sent = await publisher.flush()
    published_at = time.perf_counter()
    cpu_ms = (time.process_time() - cpu) * 1000
    await asyncio.wait_for(draining, 90)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    elapsed = counter.last_at - started
    return {"n": n, "sent": sent, "received": counter.received, "publish_s": published_at - started,
            "elapsed_s": elapsed, "rate": counter.received / elapsed, "cpu_ms": cpu_ms}


async def throughput_paho(broker: MosquittoProcess, n: int, rng: random.Random) -> dict[str, Any]:
    """Reference: a bare paho loop publishing the same payloads (threaded network loop)."""
    base = f"paho{n}-{rng.randrange(10**6)}"
    counter = Counter(broker, base, n)
    await counter.start()
    draining = asyncio.create_task(counter.drain())
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5, client_id=f"bench-{base}")
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    payloads = [(f"{base}/guest/{i}/state", encode(guest(i, rng, status="stopped"))) for i in range(n)]
    started = time.perf_counter()
    cpu = time.process_time()
    infos = [client.publish(topic, payload, qos=0, retain=True) for topic, payload in payloads]
    await asyncio.to_thread(wait_all, infos)
    published_at = time.perf_counter()
    cpu_ms = (time.process_time() - cpu) * 1000
    await asyncio.wait_for(draining, 90)
    client.loop_stop()
    client.disconnect()
    elapsed = counter.last_at - started
    return {"n": n, "sent": n, "received": counter.received, "publish_s": published_at - started,
            "elapsed_s": elapsed, "rate": counter.received / elapsed, "cpu_ms": cpu_ms}


def noisy(base: dict[str, Any], rng: random.Random, cycle: int) -> dict[str, Any]:
    """The same guest with metrics wobbling inside the default deadbands."""
    return {**base, "cpu_pct": base["cpu_pct"] + rng.uniform(-0.9, 0.9),
            "mem_used": int(base["mem_used"] * (1 + rng.uniform(-0.009, 0.009))),
            "netin": base["netin"] + cycle * 1000, "netout": base["netout"] + cycle * 500,
            "uptime_s": base["uptime_s"] + cycle * 10}


async def steady_cycles(
    broker: MosquittoProcess, label: str, cycles: int, make: Callable[[int], dict[int, dict[str, Any]]],
    deadbands: dict[str, float] | None = None, relative: dict[str, float] | None = None,
) -> dict[str, Any]:
    """CPU ms and messages per cycle after the first, through store + publisher + link."""
    link, task = await connect_link(broker, f"bench-{label}")
    publisher = StatePublisher(label, link.publish_retained, deadbands, relative)
    store = StateStore()
    store.subscribe(publisher.on_changes)
    store.apply("bench", snapshot(make(0)))
    await publisher.flush()
    before = link.counters["published"]
    cpu_ms: list[float] = []
    for cycle in range(1, cycles + 1):
        entities = make(cycle)  # building the poll result is the source's cost, not ours
        started = time.process_time()
        store.apply("bench", snapshot(entities))
        await publisher.flush()
        cpu_ms.append((time.process_time() - started) * 1000)
    messages = (link.counters["published"] - before) / cycles
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return {"label": label, "cpu_ms": statistics.median(cpu_ms), "messages": messages}


async def steady_naive(broker: MosquittoProcess, cycles: int, make: Callable[[int], dict[int, dict[str, Any]]]
                       ) -> dict[str, Any]:
    """A naive peer: publish every entity every cycle with paho, no comparison at all."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5, client_id="bench-naive")
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    cpu_ms: list[float] = []
    sent = 0
    for cycle in range(1, cycles + 1):
        entities = make(cycle)
        started = time.process_time()
        infos = [client.publish(f"naive/guest/{i}/state", json.dumps(d, separators=(",", ":")), retain=True)
                 for i, d in entities.items()]
        await asyncio.to_thread(wait_all, infos)
        cpu_ms.append((time.process_time() - started) * 1000)
        sent += len(infos)
    client.loop_stop()
    client.disconnect()
    return {"label": "naive", "cpu_ms": statistics.median(cpu_ms), "messages": sent / cycles}


async def main(argv: list[str]) -> None:
    """Run both benchmarks and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs per throughput row (median shown)")
    ns = parser.parse_args(argv)
    rng = random.Random(ns.seed)
    broker = await start_mosquitto(mode="demo")
    try:
        print(f"# bench_publisher  ({platform.python_version()}, {platform.machine()}, "
              f"mosquitto on 127.0.0.1:{broker.port})\n")
        print("command: .venv/bin/python bench/bench_publisher.py " + " ".join(argv) + "\n")
        print("## (a) throughput: N changed entities, retained QoS 0, counted by a mosquitto_sub process\n")
        print(f"median of {ns.repeat} runs (msgs/s range in brackets)\n")
        print("| path | entities | received | publish done (s) | last arrival (s) | msgs/s | CPU ms |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for n in ns.entities:
            for name, run in (("StateStore+StatePublisher+BrokerLink", throughput_publisher),
                              ("bare paho loop (reference)", throughput_paho)):
                runs = [await run(broker, n, rng) for _ in range(ns.repeat)]
                runs.sort(key=lambda r: r["rate"])
                r = runs[len(runs) // 2]
                print(f"| {name} | {n} | {r['received']}/{r['sent']} | {r['publish_s']:.3f} | "
                      f"{r['elapsed_s']:.3f} | {r['rate']:,.0f} [{runs[0]['rate']:,.0f}-{runs[-1]['rate']:,.0f}] | "
                      f"{r['cpu_ms']:.0f} |")

        count = 1000
        bases = {i: guest(i, rng) for i in range(count)}
        print(f"\n## (b) steady state: {count} entities, median of {ns.cycles} cycles after the first\n")
        print("| workload | publisher | CPU ms / cycle | messages / cycle |")
        print("|---|---|---:|---:|")

        def unchanged(_cycle: int) -> dict[int, dict[str, Any]]:
            return bases

        def wobbling(cycle: int) -> dict[int, dict[str, Any]]:
            return {i: noisy(d, rng, cycle) for i, d in bases.items()}

        no_bands = {f: 0.0 for f in ("cpu_pct", "load", "temperature_c", "used_pct", "uptime_s", "rtt_ms")}
        no_relative = {f: 0.0 for f in ("mem_used", "disk_used", "used", "netin", "netout")}
        rows = [
            ("unchanged", "StatePublisher (change-only)", await steady_cycles(broker, "same", ns.cycles, unchanged)),
            ("unchanged", "naive: paho, every entity every cycle", await steady_naive(broker, ns.cycles, unchanged)),
            ("noise inside deadbands", "StatePublisher (deadbands)",
             await steady_cycles(broker, "noisy", ns.cycles, wobbling)),
            ("noise inside deadbands", "change-only, deadbands off",
             await steady_cycles(broker, "nobands", ns.cycles, wobbling, no_bands, no_relative)),
            ("noise inside deadbands", "naive: paho, every entity every cycle",
             await steady_naive(broker, ns.cycles, wobbling)),
        ]
        for workload, label, r in rows:
            print(f"| {workload} | {label} | {r['cpu_ms']:.1f} | {r['messages']:.0f} |")
    finally:
        await broker.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
