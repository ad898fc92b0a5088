"""Hook implementations of the Proxmox plugin; the work happens in the coordinator and tools."""

from __future__ import annotations

from collections.abc import Callable

from jarvis.core import Command, EntityKind, PluginContext, Source, Tool, hookimpl
from jarvis.plugins.proxmox.client import PveClient
from jarvis.plugins.proxmox.commands import build_commands
from jarvis.plugins.proxmox.config import ProxmoxConfig
from jarvis.plugins.proxmox.coordinator import Coordinator
from jarvis.plugins.proxmox.kinds import KINDS
from jarvis.plugins.proxmox.tools import build_tools
from pydantic import BaseModel


def coordinator_for(ctx: PluginContext) -> Coordinator:
    """Return the coordinator on_start created for this hub (kept in ``ctx.runtime``)."""
    if not isinstance(ctx.runtime, Coordinator):
        raise RuntimeError("the proxmox plugin is not started")
    return ctx.runtime


def build_client(config: ProxmoxConfig) -> PveClient | None:
    """Return a client for the configured endpoints, or None when there are none."""
    if not config.endpoints or config.token_id is None or config.token_secret is None:
        return None
    return PveClient(
        config.endpoints,
        config.token_id,
        config.token_secret.get_secret_value(),
        verify_ssl=config.verify_ssl,
        ca_file=config.ca_file,
        fingerprints=config.fingerprint,
        connect_timeout_s=config.connect_timeout_s,
        timeout_s=config.timeout_s,
        pool_size=config.max_parallel + 2,
    )


@hookimpl
def register_config(register: Callable[[type[BaseModel]], None]) -> None:
    """Register the config model of ``plugins.proxmox``."""
    register(ProxmoxConfig)


@hookimpl
def on_start(ctx: PluginContext) -> None:
    """Create the client and coordinator; nothing talks to PVE until the first poll."""
    config = ctx.config if isinstance(ctx.config, ProxmoxConfig) else ProxmoxConfig()
    client = build_client(config)
    ctx.runtime = Coordinator(client, config)
    if client is None:
        ctx.set_status("ok", "idle: no endpoints configured")
    elif not config.verify_ssl and not config.fingerprint and config.ca_file is None:
        ctx.log.warning("proxmox: TLS verification is off; pin the certificate fingerprint instead")


@hookimpl
def register_entity_kinds(register: Callable[[EntityKind], None], ctx: PluginContext) -> None:
    """Describe the cluster, nodes, guests and storage this plugin publishes."""
    for kind in KINDS:
        register(kind)


@hookimpl
def register_sources(register: Callable[[Source], None], ctx: PluginContext) -> None:
    """Register the fast, node and storage polling tiers."""
    coordinator = coordinator_for(ctx)
    if coordinator.client is None:
        return
    intervals = coordinator.config.intervals
    register(Source(name="cluster", interval_s=intervals.fast_s, poll=coordinator.poll_fast))
    register(Source(name="nodes", interval_s=intervals.node_s, poll=coordinator.poll_nodes))
    register(Source(name="storage", interval_s=intervals.storage_s, poll=coordinator.poll_storage))


@hookimpl
def register_tools(register: Callable[[Tool], str], ctx: PluginContext) -> None:
    """Register the Proxmox tools."""
    for tool in build_tools(ctx, lambda: coordinator_for(ctx)):
        register(tool)


@hookimpl
def register_commands(register: Callable[[Command], None], ctx: PluginContext) -> None:
    """Register guest and node command topics."""
    for command in build_commands():
        register(command)


@hookimpl
def on_stop(ctx: PluginContext) -> None:
    """Close the HTTP sessions."""
    if isinstance(ctx.runtime, Coordinator):
        ctx.runtime.close()
        ctx.runtime = None
