"""A hub-free async client for one Docker Engine API endpoint (``unix://``, ``tcp://``, ``ssh://``).

Built on aiodocker: it is asyncio-native like the hub, streams logs, and rides on the aiohttp
the project already depends on, so no thread pool wraps a blocking SDK.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import aiodocker
import aiohttp
from jarvis.plugins.docker.tunnel import SshTunnel, TunnelError

T = TypeVar("T")

# Docker's own rule for names, which also covers (short) ids; anything else could escape the
# URL path of the API call
CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_FRACTION = re.compile(r"\.\d+(?=Z|[+-]\d\d:\d\d$)")


class DockerClientError(Exception):
    """A failed call; ``code`` is the kind of failure (``upstream_error`` by default)."""

    code = "upstream_error"


class ContainerNotFound(DockerClientError):
    """The endpoint has no container by that name or id."""

    code = "not_found"


class EndpointUnreachable(DockerClientError):
    """The endpoint could not be connected to (socket missing, refused, timed out, ssh)."""

    code = "unreachable"


class EndpointTimeout(DockerClientError):
    """The endpoint accepted the call but did not finish it in time."""

    code = "timeout"


class Conflict(DockerClientError):
    """The container is in a state that does not allow the action."""

    code = "conflict"


class InvalidRequest(DockerClientError):
    """The request itself is malformed (e.g. an impossible container name)."""

    code = "invalid_args"


@dataclass(frozen=True, slots=True)
class ContainerState:
    """What ``inspect`` says about a container, in the shape of the MQTT contract."""

    id: str
    name: str
    image: str
    status: str  # created, running, paused, restarting, exited, dead
    health: str | None  # healthy, unhealthy, starting; None without a healthcheck
    restart_count: int
    started_at: str | None  # ISO-8601 UTC, seconds precision; None if never started
    exit_code: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return the state as a JSON-able dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LogTail:
    """The last lines of a container's output, capped in bytes (newest lines kept)."""

    text: str
    lines: int
    truncated: bool


def _iso(value: str | None) -> str | None:
    """Normalise a Docker timestamp (nanoseconds, Z) to seconds precision; None for 'never'."""
    if not value or value.startswith("0001-01-01"):
        return None
    return _FRACTION.sub("", value)


def parse_inspect(data: dict[str, Any]) -> ContainerState:
    """Turn a ``GET /containers/{id}/json`` body into a :class:`ContainerState`."""
    state = data.get("State") or {}
    health = (state.get("Health") or {}).get("Status") or None
    config = data.get("Config") or {}
    exited = state.get("Status") in ("exited", "dead", "stopped")
    return ContainerState(
        id=str(data.get("Id", ""))[:12],
        name=str(data.get("Name", "")).lstrip("/"),
        image=str(config.get("Image") or data.get("Image") or ""),
        status=str(state.get("Status") or "unknown"),
        health=health,
        restart_count=int(data.get("RestartCount") or 0),
        started_at=_iso(state.get("StartedAt")),
        exit_code=int(state.get("ExitCode") or 0) if exited else None,
    )


def summary_of(item: dict[str, Any]) -> dict[str, Any]:
    """Turn one ``GET /containers/json`` entry into a small JSON-able summary."""
    names = item.get("Names") or []
    return {
        "id": str(item.get("Id", ""))[:12],
        "name": str(names[0]).lstrip("/") if names else str(item.get("Id", ""))[:12],
        "image": item.get("Image", ""),
        "status": item.get("State", "unknown"),
        "status_text": item.get("Status", ""),
    }


