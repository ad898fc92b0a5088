"""Docker plugin glue: config, per-endpoint state sources, container tools and command topics.

All Engine API I/O lives in :mod:`jarvis.plugins.docker.client` (aiodocker: asyncio-native,
streams logs, shares the project's aiohttp), so this module only maps it onto the hub.

    plugins:
      docker:
        endpoints:
          local: {url: "unix:///var/run/docker.sock"}
          nas: {url: "tcp://192.168.1.20:2375", timeout_s: 5}
          media: {url: "ssh://ops@media.lan", ssh_key: /etc/jarvis/id_ed25519}
        poll_interval_s: 15
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from jarvis.core import (
    Command,
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
    UpdateFailed,
    Verb,
    hookimpl,
    slugify,
    tool_errors,
)
from jarvis.plugins.docker.client import (
    CONTAINER_NAME,
    ContainerState,
    DockerClientError,
    DockerEndpoint,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator

HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ACTIONS = ("start", "stop", "restart")
MAX_GRACE_S = 120

CONTAINER = EntityKind(
    name="docker_container",
    topic="docker/{host}/{container}/state",
    description="A Docker container on one configured Docker endpoint.",
    name_field="name",
    freshness=True,
    fields=(
        StateField(name="host", type="string", nullable=False, description="the endpoint's name in config"),
        StateField(name="id", type="string", nullable=False, description="container id"),
        StateField(name="name", type="string", nullable=False, description="container name", summary=True),
        StateField(name="image", type="string", nullable=False, description="the image it runs"),
        StateField(name="status", type="string", nullable=False, ha="binary_sensor", ha_on="running",
                   device_class="running", summary=True,
                   description="created, running, paused, restarting, exited or dead"),
        StateField(name="health", type="string", values=("healthy", "unhealthy", "starting"),
                   description="its healthcheck's verdict; null without a healthcheck", ha="sensor"),
        StateField(name="restart_count", type="integer", nullable=False, description="restarts by its restart policy",
                   state_class="total_increasing", ha="sensor"),
        StateField(name="started_at", type="string", description="when it last started (ISO-8601 UTC)",
                   device_class="timestamp"),
        StateField(name="exit_code", type="integer", description="exit code of its last run"),
    ),
    verbs=(Verb(topic="action", payloads=ACTIONS, description="start, stop or restart the container",
                tools={verb: f"docker.{verb}" for verb in ACTIONS}),),
)


class EndpointConfig(BaseModel):
    """One Docker Engine API endpoint: ``unix:///path``, ``tcp://host:port`` or ``ssh://user@host``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^(unix|tcp|http|https|ssh)://.+")
    timeout_s: float = Field(10.0, gt=0, le=120)
    connect_timeout_s: float = Field(3.0, gt=0, le=60)
    ssh_key: str | None = None  # private key file for ssh:// endpoints
    ssh_known_hosts: str | None = None  # known_hosts file; None = ~/.ssh/known_hosts
    remote_socket: str = "/var/run/docker.sock"  # the Docker socket on the ssh host


class DockerConfig(BaseModel):
    """The ``plugins.docker`` block; with no endpoints the plugin idles."""

    model_config = ConfigDict(extra="forbid")

    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict)
    poll_interval_s: float = Field(15.0, ge=1)
    log_max_bytes: int = Field(65536, ge=1024, le=4 * 1024 * 1024)

    @field_validator("endpoints")
    @classmethod
    def _host_names(cls, value: dict[str, EndpointConfig]) -> dict[str, EndpointConfig]:
        bad = [h for h in value if not HOST_NAME.match(h)]
        if bad:
            raise ValueError(f"host names must match {HOST_NAME.pattern}: {bad}")
        return value


_CONTAINER = Field(pattern=CONTAINER_NAME.pattern, description="container name or id")


class HostArgs(BaseModel):
    """Arguments of ``docker.list``."""

    host: str | None = Field(None, description="endpoint name from config; all when omitted")


class ContainerArgs(BaseModel):
    """A container on one endpoint."""

    host: str = Field(description="endpoint name from config")
    container: str = _CONTAINER


class LogsArgs(ContainerArgs):
    """Arguments of ``docker.logs``."""

    tail: int = Field(100, ge=1, le=5000, description="number of most recent lines")
    timestamps: bool = True


class StopArgs(ContainerArgs):
    """Arguments of ``docker.stop`` and ``docker.restart``."""

    grace_s: int = Field(10, ge=0, le=MAX_GRACE_S, description="seconds before SIGKILL")


