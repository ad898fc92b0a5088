"""The network plugin: Wake-on-LAN and reachability of configured hosts.

State: ``<base>/host/<name>/state`` per configured host. Tools: ``network.wake`` (write) and
``network.ping`` (read). A host entry named like a Proxmox node gives the proxmox plugin a MAC
to wake that node with: it calls ``network.wake`` with the node name through the hub.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jarvis.core import (
    Entity,
    EntityKind,
    PluginContext,
    Risk,
    Snapshot,
    Source,
    StateField,
    Target,
    Tool,
    ToolCall,
    ToolError,
    fields,
    hookimpl,
    utcnow,
)
from jarvis.plugins.network.addr import is_mac, looks_like_mac, normalize_mac, validate_address
from jarvis.plugins.network.config import HostConfig, NetworkConfig
from jarvis.plugins.network.reach import Probe, Prober
from jarvis.plugins.network.wol import DEFAULT_BROADCAST, DEFAULT_PORT, WakeError, wake
from pydantic import BaseModel, Field

MAX_COUNT = 10

HOST = EntityKind(
    name="host",
    topic="host/{name}/state",
    description="A configured machine (a NAS, a router, a node to wake): reachability and how to wake it.",
    name_field="name",
    fields=(
        StateField(name="name", type="string", nullable=False, description="the host's name in config", summary=True),
        StateField(name="reachable", type="boolean", nullable=False, description="it answered the last probe",
                   ha="binary_sensor", device_class="connectivity", summary=True),
        StateField(name="address", type="string", nullable=False, description="the configured hostname or IP"),
        StateField(name="ip", type="string", description="the address the last probe reached"),
        StateField(name="mac", type="string", description="MAC address for Wake-on-LAN"),
        StateField(name="last_seen", type="string", description="when it last answered (ISO-8601 UTC)",
                   device_class="timestamp", ha="sensor"),
        fields.RTT_MS,
        StateField(name="method", type="string", values=("icmp", "tcp", "dns"), description="how it was probed"),
        StateField(name="port", type="integer", description="the TCP port that answered (tcp probes)"),
        StateField(name="error", type="string", description="why the last probe failed"),
    ),
)


LAST_SEEN_KEY = "network.last_seen"


@dataclass
class _Runtime:
    """Per-hub state: one prober (so ICMP detection happens once) and last successes.

    ``last_seen`` survives a restart through memory (``ctx.memory()``, key ``network.last_seen``).
    """

    config: NetworkConfig
    prober: Prober
    last_seen: dict[str, str] = field(default_factory=dict)
    restored: bool = False
    saved: dict[str, str] = field(default_factory=dict)

    def restore(self, ctx: PluginContext) -> None:
        """Take back the last_seen times kept in memory (once, when a memory store is in use)."""
        store = ctx.memory()
        if self.restored or store is None:
            return
        self.restored = True
        kept = store.load_value(LAST_SEEN_KEY) or {}
        for name, seen in (kept.items() if isinstance(kept, dict) else ()):
            if name in self.config.hosts and isinstance(seen, str):
                self.last_seen.setdefault(name, seen)
        self.saved = dict(self.last_seen)

    def save(self, ctx: PluginContext) -> None:
        """Keep last_seen in memory when it changed."""
        store = ctx.memory()
        if store is not None and self.last_seen != self.saved:
            store.save_value(LAST_SEEN_KEY, dict(self.last_seen))
            self.saved = dict(self.last_seen)

    def ports(self, host: HostConfig) -> list[int]:
        """Return the TCP fallback ports for ``host``."""
        return self.config.tcp_ports if host.tcp_ports is None else host.tcp_ports

    def record(self, name: str, probe: Probe) -> None:
        """Remember when ``name`` last answered."""
        if probe.reachable:
            self.last_seen[name] = utcnow()


def _runtime(ctx: PluginContext) -> _Runtime:
    if not isinstance(ctx.runtime, _Runtime):
        config = _config(ctx)
        ctx.runtime = _Runtime(config, Prober(config.ping_timeout_s, config.tcp_ports, icmp=config.icmp))
    ctx.runtime.restore(ctx)
    return ctx.runtime


def _config(ctx: PluginContext) -> NetworkConfig:
    if isinstance(ctx.config, NetworkConfig):
        return ctx.config
    return NetworkConfig.model_validate(ctx.config or {})


def _find_host(config: NetworkConfig, ref: str) -> tuple[str, HostConfig] | None:
    """Find a configured host by name, else by its address (case-insensitive)."""
    if ref in config.hosts:
        return ref, config.hosts[ref]
    wanted = ref.strip().lower().rstrip(".")
    for name, host in config.hosts.items():
        if host.address.lower().rstrip(".") == wanted:
            return name, host
    return None


class WakeArgs(BaseModel):
    """Arguments of ``network.wake``."""

    host: str = Field(min_length=1, max_length=253, description="a configured host name, or a MAC address")
    broadcast: str | None = Field(None, max_length=253, description="override where the packet goes (IP or hostname)")
    port: int | None = Field(None, ge=1, le=65535, description="override the UDP port")


class PingArgs(BaseModel):
    """Arguments of ``network.ping``."""

    host: str = Field(min_length=1, max_length=253, description="a configured host name, hostname or IP")
    count: int = Field(3, ge=1, le=MAX_COUNT, description="ICMP echoes to send")


def _node_address(ctx: PluginContext, ref: str) -> str | None:
    """Return the address of a Proxmox node named (or addressed) ``ref``, if the hub knows one."""
    wanted = ref.strip().lower().rstrip(".")
    for key, data in ctx.state(("node",)).items():
        name, ip = str(data.get("name") or key[1]), data.get("ip")
        if wanted == name.lower() or (isinstance(ip, str) and wanted == ip.lower()):
            return ip if isinstance(ip, str) and ip else name
    return None


def _wake_plan(config: NetworkConfig, args: WakeArgs) -> tuple[str | None, str, str, int]:
    """Decide (host name, mac, broadcast, port) for a wake request, or raise ToolError."""
    found = _find_host(config, args.host)
    if found is not None:
        name, host = found
        if host.mac is None:
            raise ToolError("not_found", f"host {name!r} has no MAC address configured")
        plan: tuple[str | None, str, str, int] = (name, host.mac, host.broadcast, host.wol_port)
    elif is_mac(args.host):
        plan = (None, normalize_mac(args.host), DEFAULT_BROADCAST, DEFAULT_PORT)
    elif looks_like_mac(args.host):
        raise ToolError("invalid_args", "host looks like a MAC address but is malformed")
    else:
        _check_address(args.host, "host")
        raise ToolError("not_found", "no configured host of that name, and it is not a MAC address")
    label, mac, broadcast, port = plan
    if args.broadcast is not None:
        broadcast = _check_address(args.broadcast, "broadcast")
    return label, mac, broadcast, args.port or port


def _check_address(value: str, what: str) -> str:
    try:
        return validate_address(value)
    except ValueError as exc:
        raise ToolError("invalid_args", f"{what}: {exc}") from None


def _host_state(rt: _Runtime, name: str, host: HostConfig, probe: Probe) -> dict[str, Any]:
    return {
        "name": name,
        "reachable": probe.reachable,
        "address": host.address,
        "ip": probe.ip,
        "mac": host.mac,
        "last_seen": rt.last_seen.get(name),
        "rtt_ms": probe.rtt_ms,
        "method": probe.method,
        "port": probe.port,
        "error": probe.error,
    }


@hookimpl
def register_config(register: Callable[[type[BaseModel]], None]) -> None:
    """Register the config model of ``plugins.network``."""
    register(NetworkConfig)


@hookimpl
def register_entity_kinds(register: Callable[[EntityKind], None], ctx: PluginContext) -> None:
    """Describe the hosts this plugin publishes."""
    register(HOST)


@hookimpl
def register_tools(register: Callable[[Tool], str], ctx: PluginContext) -> None:
    """Register ``wake`` and ``ping``."""
    config = _config(ctx)

    async def wake_handler(args: WakeArgs, call: ToolCall) -> dict[str, Any]:
        name, mac, broadcast, port = _wake_plan(config, args)
        try:
            sent = await wake(mac, broadcast, port, timeout_s=config.ping_timeout_s + 3)
        except WakeError as exc:
            raise ToolError("unreachable", str(exc)) from None
        except ValueError as exc:
            raise ToolError("invalid_args", str(exc)) from None
        return {"host": name, **sent.to_dict()}

    async def ping_handler(args: PingArgs, call: ToolCall) -> dict[str, Any]:
        rt = _runtime(ctx)
        found = _find_host(config, args.host)
        if found is None:
            node_ip = _node_address(ctx, args.host)
            if node_ip is None and not call.unrestricted:
                # Probing any address would make Jarvis a port scanner for every requester.
                raise ToolError("denied", "this role may ping only configured hosts (plugins.network.hosts) "
                                "and Proxmox nodes; an admin may ping any address")
            address = _check_address(node_ip or args.host, "host")
            probe = await rt.prober.probe(address, args.count)
            if probe.method == "dns":
                raise ToolError("not_found", "no configured host of that name, nor a resolvable name")
            return {"host": None, "count": args.count, **probe.to_dict()}
        name, host = found
        probe = await rt.prober.probe(host.address, args.count, rt.ports(host))
        rt.record(name, probe)
        rt.save(ctx)
        return {
            "host": name,
            "count": args.count,
            "last_seen": rt.last_seen.get(name),
            **probe.to_dict(),
        }

    worst_ping_s = (MAX_COUNT + 2) * config.ping_timeout_s + MAX_COUNT * 0.2 + 5
    register(
        Tool(
            name="wake",
            description="Send a Wake-on-LAN magic packet to a configured host (by name) or a MAC.",
            args=WakeArgs,
            risk=Risk.WRITE,
            handler=wake_handler,
            timeout_s=config.ping_timeout_s + 10,
            target=lambda a: Target("host", str(a.host)),
        )
    )
    register(
        Tool(
            name="ping",
            description="Check whether a host answers (ICMP echo, else TCP connect); never fails "
            "for a down host, it reports reachable=false.",
            args=PingArgs,
            risk=Risk.READ,
            handler=ping_handler,
            timeout_s=max(30.0, worst_ping_s),
        )
    )


@hookimpl
def register_sources(register: Callable[[Source], None], ctx: PluginContext) -> None:
    """Register the ``hosts`` poller (nothing when no hosts are configured)."""
    config = _config(ctx)
    if not config.hosts:
        return

    async def poll() -> Snapshot:
        rt = _runtime(ctx)
        items = list(config.hosts.items())
        probes = await asyncio.gather(*(rt.prober.probe(host.address, 1, rt.ports(host)) for _, host in items))
        entities = []
        for (name, host), probe in zip(items, probes, strict=True):
            rt.record(name, probe)
            entities.append(Entity(("host", name, "state"), _host_state(rt, name, host, probe)))
        rt.save(ctx)
        return Snapshot(entities, complete=True, metrics={"probes": len(items)})

    register(Source(name="hosts", interval_s=config.interval_s, poll=poll))


@hookimpl
def on_stop(ctx: PluginContext) -> None:
    """Forget this hub's runtime (memory keeps last_seen for the next start)."""
    ctx.runtime = None
