"""SSH plugin glue: config, tools (exec, services, updates, pct exec) over the hub-free client."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from jarvis.core import PluginContext, Risk, Target, Tool, ToolCall, ToolError, hookimpl, tool_errors
from jarvis.plugins.ssh import parse
from jarvis.plugins.ssh.client import ExecResult, PtySession, SshClient
from jarvis.plugins.ssh.config import HOST_NAME, SERVICE_NAME, SshConfig, is_readonly
from pydantic import BaseModel, Field

_C = {"LC_ALL": "C"}  # parsed output must not be translated
T = TypeVar("T")


@dataclass
class SshRuntime:
    """One hub's SSH client and config (a hub may run beside others in one process)."""

    config: SshConfig
    client: SshClient


def runtime(ctx: PluginContext) -> SshRuntime:
    """Return this hub's runtime, creating the (lazily connecting) client on first use."""
    rt = ctx.runtime
    if not isinstance(rt, SshRuntime):
        config = ctx.config if isinstance(ctx.config, SshConfig) else SshConfig()
        client = SshClient(
            config.host_specs(),
            connect_timeout_s=config.connect_timeout_s,
            command_timeout_s=config.command_timeout_s,
            long_command_timeout_s=config.long_command_timeout_s,
        )
        rt = ctx.runtime = SshRuntime(config, client)
    return rt


class ExecArgs(BaseModel):
    """Run a program on a host; every argument is passed literally (no shell)."""

    host: str = Field(pattern=HOST_NAME, description="configured host name")
    argv: list[str] = Field(min_length=1, max_length=256, description="program and arguments")
    timeout_s: float | None = Field(None, gt=0, description="default: command timeout")


class ServiceArgs(BaseModel):
    """A systemd service on a host."""

    host: str = Field(pattern=HOST_NAME)
    service: str = Field(pattern=SERVICE_NAME, description="unit name, e.g. pveproxy")


class HostArgs(BaseModel):
    """A configured host."""

    host: str = Field(pattern=HOST_NAME)


class PctExecArgs(BaseModel):
    """Run a program inside an LXC container, via ``pct exec`` on its Proxmox node."""

    host: str = Field(pattern=HOST_NAME, description="the node (a configured host)")
    vmid: int = Field(ge=100, le=999_999_999)
    argv: list[str] = Field(min_length=1, max_length=256)
    timeout_s: float | None = Field(None, gt=0)


def _check(value: str, pattern: str, what: str) -> str:
    # Pydantic checks too; this keeps the guarantee when a handler is called directly.
    if not re.match(pattern, value):
        raise ToolError("invalid_args", f"invalid {what} {value!r}")
    return value


def _check_argv(argv: list[str]) -> list[str]:
    if not argv or not argv[0] or argv[0].startswith("-"):
        raise ToolError("invalid_args", "argv[0] must name a program")
    if any("\0" in a for a in argv):
        raise ToolError("invalid_args", "arguments cannot contain NUL bytes")
    return argv


async def _run(action: Awaitable[T]) -> T:
    """Await a client call with its errors as tool errors (a bad argument is invalid_args)."""
    with tool_errors((ValueError, "invalid_args")):
        return await action


def _timeout(rt: SshRuntime, requested: float | None) -> float:
    limit = rt.config.long_command_timeout_s
    if requested is not None and requested > limit:
        raise ToolError("invalid_args", f"timeout_s may be at most {limit:g}")
    return requested or rt.config.command_timeout_s


def _systemd_error(host: str, service: str, result: ExecResult) -> ToolError:
    """Explain why systemctl failed: missing unit, no systemd, or something else."""
    text = (result.stderr or result.stdout).strip()
    if result.exit_status == 127:
        return ToolError("upstream_error", f"systemctl is not installed on {host}")
    if parse.systemd_unavailable(text):
        return ToolError("upstream_error", f"systemd is not running on {host}: {text}")
    if parse.unit_missing(text):
        return ToolError("not_found", f"service {service!r} not found on {host}")
    return ToolError(
        "upstream_error", f"systemctl failed on {host} (exit {result.exit_status}): {text}"
    )


def _host(ctx: PluginContext, rt: SshRuntime, name: str) -> str:
    """Check a host name; a Proxmox node the hub knows (by name) becomes a host on first use."""
    host = _check(name, HOST_NAME, "host name")
    if host not in rt.client.hosts and rt.config.proxmox_nodes:
        node = ctx.state(("node", host, "state")).get(("node", host, "state")) or {}
        address = node.get("ip")
        if isinstance(address, str) and address:
            rt.client.hosts[host] = rt.config.node_spec(address)
    return host