class Runtime:
    """One hub's docker endpoints (a plugin instance; tests run several hubs per process)."""

    def __init__(self, ctx: PluginContext, config: DockerConfig) -> None:
        self.ctx = ctx
        self.config = config
        self.endpoints = {
            host: DockerEndpoint(
                ep.url, timeout_s=ep.timeout_s, connect_timeout_s=ep.connect_timeout_s,
                ssh_key=ep.ssh_key, ssh_known_hosts=ep.ssh_known_hosts,
                remote_socket=ep.remote_socket,
            )
            for host, ep in config.endpoints.items()
        }

    def canonical_host(self, host: str) -> str:
        """Map a slugged host id from a topic (``nas_lan``) back to its config name."""
        if host in self.endpoints:
            return host
        return next((h for h in self.endpoints if slugify(h) == host), host)

    def canonical(self, host: str, container: str) -> tuple[str, str]:
        """Map slugged topic ids back to real names (``app_web`` -> ``app.web``) via state."""
        real_host = self.canonical_host(host)
        for key, data in self.ctx.state(("docker", real_host)).items():
            name = str(data.get("name", key[2] if len(key) > 2 else ""))
            if name == container:
                return real_host, container
            if slugify(name) == container:
                return real_host, name
        return real_host, container

    def endpoint(self, host: str) -> DockerEndpoint:
        """Return the client for ``host`` or raise ``not_found`` naming the known ones."""
        try:
            return self.endpoints[host]
        except KeyError:
            known = ", ".join(sorted(self.endpoints)) or "none configured"
            raise ToolError("not_found", f"no docker endpoint {host!r} (known: {known})") from None

    async def close(self) -> None:
        """Close every endpoint's session and tunnel."""
        await asyncio.gather(*(ep.close() for ep in self.endpoints.values()),
                             return_exceptions=True)

    def wake(self) -> None:
        """Ask the hub to poll now, so an action shows up in the published state quickly."""
        self.ctx.wake_sources()


def _runtime(ctx: PluginContext) -> Runtime:
    """This hub's runtime for the plugin, created on first use."""
    if not isinstance(ctx.runtime, Runtime):
        ctx.runtime = Runtime(ctx, ctx.config or DockerConfig.model_validate({}))
    return ctx.runtime


def _state_dict(host: str, state: ContainerState) -> dict[str, Any]:
    """The contract payload of ``docker/<host>/<container>/state``."""
    return {"host": host, **state.to_dict()}


# -- hooks -----------------------------------------------------------------------------------


@hookimpl
def register_config(register: Callable[[type[BaseModel]], None]) -> None:
    """Register the ``plugins.docker`` config model."""
    register(DockerConfig)


@hookimpl
def register_entity_kinds(register: Callable[[EntityKind], None], ctx: PluginContext) -> None:
    """Describe the containers this plugin publishes."""
    register(CONTAINER)


@hookimpl
def on_start(ctx: PluginContext) -> None:
    """Create the endpoint clients (they connect lazily, on the first poll or call)."""
    _runtime(ctx)


@hookimpl
async def on_stop(ctx: PluginContext) -> None:
    """Close every endpoint."""
    runtime, ctx.runtime = ctx.runtime, None
    if isinstance(runtime, Runtime):
        await runtime.close()


@hookimpl
def register_sources(register: Callable[[Source], None], ctx: PluginContext) -> None:
    """One source per endpoint, so a down host degrades the plugin without hiding the others."""
    rt = _runtime(ctx)
    for host in rt.endpoints:
        register(Source(name=f"containers_{slugify(host)}", interval_s=rt.config.poll_interval_s,
                        poll=_poller(rt, host)))


def _poller(rt: Runtime, host: str) -> Callable[[], Awaitable[Snapshot]]:
    """Build the poll function of one endpoint's source."""
    # the hub abandons a poll after max(30, interval) s; finish first with a clearer reason
    budget = max(30.0, rt.config.poll_interval_s) - 2

    async def poll() -> Snapshot:
        endpoint = rt.endpoints[host]
        try:
            async with asyncio.timeout(budget):
                states = await endpoint.states()
        except DockerClientError as exc:
            raise UpdateFailed(f"docker host {host}: {exc}") from exc
        except TimeoutError as exc:
            raise UpdateFailed(f"docker host {host}: poll took longer than {budget:g}s") from exc
        entities = [Entity(key=("docker", host, s.name, "state"), data=_state_dict(host, s))
                    for s in states]
        return Snapshot(entities=entities, complete=True,
                        metrics={"api_calls": 1 + len(states)})

    return poll