class DockerEndpoint:
    """One Docker Engine API endpoint; every call is bounded by ``timeout_s``.

    The connection is opened lazily on the first call (and the SSH tunnel re-opened after it
    drops), so a configured but down endpoint costs nothing until it is used.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        ssh_key: str | None = None,
        ssh_known_hosts: str | None = None,
        remote_socket: str = "/var/run/docker.sock",
        max_parallel: int = 8,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._tunnel: SshTunnel | None = None
        if url.startswith("ssh://"):
            self._tunnel = SshTunnel(
                url, remote_socket=remote_socket, key_path=ssh_key,
                known_hosts=ssh_known_hosts, connect_timeout_s=connect_timeout_s,
            )
            self._api_url = f"unix://{self._tunnel.local_path}"
        elif url.startswith("unix://"):
            self._api_url = url
        elif url.startswith(("tcp://", "http://", "https://")):
            self._api_url = re.sub(r"^tcp://", "http://", url)
        else:
            raise ValueError(f"unsupported Docker endpoint URL {url!r} (unix, tcp or ssh)")
        self._docker: aiodocker.Docker | None = None
        self._parallel = asyncio.Semaphore(max_parallel)

    def _client(self) -> aiodocker.Docker:
        """The aiodocker client, created on first use (it needs a running loop)."""
        if self._docker is None:
            timeout = aiohttp.ClientTimeout(
                total=self.timeout_s, connect=self.connect_timeout_s,
                sock_connect=self.connect_timeout_s,
            )
            self._docker = aiodocker.Docker(url=self._api_url, timeout=timeout)
        return self._docker

    async def _call(self, what: str, fn: Callable[[aiodocker.Docker], Awaitable[T]],
                    *, container: str | None = None, extra_s: float = 0.0) -> T:
        """Run one API interaction under a deadline, mapping every failure to our errors."""
        if container is not None and not CONTAINER_NAME.match(container):
            raise InvalidRequest(f"invalid container name {container!r}")
        try:
            async with asyncio.timeout(self.timeout_s + extra_s):
                return await self._attempt(fn)
        except TunnelError as exc:
            raise EndpointUnreachable(f"{self.url}: {exc}") from exc
        except aiodocker.DockerError as exc:
            raise _map_docker_error(exc, self.url, what, container) from exc
        except aiohttp.ServerTimeoutError as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                raise EndpointUnreachable(f"{self.url}: connect timed out") from exc
            raise EndpointTimeout(f"{self.url}: {what} timed out") from exc
        except TimeoutError as exc:
            raise EndpointTimeout(
                f"{self.url}: {what} took longer than {self.timeout_s + extra_s:g}s"
            ) from exc
        except aiohttp.ClientConnectionError as exc:
            raise EndpointUnreachable(f"{self.url}: connection lost ({exc})") from exc
        except (aiohttp.ClientError, ValueError, KeyError) as exc:
            raise DockerClientError(f"{self.url}: {what} failed: {exc!r}") from exc

    async def _attempt(self, fn: Callable[[aiodocker.Docker], Awaitable[T]]) -> T:
        """Call ``fn``; through SSH, reconnect once when the local socket refuses the connect.

        A dropped SSH connection is noticed a moment late, so the first call after it may
        meet a dead forwarder. Nothing reached the engine then, so one retry is safe.
        """
        if self._tunnel is None:
            return await fn(self._client())
        await self._tunnel.ensure()
        generation = self._tunnel.generation
        try:
            return await fn(self._client())
        except aiodocker.DockerError as exc:
            if exc.status != 900:
                raise
        await self._tunnel.reconnect(generation)
        return await fn(self._client())

    async def ping(self) -> None:
        """Check that the endpoint answers (raises like any other call)."""
        await self._call("ping", lambda d: d.version())

    async def list_containers(self) -> list[dict[str, Any]]:
        """List all containers (running or not) as summaries: id, name, image, status."""

        async def run(d: aiodocker.Docker) -> list[dict[str, Any]]:
            return [summary_of(c._container) for c in await d.containers.list(all=True)]

        return await self._call("list", run)

    async def inspect(self, container: str) -> ContainerState:
        """Return one container's state (status, health, restart count, started_at...)."""

        async def run(d: aiodocker.Docker) -> ContainerState:
            return parse_inspect(await d.containers.container(container).show())

        return await self._call("inspect", run, container=container)

    async def states(self) -> list[ContainerState]:
        """Inspect every container; ones that vanish between list and inspect are skipped."""
        summaries = await self.list_containers()

        async def one(name: str) -> ContainerState | None:
            async with self._parallel:
                try:
                    return await self.inspect(name)
                except ContainerNotFound:
                    return None

        found = await asyncio.gather(*(one(s["id"]) for s in summaries if s["id"]))
        return [s for s in found if s is not None]

    async def logs(self, container: str, *, tail: int = 100, timestamps: bool = True,
                   max_bytes: int = 65536) -> LogTail:
        """Return the last ``tail`` lines of stdout and stderr, at most ``max_bytes`` of them."""

        async def run(d: aiodocker.Docker) -> list[str]:
            lines = await d.containers.container(container).log(
                stdout=True, stderr=True, tail=max(1, tail), timestamps=timestamps,
            )
            return list(lines)

        chunks = await self._call("logs", run, container=container)
        text = "".join(chunks)
        data = text.encode("utf-8", "replace")
        truncated = len(data) > max_bytes
        if truncated:
            # keep the newest output, starting at a whole line where possible
            data = data[-max_bytes:]
            cut = data.find(b"\n")
            if 0 <= cut < len(data) - 1:
                data = data[cut + 1:]
            text = data.decode("utf-8", "replace")
        return LogTail(text=text, lines=text.count("\n"), truncated=truncated)

    async def start(self, container: str) -> ContainerState:
        """Start a container (a no-op if it runs) and return its new state."""

        async def run(d: aiodocker.Docker) -> ContainerState:
            ref = d.containers.container(container)
            await ref.start()
            return parse_inspect(await ref.show())

        return await self._call("start", run, container=container)

    async def stop(self, container: str, *, grace_s: int = 10) -> ContainerState:
        """Stop a container (SIGTERM, SIGKILL after ``grace_s``) and return its new state."""

        async def run(d: aiodocker.Docker) -> ContainerState:
            ref = d.containers.container(container)
            await ref.stop(t=grace_s)
            return parse_inspect(await ref.show())

        return await self._call("stop", run, container=container, extra_s=grace_s)

    async def restart(self, container: str, *, grace_s: int = 10) -> ContainerState:
        """Restart a container (stopping it first within ``grace_s``) and return its state."""

        async def run(d: aiodocker.Docker) -> ContainerState:
            ref = d.containers.container(container)
            await ref.restart(t=grace_s)
            return parse_inspect(await ref.show())

        return await self._call("restart", run, container=container, extra_s=grace_s)

    async def close(self) -> None:
        """Close the HTTP session and the SSH tunnel, if any."""
        if self._docker is not None:
            docker, self._docker = self._docker, None
            await docker.close()
        if self._tunnel is not None:
            await self._tunnel.close()


def _map_docker_error(exc: aiodocker.DockerError, url: str, what: str,
                      container: str | None) -> DockerClientError:
    """Translate an aiodocker error (HTTP status, or 900 for 'cannot connect') to ours."""
    if exc.status == 900:
        # aiodocker wraps the socket error as "Cannot connect to Docker Engine via X [reason]"
        reason = exc.message.rsplit(" [", 1)[-1].rstrip("]")
        return EndpointUnreachable(f"{url}: cannot connect ({_short(reason)})")
    if exc.status == 404 and container is not None:
        return ContainerNotFound(f"no container {container!r} on {url}")
    if exc.status == 409:
        return Conflict(f"{what} {container or ''}: {_short(exc.message)}".strip())
    return DockerClientError(f"{url}: {what} failed: HTTP {exc.status} {_short(exc.message)}")


def _short(message: str, limit: int = 300) -> str:
    """Keep error messages to one readable line."""
    line = " ".join(str(message).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
