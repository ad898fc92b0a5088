"""Figures of issue 9: request round trips, the kill switch under load, requests across an outage.

    .venv/bin/python bench/bench_security.py rr          # QoS 0/1 round trip, Nagle on/off per side
    .venv/bin/python bench/bench_security.py killswitch  # autonomy off behind 100 slow requests
    .venv/bin/python bench/bench_security.py outage      # 100 QoS 1 requests sent during 10 s / 60 s outages

Everything is real: mosquitto started from mosquitto/ (accounts, ACL, persistence), the hub
with its MQTT bridge in this process, the PVE simulator in its own. Each figure is compared
in the same run with the behaviour before issue 9 (switched back by patching the module
constants that carry the fix), so the difference is the fix, not the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import paho.mqtt.client as paho
import requests
from bench_proxmox import spawn
from jarvis.core.config import parse_config
from jarvis.core.hub import Hub
from jarvis.core.runner import tune_gc
from jarvis.mqtt import client as link_module
from jarvis.mqtt.bridge import MqttBridge
from jarvis.mqtt.broker import MosquittoProcess
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

BASE = "jarvis"
ACCOUNTS = {"alice": ("operator", secrets.token_urlsafe(12)), "root": ("admin", secrets.token_urlsafe(12))}


def broker(*, nodelay: bool = True, persistence: bool = False) -> MosquittoProcess:
    """mosquitto from mosquitto/ with two users; ``nodelay=False`` drops ``set_tcp_nodelay``."""
    process = MosquittoProcess(mode="secure", accounts=dict(ACCOUNTS), persistence=persistence)
    if not nodelay:
        original = process.render_config
        process.render_config = lambda: original().replace("set_tcp_nodelay true", "set_tcp_nodelay false")  # type: ignore[method-assign]
    return process.start()


@contextlib.asynccontextmanager
async def hub_on(mosquitto: MosquittoProcess, extra: dict[str, Any] | None = None,
                 plugins: list[str] | None = None) -> AsyncIterator[tuple[Hub, MqttBridge]]:
    user, password = mosquitto.users["hub"]
    extra = dict(extra or {})
    raw = {"mqtt": {"host": mosquitto.host, "port": mosquitto.port, "username": user, "password": password,
                    **extra.pop("mqtt", {})},
           "web": {"enabled": False}, "auth": {"users_file": str(mosquitto.users_file)},
           "safety": {"rate_limit": {"per_tool_per_min": 10**6, "per_target_per_min": 10**6}}, **extra}
    tune_gc()  # as `jarvis run` does
    hub = Hub(parse_config(raw), plugins=plugins or [], entrypoints=False)
    await hub.start()
    bridge = MqttBridge(hub)
    await bridge.start()
    await bridge.wait_connected(20)
    try:
        yield hub, bridge
    finally:
        await bridge.stop()
        await hub.stop()


class Client:
    """A user's script: paho, its own session, requests in its topic space, replies counted."""

    def __init__(self, mosquitto: MosquittoProcess, user: str, *, durable: bool = False) -> None:
        self.user = user
        self.replies: dict[str, float] = {}
        self.arrived = threading.Condition()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5, client_id=user)
        self.client.username_pw_set(user, ACCOUNTS[user][1])
        self.client.reconnect_delay_set(0.05, 0.1)
        self.client.max_queued_messages_set(0)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(f"{BASE}/reply/{user}/#", qos=1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600 if durable else 0
        self.client.connect(mosquitto.host, mosquitto.port, clean_start=not durable, properties=props)
        self.client.loop_start()
        time.sleep(0.3)

    def _on_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        key = str(json.loads(message.payload).get("transaction"))
        with self.arrived:
            self.replies[key] = time.perf_counter()
            self.arrived.notify_all()

    def send(self, command: str, args: dict[str, Any], transaction: str, qos: int = 1) -> float:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = f"{BASE}/reply/{self.user}/bench"
        started = time.perf_counter()
        self.client.publish(f"{BASE}/user/{self.user}/bridge/request/{command}",
                            json.dumps({"args": args, "transaction": transaction}), qos=qos, properties=props)
        return started

    def wait(self, transaction: str, timeout: float) -> float | None:
        with self.arrived:
            self.arrived.wait_for(lambda: transaction in self.replies, timeout)
            return self.replies.get(transaction)

    def wait_all(self, count: int, timeout: float) -> None:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.replies) >= count, timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ordered):6.2f} ms   p99 {p99:6.2f} ms   (n={len(ordered)})"


# -- round trips -----------------------------------------------------------------------------------


async def round_trips(mosquitto: MosquittoProcess, qos: int, rounds: int) -> list[float]:
    client = Client(mosquitto, "alice")
    try:
        times = []
        for n in range(rounds + 20):
            started = client.send("plugins", {}, f"{qos}-{n}", qos)
            arrived = await asyncio.to_thread(client.wait, f"{qos}-{n}", 5)
            if arrived is not None and n >= 20:  # the first ones warm up both ends
                times.append((arrived - started) * 1000)
        return times
    finally:
        client.close()


