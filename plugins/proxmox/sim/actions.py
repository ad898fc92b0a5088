"""Guest and node power operations with PVE's checks, messages and task types.

Checks PVE does in the API handler (before forking a worker) answer HTTP 500 at once; checks
done inside the worker (qemu-server's vm_start) make the task end with that error instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .errors import internal
from .model import Guest, Node
from .state import SimState

QEMU_ACTIONS = ("start", "stop", "shutdown", "reboot", "reset", "suspend", "resume")
LXC_ACTIONS = ("start", "stop", "shutdown", "reboot", "suspend", "resume")


def config_missing(node: str, kind: str, vmid: int) -> Exception:
    """The 500 PVE answers when a guest's config is not on that node."""
    folder = "qemu-server" if kind == "qemu" else "lxc"
    return internal(f"Configuration file 'nodes/{node}/{folder}/{vmid}.conf' does not exist")


def power_on(sim: SimState, guest: Guest) -> None:
    """Mark a guest running with fresh runtime metrics."""
    rng = sim.cluster.rng_events
    guest.status = "running"
    guest.uptime = 0
    guest.paused = False
    guest.pid = rng.randrange(1000, 4_000_000)
    guest.mem = int(guest.maxmem * 0.3)
    guest.cpu = round(guest.base_cpu, 6)
    guest.agent_running = guest.agent
    guest.started_at = time.time()
    sim.cluster.changed()


def power_off(sim: SimState, guest: Guest) -> None:
    """Mark a guest stopped and clear its runtime metrics."""
    guest.status = "stopped"
    guest.uptime = 0
    guest.pid = None
    guest.paused = False
    guest.cpu = 0.0
    guest.mem = 0
    guest.agent_running = False
    guest.stopped_at = time.time()
    sim.cluster.changed()


def guest_action(sim: SimState, user: str, guest: Guest, action: str) -> str:
    """Run POST .../status/{action} for `guest`; return the UPID or raise ApiError."""
    t = sim.settings.task_seconds
    vmid, kind = guest.vmid, guest.kind
    qemu = kind == "qemu"
    label = "VM" if qemu else "CT"
    prefix = "qm" if qemu else "vz"

    def start() -> str | None:
        if guest.template:
            return "you can't start a vm if it's a template" if qemu else (
                "you can't start a CT if it's a template"
            )
        if guest.running:
            return f"VM {vmid} already running"
        power_on(sim, guest)
        return None

    def stop() -> str | None:
        if guest.running:
            power_off(sim, guest)
        return None

    def restart() -> str | None:
        if not guest.running:
            return f"VM {vmid} not running"
        power_on(sim, guest)
        return None

    def pause(value: bool) -> str | None:
        if not guest.running:
            return f"VM {vmid} not running"
        guest.paused = value
        sim.cluster.changed()
        return None

    def run(task_type: str, seconds: float, fn: Callable[[], str | None]) -> str:
        return sim.tasks.start(guest.node, task_type, str(vmid), user, seconds, fn)

    if action == "start":
        if not qemu and guest.running:
            raise internal(f"CT {vmid} already running")
        quick = guest.running or guest.template
        return run(f"{prefix}start", t * 0.1 if quick else t, start)
    if action in ("stop", "shutdown"):
        if not qemu and not guest.running:
            raise internal(f"CT {vmid} not running")
        if qemu and action == "shutdown" and guest.paused:
            raise internal("VM is paused - cannot shutdown")
        seconds = t * (0.5 if action == "stop" else 1.5) if guest.running else t * 0.1
        return run(f"{prefix}{action}", seconds, stop)
    if action == "reboot":
        if qemu and guest.paused:
            raise internal("VM is paused - cannot shutdown")
        if not guest.running:
            raise internal(f"VM {vmid} not running")  # pve-container says VM here too
        return run(f"{prefix}reboot", t * 2, restart)
    if action == "reset":
        if not guest.running:
            raise internal(f"VM {vmid} not running")
        return run("qmreset", t * 0.3, restart)
    if action == "suspend":
        if not guest.running:
            raise internal(f"{label} {vmid} not running")
        return run("qmpause" if qemu else "vzsuspend", t * 0.3, lambda: pause(True))
    if action == "resume":
        if not qemu and guest.running:
            raise internal(f"CT {vmid} already running")
        if qemu and not guest.running:
            raise internal(f"VM {vmid} not running")
        return run(f"{prefix}resume", t * 0.3, lambda: pause(False))
    raise internal(f"unknown action {action}")


def node_power_off(sim: SimState, node: Node) -> None:
    """Power a node off: its guests stop, it drops out of the cluster."""
    for guest in sim.cluster.node_guests(node.name):
        if guest.running:
            power_off(sim, guest)
    node.powered = False
    node.uptime = 0
    node.offline_since = time.time()
    sim.cluster.changed()
    sim.node_changed(node)


def node_boot(sim: SimState, node: Node) -> None:
    """Power a node on: online again, guests with onboot=1 start."""
    if node.powered:
        return
    node.powered = True
    node.uptime = 1
    node.offline_since = None if node.unreachable is None else node.offline_since
    for guest in sim.cluster.node_guests(node.name):
        if guest.onboot and not guest.template:
            power_on(sim, guest)
    sim.cluster.changed()
    sim.node_changed(node)


def node_command(sim: SimState, node: Node, command: str) -> None:
    """POST /nodes/{node}/status: shutdown or reboot after PVE's 2 s grace (scaled)."""
    loop = asyncio.get_running_loop()
    delay = min(2.0, sim.settings.task_seconds)

    def off() -> None:
        node_power_off(sim, node)
        if command == "reboot":
            loop.call_later(sim.settings.boot, node_boot, sim, node)

    loop.call_later(delay, off)


def wake(sim: SimState, node: Node) -> None:
    """A magic packet reached `node`: boot it if it is powered off."""
    if node.powered or node.booting:
        return
    node.booting = True

    def boot() -> None:
        node.booting = False
        node_boot(sim, node)

    asyncio.get_running_loop().call_later(sim.settings.boot, boot)


def crash(sim: SimState, guest: Guest) -> None:
    """A guest dies without a task (OOM kill, kernel panic): running -> stopped."""
    if guest.running:
        power_off(sim, guest)