@hookimpl
def register_tools(register: Callable[[Tool], Any], ctx: PluginContext) -> None:
    """Register list, status, logs (read), start, restart (write) and stop (write, disruptive)."""
    rt = _runtime(ctx)
    call_s = max([ep.timeout_s for ep in rt.config.endpoints.values()] or [10.0]) + 5

    def target(args: ContainerArgs) -> Target:
        return Target("docker", "/".join(rt.canonical(args.host, args.container)))

    async def list_(args: HostArgs, call: ToolCall) -> dict[str, Any]:
        hosts = [rt.canonical_host(args.host)] if args.host else sorted(rt.endpoints)
        for host in hosts:
            rt.endpoint(host)
        results = await asyncio.gather(*(rt.endpoints[h].list_containers() for h in hosts),
                                       return_exceptions=True)
        containers: list[dict[str, Any]] = []
        errors: dict[str, dict[str, str]] = {}
        for host, result in zip(hosts, results, strict=True):
            if isinstance(result, DockerClientError):
                errors[host] = {"code": result.code, "message": str(result)}
            elif isinstance(result, BaseException):
                raise result
            else:
                containers.extend({"host": host, **c} for c in result)
        if errors and not containers and len(errors) == len(hosts):
            first = next(iter(errors.values()))
            raise ToolError(first["code"], "; ".join(e["message"] for e in errors.values()))
        return {"containers": containers, "errors": errors}

    async def status(args: ContainerArgs, call: ToolCall) -> dict[str, Any]:
        host, name = rt.canonical(args.host, args.container)
        with tool_errors():
            return _state_dict(host, await rt.endpoint(host).inspect(name))

    async def logs(args: LogsArgs, call: ToolCall) -> dict[str, Any]:
        host, name = rt.canonical(args.host, args.container)
        with tool_errors():
            tail = await rt.endpoint(host).logs(
                name, tail=args.tail, timestamps=args.timestamps, max_bytes=rt.config.log_max_bytes)
        return {"host": host, "container": name, "text": tail.text, "lines": tail.lines,
                "truncated": tail.truncated}

    def action(verb: str) -> Callable[[Any, ToolCall], Awaitable[dict[str, Any]]]:
        async def run(args: ContainerArgs, call: ToolCall) -> dict[str, Any]:
            host, name = rt.canonical(args.host, args.container)
            endpoint = rt.endpoint(host)
            grace = getattr(args, "grace_s", 10)
            with tool_errors():
                if verb == "start":
                    state = await endpoint.start(name)
                elif verb == "stop":
                    state = await endpoint.stop(name, grace_s=grace)
                else:
                    state = await endpoint.restart(name, grace_s=grace)
            rt.wake()
            return _state_dict(host, state)

        return run

    register(Tool(name="list", args=HostArgs, risk=Risk.READ, handler=list_, timeout_s=call_s,
                  description="List all containers (running or not) on one or every Docker host"))
    register(Tool(name="status", args=ContainerArgs, risk=Risk.READ, handler=status,
                  timeout_s=call_s, target=target,
                  description="Show a container's status, health, restart count and start time"))
    register(Tool(name="logs", args=LogsArgs, risk=Risk.READ, handler=logs, timeout_s=call_s,
                  target=target, description="Show the last lines of a container's output"))
    register(Tool(name="start", args=ContainerArgs, risk=Risk.WRITE, handler=action("start"),
                  timeout_s=call_s, target=target, description="Start a stopped container"))
    register(Tool(name="restart", args=StopArgs, risk=Risk.WRITE, handler=action("restart"),
                  timeout_s=call_s + MAX_GRACE_S, target=target,
                  description="Restart a container (stop within grace_s, then start)"))
    register(Tool(name="stop", args=StopArgs, risk=Risk.WRITE, handler=action("stop"),
                  timeout_s=call_s + MAX_GRACE_S, target=target, disruptive=True,
                  description="Stop a container (SIGTERM, then SIGKILL after grace_s)"))


@hookimpl
def register_commands(register: Callable[[Command], None], ctx: PluginContext) -> None:
    """``docker/<host>/<container>/action`` with plain ``start``, ``stop`` or ``restart``."""
    rt = _runtime(ctx)

    def to_call(ids: tuple[str, ...], payload: Any) -> tuple[str, dict[str, Any]]:
        verb = payload.get("action") if isinstance(payload, dict) else payload
        verb = verb.strip().lower() if isinstance(verb, str) else verb
        if verb not in ACTIONS:
            choices = ", ".join(ACTIONS)
            raise ToolError("invalid_args", f"docker action must be one of {choices}; "
                                            f"got {payload!r:.80}")
        host, container = rt.canonical(ids[0], ids[1])
        return verb, {"host": host, "container": container}

    register(Command(kind="docker", verb="action", to_call=to_call, ids=2))