def mosquitto_rr(mosquitto: MosquittoProcess, qos: int, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(["mosquitto_rr", "-h", mosquitto.host, "-p", str(mosquitto.port), "-u", "alice",
                        "-P", ACCOUNTS["alice"][1], "-q", str(qos), "-t", f"{BASE}/user/alice/bridge/request/plugins",
                        "-e", f"{BASE}/reply/alice/rr", "-m", "{}", "-W", "5"], capture_output=True, check=True)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def bench_rr(rounds: int) -> None:
    print(f"sequential request -> reply on loopback (bridge/request/plugins), {rounds} requests each")
    shipped = link_module.NO_DELAY
    for hub_nodelay, broker_nodelay, label in ((True, True, "both (shipped)"), (True, False, "hub only"),
                                               (False, True, "broker only"), (False, False, "neither (before)")):
        link_module.NO_DELAY = shipped if hub_nodelay else ()  # type: ignore[misc]
        mosquitto = broker(nodelay=broker_nodelay)
        try:
            async with hub_on(mosquitto):
                for qos in (0, 1):
                    print(f"  TCP_NODELAY {label:<17} QoS {qos}: {summary(await round_trips(mosquitto, qos, rounds))}")
                if hub_nodelay and broker_nodelay:
                    for qos in (0, 1):
                        # In a thread: the hub shares this event loop and must answer meanwhile.
                        whole = summary(await asyncio.to_thread(mosquitto_rr, mosquitto, qos, 50))
                        print(f"  one mosquitto_rr process (connect included) QoS {qos}: {whole}")
        finally:
            mosquitto.close()
            link_module.NO_DELAY = shipped


# -- the kill switch -------------------------------------------------------------------------------


async def bench_killswitch(queued: int, slow_ms: int) -> None:
    sim_proc, info = spawn(4, 12, 5.0)
    admin_headers = {"Authorization": f"PVEAPIToken={info['token_id']}={info['token_secret']}"}

    def fault(method: str, body: Any = None) -> None:
        requests.request(method, f"{info['url']}/_sim/faults", json=body, headers=admin_headers,
                         verify=info["ca_file"], timeout=30)

    proxmox = {"plugins": {"proxmox": {"endpoints": [info["url"]], "token_id": info["token_id"],
                                       "token_secret": info["token_secret"], "ca_file": info["ca_file"],
                                       "timeout_s": slow_ms / 1000 + 20,
                                       "intervals": {"fast_s": 3600, "node_s": 3600, "storage_s": 3600}}}}
    print(f"autonomy off (admin) behind {queued} proxmox.guest_status requests, PVE answering in {slow_ms} ms")
    try:
        for bypass in (True, False):
            mosquitto = broker()
            try:
                async with hub_on(mosquitto, proxmox, plugins=["proxmox"]) as (hub, bridge):
                    await hub.refresh()
                    if not bypass:  # before: one pool for every message
                        bridge.link.is_control = lambda _topic: False
                    fault("POST", {"kind": "latency", "ms": slow_ms})
                    busy, root = Client(mosquitto, "alice"), Client(mosquitto, "root")
                    for n in range(queued):
                        busy.send("tool/proxmox.guest_status", {"vmid": 100 + n % 12}, f"b{n}")
                    await asyncio.sleep(1.0)
                    started = root.send("autonomy", {"mode": "off"}, "off")
                    arrived = await asyncio.to_thread(root.wait, "off", 120)
                    took = "no reply in 120 s" if arrived is None else f"{(arrived - started) * 1000:8.1f} ms"
                    print(f"  {'control bypass (now)' if bypass else 'shared pool (before)':<22}: {took}")
                    fault("DELETE")
                    busy.close()
                    root.close()
            finally:
                mosquitto.close()
    finally:
        sim_proc.terminate()


# -- outages ---------------------------------------------------------------------------------------


async def bench_outage(outages: list[float], count: int) -> None:
    print(f"{count} QoS 1 requests sent during a broker outage (persistence on); answered afterwards")
    for outage in outages:
        for now in (True, False):
            if not now:  # before: a clean session, a backoff growing to 30 s
                link_module.FIRST_BACKOFF_S = 1.0  # type: ignore[misc]
            mosquitto = broker(persistence=True)
            extra = {"mqtt": {"reconnect_max_s": 3 if now else 30}}
            original = link_module.BrokerLink._client_for
            if not now:
                def clean(self: Any, protocol: str, original: Any = original) -> Any:
                    client = original(self, protocol)
                    client._clean_start = True
                    client._properties = None
                    return client
                link_module.BrokerLink._client_for = clean  # type: ignore[method-assign]
            try:
                async with hub_on(mosquitto, extra):
                    client = Client(mosquitto, "alice", durable=True)
                    await asyncio.to_thread(mosquitto.stop)
                    for n in range(count):
                        client.send("plugins", {}, f"o{n}")
                        await asyncio.sleep(outage / 2 / count)
                    await asyncio.sleep(outage / 2)
                    back = time.perf_counter()
                    await asyncio.to_thread(mosquitto.restart)
                    await asyncio.to_thread(client.wait_all, count, 60)
                    last = max(client.replies.values(), default=back)
                    label = ("persistent session, backoff <= 3 s (now)" if now
                             else "clean session, backoff to 30 s (before)")
                    print(f"  outage {outage:4.0f} s, {label:<42}: {len(client.replies):3d}/{count} answered, "
                          f"the last {max(0.0, last - back):5.1f} s after the broker was back")
                    client.close()
            finally:
                link_module.BrokerLink._client_for = original  # type: ignore[method-assign]
                link_module.FIRST_BACKOFF_S = 0.5  # type: ignore[misc]
                mosquitto.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["rr", "killswitch", "outage", "all"])
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--queued", type=int, default=100)
    parser.add_argument("--slow-ms", type=int, default=10_000)
    parser.add_argument("--outages", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--count", type=int, default=100)
    ns = parser.parse_args()
    if ns.what in ("rr", "all"):
        asyncio.run(bench_rr(ns.rounds))
    if ns.what in ("killswitch", "all"):
        asyncio.run(bench_killswitch(ns.queued, ns.slow_ms))
    if ns.what in ("outage", "all"):
        asyncio.run(bench_outage(ns.outages, ns.count))


if __name__ == "__main__":
    main()