def make_tools(ctx: PluginContext) -> list[Tool]:
    """Build the plugin's tools; handlers find the client through ``runtime(ctx)``."""

    async def exec_(args: ExecArgs, call: ToolCall) -> dict[str, Any]:
        rt = runtime(ctx)
        host = _host(ctx, rt, args.host)
        argv = _check_argv(args.argv)
        res = await _run(rt.client.exec(host, argv, _timeout(rt, args.timeout_s)))
        return {"host": host, "argv": argv, **res.to_dict()}

    async def service_status(args: ServiceArgs, call: ToolCall) -> dict[str, Any]:
        rt = runtime(ctx)
        host = _host(ctx, rt, args.host)
        service = _check(args.service, SERVICE_NAME, "service name")
        argv = ["systemctl", "show", "--no-pager", f"--property={parse.SHOW_PROPERTIES}", service]
        res = await _run(rt.client.exec(host, argv, rt.config.command_timeout_s, _C))
        if res.exit_status != 0:
            raise _systemd_error(host, service, res)
        status = parse.service_show(res.stdout)
        if status["load_state"] == "not-found":
            raise ToolError("not_found", f"service {service!r} not found on {host}")
        return {"host": host, "service": service, **status}

    async def service_restart(args: ServiceArgs, call: ToolCall) -> dict[str, Any]:
        rt = runtime(ctx)
        host = _host(ctx, rt, args.host)
        service = _check(args.service, SERVICE_NAME, "service name")
        argv = ["systemctl", "restart", "--no-ask-password", service]
        res = await _run(rt.client.exec(host, argv, rt.config.long_command_timeout_s, _C))
        if res.exit_status != 0:
            raise _systemd_error(host, service, res)
        after = await service_status(args, call)
        return {**after, "restarted": True}

    async def updates_check(args: HostArgs, call: ToolCall) -> dict[str, Any]:
        rt = runtime(ctx)
        host = _host(ctx, rt, args.host)
        argv = ["apt", "list", "--upgradable"]
        res = await _run(rt.client.exec(host, argv, rt.config.long_command_timeout_s, _C))
        if res.exit_status == 127:
            raise ToolError("upstream_error", f"apt is not installed on {host}")
        if res.exit_status != 0:
            raise ToolError("upstream_error", f"apt failed on {host}: {res.stderr.strip()}")
        packages = parse.apt_upgradable(res.stdout)
        security = sum(1 for p in packages if "security" in p["suite"])
        return {"host": host, "count": len(packages), "security": security, "packages": packages}

    async def pct_exec(args: PctExecArgs, call: ToolCall) -> dict[str, Any]:
        rt = runtime(ctx)
        host = _host(ctx, rt, args.host)
        argv = ["pct", "exec", str(args.vmid), "--", *_check_argv(args.argv)]
        res = await _run(rt.client.exec(host, argv, _timeout(rt, args.timeout_s)))
        return {"host": host, "vmid": args.vmid, "argv": args.argv, **res.to_dict()}

    def on_host(a: Any) -> Target:
        return Target("host", a.host)

    def exec_risk(a: ExecArgs) -> Risk:
        readonly = is_readonly(a.argv, runtime(ctx).config.readonly_allowlist)
        return Risk.READ if readonly else Risk.DANGEROUS

    cfg = ctx.config if isinstance(ctx.config, SshConfig) else SshConfig()
    short = cfg.command_timeout_s + cfg.connect_timeout_s + 10
    long = cfg.long_command_timeout_s + cfg.connect_timeout_s + 10
    return [
        Tool(
            name="exec",
            description="Run a program with arguments on a host over SSH (no shell); returns "
            "exit_status, stdout, stderr. Read-only when it matches the allowlist.",
            args=ExecArgs, risk=Risk.DANGEROUS, handler=exec_, timeout_s=long,
            target=on_host, risk_for=exec_risk,
        ),
        Tool(
            name="service_status",
            description="State of a systemd service on a host: active, inactive, failed, "
            "unknown (with systemd's own states).",
            args=ServiceArgs, risk=Risk.READ, handler=service_status, timeout_s=short,
            target=on_host,
        ),
        Tool(
            name="service_restart",
            description="Restart a systemd service on a host and return its new state.",
            args=ServiceArgs, risk=Risk.WRITE, handler=service_restart, timeout_s=long + short,
            target=on_host, disruptive=True,  # a protected host's services are not automation's
        ),
        Tool(
            name="updates_check",
            description="List the packages apt could upgrade on a host (from its current "
            "package lists; does not refresh them).",
            args=HostArgs, risk=Risk.READ, handler=updates_check, timeout_s=long,
            target=on_host,
        ),
        Tool(
            name="pct_exec",
            description="Run a program inside an LXC container via `pct exec` on its node.",
            args=PctExecArgs, risk=Risk.DANGEROUS, handler=pct_exec, timeout_s=long,
            target=lambda a: Target("guest", str(a.vmid)),
        ),
    ]


async def open_pty(
    ctx: PluginContext, host: str, term_type: str = "xterm-256color", cols: int = 80, rows: int = 24
) -> PtySession:
    """Open an interactive shell on a configured host (for the dashboard terminal).

    Errors come as ToolError codes like the tools' (not_found, unreachable, denied...).
    """
    rt = runtime(ctx)
    return await _run(rt.client.open_pty(_host(ctx, rt, host), term_type, cols, rows))


@hookimpl
def register_config(register: Any) -> None:
    """Register the ``plugins.ssh`` config model."""
    register(SshConfig)


@hookimpl
def register_tools(register: Any, ctx: PluginContext) -> None:
    """Register the SSH tools (``ssh.exec``, ``ssh.service_status``...)."""
    for tool in make_tools(ctx):
        register(tool)


@hookimpl
def on_start(ctx: PluginContext) -> None:
    """Prepare the client; connections open on first use, so an idle plugin costs nothing."""
    rt = runtime(ctx)
    if not rt.config.hosts:
        ctx.log.info("ssh: no hosts configured; Proxmox nodes are reachable by name once the proxmox plugin sees them")


@hookimpl
async def on_stop(ctx: PluginContext) -> None:
    """Close every pooled connection."""
    rt, ctx.runtime = ctx.runtime, None
    if isinstance(rt, SshRuntime):
        await rt.client.close()
