"""``jarvis demo``: a private broker, a simulated cluster, the hub and the dashboard, locally."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from jarvis.core.config import parse_config
from jarvis.core.plugins import DEFAULT_PLUGINS
from jarvis.core.runner import stop_event, tune_gc
from jarvis.mqtt.broker import start_demo_broker

log = logging.getLogger("jarvis.demo")
DEFAULT_PORTS = {"mqtt_port": 1883, "ws_port": 9001, "http_port": 8080}


class PortBusy(Exception):
    """An explicitly requested port is taken."""


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Return True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(name: str, requested: int, argv: list[str]) -> int:
    """Keep a free port; a busy default becomes 0 (free), a busy explicit one is an error."""
    if requested == 0 or port_free(requested):
        return requested
    flag = "--" + name.replace("_", "-")
    if any(a == flag or a.startswith(flag + "=") for a in argv):
        raise PortBusy(f"{flag} {requested}: the port is in use; pick another or pass {flag} 0 for a free one")
    log.warning("port %s is in use (another broker or dashboard?): using a free port instead", requested)
    return 0


def demo_config(ns: argparse.Namespace, broker: Any, sim: Any, http_port: int) -> dict[str, Any]:
    """Build the demo's config: anonymous loopback broker, the simulator as the cluster."""
    embedded = not hasattr(broker, "pid")
    return {
        "mqtt": {
            "host": "127.0.0.1",
            "port": broker.port,
            "base_topic": ns.base_topic,
            "protocol": "3.1.1" if embedded else "auto",
            "health_interval_s": 60,
        },
        "web": {"host": "127.0.0.1", "port": http_port, "mqtt_ws_url": f"ws://127.0.0.1:{broker.ws_port}"},
        "safety": {"autonomy": "notify", "protected": {"guests": [], "nodes": []}},
        # The loopback broker is anonymous: whoever is on it is the local admin, so every example
        # of docs/mqtt.md works without credentials (a production broker has accounts and roles).
        "auth": {"anonymous_role": "admin"},
        "plugins": {
            "proxmox": {
                "endpoints": [sim.url],
                "token_id": sim.token_id,
                "token_secret": sim.token_secret,
                "ca_file": sim.ca_file,
                "intervals": {"fast_s": 5, "node_s": 15, "storage_s": 60},
            },
            "network": {"hosts": {"localhost": {"address": "127.0.0.1"}}},
            "memory": {"path": str(demo_memory_dir(ns))},
        },
    }


def demo_memory_dir(ns: argparse.Namespace) -> Path:
    """Where the demo's memory lives: ``--memory-dir``, else ``<data dir>/demo/memory`` (kept between runs)."""
    if getattr(ns, "memory_dir", None):
        return Path(ns.memory_dir).expanduser()
    from jarvis.plugins.memory.config import data_dir

    return data_dir() / "demo" / "memory"


# Imported by preload(), not at the top: the broker and the simulator start first, so their
# start-up overlaps these imports (the slow part of start-up, ~0.8 s).
HEAVY_MODULES = ("jarvis.app.runner", *DEFAULT_PLUGINS.values())


def preload() -> None:
    """Import the hub, the bridge and the in-tree plugins now, while the broker starts."""
    for module in HEAVY_MODULES:
        importlib.import_module(module)


class SimulatorProcess:
    """The PVE simulator in its own process: its start-up overlaps the hub's, and its CPU
    never counts as the hub's."""

    def __init__(self, nodes: int, guests: int, seed: int | None) -> None:
        command = [sys.executable, "-m", "jarvis.plugins.proxmox.sim", "serve", "--port", "0", "--json",
                   "--nodes", str(nodes), "--guests", str(guests)]
        if seed is not None:
            command += ["--seed", str(seed)]
        # Its own session, so a Ctrl-C reaches only the demo, which then stops it in order.
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.url = self.token_id = self.token_secret = self.ca_file = ""

    async def ready(self, within_s: float = 30.0) -> SimulatorProcess:
        """Wait for the simulator's JSON line (URL, token, CA file)."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(within_s):
            line = await asyncio.to_thread(self.proc.stdout.readline)
        if not line:
            raise RuntimeError(f"the PVE simulator exited with status {self.proc.wait()}")
        details = json.loads(line)
        self.url, self.ca_file = details["url"], details["ca_file"]
        self.token_id, self.token_secret = details["token_id"], details["token_secret"]
        return self

    async def stop(self) -> None:
        """Stop the simulator process."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def run_demo(ns: argparse.Namespace) -> int:
    """Run the demo until Ctrl-C or SIGTERM; return the exit status."""
    argv = sys.argv[1:]
    try:
        ports = {name: choose_port(name, getattr(ns, name), argv) for name in DEFAULT_PORTS}
    except PortBusy as error:
        print(f"jarvis demo: {error}", file=sys.stderr)
        return 2
    tune_gc()
    stopping = stop_event()
    sim = SimulatorProcess(ns.nodes, ns.guests, ns.seed)
    broker = None
    starting_broker = asyncio.create_task(start_demo_broker(ports["mqtt_port"], ports["ws_port"]))
    try:
        preload()  # while the broker and the simulator start in parallel
        # Shielded: a Ctrl-C now must not orphan a broker that is half started.
        broker = await asyncio.shield(starting_broker)
        await sim.ready()
        if stopping.is_set():
            return 0
        config = parse_config(demo_config(ns, broker, sim, ports["http_port"]))
        running_services = importlib.import_module("jarvis.app.runner").running_services
        async with running_services(config) as (_hub, bridge, server):
            await bridge.wait_connected(10)
            base = ns.base_topic
            print(
                "\nJarvis demo is running (Ctrl-C to stop)\n"
                f"  MQTT broker   mqtt://127.0.0.1:{broker.port}  (anonymous, loopback only)\n"
                f"  websockets    ws://127.0.0.1:{broker.ws_port}\n"
                f"  dashboard     {server.url if server else 'disabled'}\n"
                f"  PVE simulator {sim.url}  ({ns.nodes} nodes, {ns.guests} guests)\n"
                f"  memory        {demo_memory_dir(ns)}  (events, actions, conversations; kept between runs)\n\n"
                f"  try: mosquitto_sub -p {broker.port} -t '{base}/#' -v\n"
                f"       mosquitto_rr -p {broker.port} -t {base}/bridge/request/tool/proxmox.cluster_status "
                f"-e {base}/reply/demo -m '{{}}'\n"
                f"       jarvis memory --dir {demo_memory_dir(ns)} tail -f\n",
                flush=True,
            )
            await stopping.wait()
            log.info("stopping the demo")
    finally:
        await sim.stop()
        if broker is None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                broker = await starting_broker
        if broker is not None:
            await broker.aclose()
    return 0
