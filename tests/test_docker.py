"""The docker plugin against a real Docker Engine API: podman's service on a unix socket.

Containers are busybox shells started by podman itself; the hub talks to them only through
the API, the way it talks to a real Docker host.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from jarvis.core.config import ConfigError
from jarvis.core.hub import Hub
from jarvis.plugins.docker.client import (
    ContainerNotFound,
    DockerEndpoint,
    EndpointTimeout,
    EndpointUnreachable,
)

from tests.fixtures.hub import running_hub
from tests.fixtures.podman import PodmanService
from tests.fixtures.sshd import SshdServer

HOST = "local"


@asynccontextmanager
async def docker_hub(url: str, **extra: Any) -> AsyncIterator[Hub]:
    """A hub with only the docker plugin, one endpoint named ``local`` plus ``extra`` config."""
    endpoints = {HOST: {"url": url, "timeout_s": 10}, **extra.pop("endpoints", {})}
    config = {"plugins": {"docker": {"endpoints": endpoints, **extra.pop("docker", {})}}, **extra}
    async with running_hub(config, plugins=["docker"]) as hub:
        yield hub


async def call(hub: Hub, tool: str, source: str = "cli", **args: Any) -> dict[str, Any]:
    """Run ``docker.<tool>`` and return the contract reply."""
    return await hub.call_tool(f"docker.{tool}", args, source=source)


async def data(hub: Hub, tool: str, **args: Any) -> Any:
    """Run ``docker.<tool>`` and return its data, failing the test on any other reply."""
    reply = await call(hub, tool, **args)
    assert reply["status"] == "ok", reply
    return reply["data"]


def closed_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (connects are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A loopback port whose accept queue is full, so new connects hang like a dead host."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(3):
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(sock)
    yield port
    for sock in [*fillers, server]:
        sock.close()


# -- reading -----------------------------------------------------------------------------------


async def test_list_shows_every_container_with_its_state(
    podman: str, podman_service: PodmanService, podman_container: str
) -> None:
    stopped = podman_service.run_container("exit 3")
    try:
        async with docker_hub(podman) as hub:
            listed = await data(hub, "list")
        by_name = {c["name"]: c for c in listed["containers"]}
        assert by_name[podman_container]["status"] == "running"
        assert by_name[podman_container]["host"] == HOST
        assert by_name[podman_container]["image"].startswith("localhost/busybox")
        assert by_name[stopped]["status"] == "exited"  # all containers, not just running ones
        assert listed["errors"] == {}
    finally:
        podman_service.remove(stopped)


async def test_status_reports_image_health_restart_count_and_start_time(
    podman: str, podman_container: str
) -> None:
    async with docker_hub(podman) as hub:
        state = await data(hub, "status", host=HOST, container=podman_container)
    assert state["name"] == podman_container
    assert state["status"] == "running"
    assert state["image"] == "localhost/busybox:latest"
    assert state["health"] is None  # no healthcheck defined
    assert state["restart_count"] == 0
    assert state["started_at"].endswith("Z") and "." not in state["started_at"]


async def test_health_comes_from_the_container_healthcheck(
    podman: str, podman_service: PodmanService
) -> None:
    # interval 0: no systemd timer here, the test runs the checks itself
    with podman_service.container(
        "sleep 300", "--health-cmd", "false", "--health-interval", "0", "--health-retries", "1"
    ) as name:
        async with docker_hub(podman) as hub:
            before = await data(hub, "status", host=HOST, container=name)
            podman_service.podman("healthcheck", "run", name, check=False)
            after = await data(hub, "status", host=HOST, container=name)
    assert before["health"] == "starting"
    assert after["health"] == "unhealthy"


async def test_logs_return_the_latest_lines_with_timestamps(
    podman: str, podman_container: str
) -> None:
    async with docker_hub(podman) as hub:
        logs = await data(hub, "logs", host=HOST, container=podman_container, tail=10)
    assert "hello" in logs["text"]
    assert logs["text"][:4].isdigit()  # each line starts with its RFC 3339 timestamp
    assert logs["truncated"] is False


async def test_logs_are_capped_in_bytes_keeping_the_newest_lines(
    podman: str, podman_service: PodmanService
) -> None:
    chatty = "i=0; while [ $i -lt 400 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done"
    with podman_service.container(chatty + "; sleep 300") as name:
        async with docker_hub(podman, docker={"log_max_bytes": 2048}) as hub:
            for _ in range(50):  # the loop takes a moment to print everything
                logs = await data(hub, "logs", host=HOST, container=name, tail=1000,
                                  timestamps=False)
                if "line-399-" in logs["text"]:
                    break
                await asyncio.sleep(0.1)
    assert logs["truncated"] is True
    assert len(logs["text"].encode()) <= 2048
    assert logs["text"].startswith("line-")  # cut at a line boundary
    assert logs["text"].rstrip().endswith("line-399-padding-padding-padding")


# -- acting ------------------------------------------------------------------------------------


async def test_restart_gives_the_container_a_new_start_time(
    podman: str, podman_container: str
) -> None:
    async with docker_hub(podman) as hub:
        before = await data(hub, "status", host=HOST, container=podman_container)
        await asyncio.sleep(1.1)  # started_at has seconds precision
        restarted = await data(hub, "restart", host=HOST, container=podman_container, grace_s=5)
    assert restarted["status"] == "running"
    assert restarted["started_at"] > before["started_at"]
    assert isinstance(restarted["restart_count"], int)  # counts policy restarts, not manual ones


async def test_stop_then_start(podman: str, podman_container: str) -> None:
    async with docker_hub(podman) as hub:
        started = time.monotonic()
        stopped = await data(hub, "stop", host=HOST, container=podman_container, grace_s=5)
        assert time.monotonic() - started < 5  # the container traps SIGTERM and exits at once
        assert stopped["status"] == "exited"
        assert stopped["exit_code"] == 0
        running = await data(hub, "start", host=HOST, container=podman_container)
        assert running["status"] == "running"
        assert running["exit_code"] is None
        again = await data(hub, "status", host=HOST, container=podman_container)
        assert again["status"] == "running"


async def test_stop_of_a_protected_container_needs_a_confirmed_human(
    podman: str, podman_container: str
) -> None:
    protected = {"safety": {"protected": {"containers": [f"{HOST}/{podman_container}"]}}}
    async with docker_hub(podman, **protected) as hub:
        by_llm = await call(hub, "stop", source="llm", host=HOST, container=podman_container)
        by_human = await call(hub, "stop", host=HOST, container=podman_container)
        restart = await call(hub, "restart", host=HOST, container=podman_container, grace_s=1)
        state = await data(hub, "status", host=HOST, container=podman_container)
    assert by_llm["status"] == "error" and by_llm["error"]["code"] == "protected"
    assert by_human["status"] == "confirmation_required"
    assert restart["status"] == "ok"  # only disruptive tools are held back
    assert state["status"] == "running"


# -- errors ------------------------------------------------------------------------------------


async def test_unknown_container_or_host_is_not_found(podman: str) -> None:
    async with docker_hub(podman) as hub:
        for tool in ("status", "logs", "start", "stop", "restart"):
            reply = await call(hub, tool, host=HOST, container="no-such-container")
            assert reply["status"] == "error", (tool, reply)
            assert reply["error"]["code"] == "not_found", (tool, reply)
            assert "no-such-container" in reply["error"]["message"]
        reply = await call(hub, "status", host="elsewhere", container="x")
    assert reply["error"]["code"] == "not_found"
    assert "local" in reply["error"]["message"]  # names the configured hosts


async def test_a_container_name_that_could_escape_the_api_path_is_refused(podman: str) -> None:
    async with docker_hub(podman) as hub:
        for bad in ("../images/json", "a/b", "", "x?all=1"):
            reply = await call(hub, "status", host=HOST, container=bad)
            assert reply["error"]["code"] == "invalid_args", (bad, reply)


@pytest.mark.parametrize("kind", ["missing socket", "closed port"])
async def test_an_endpoint_that_is_down_is_unreachable_at_once(kind: str, tmp_path: Any) -> None:
    url = (f"unix://{tmp_path}/nothing.sock" if kind == "missing socket"
           else f"tcp://127.0.0.1:{closed_port()}")
    async with docker_hub(url) as hub:
        started = time.monotonic()
        reply = await call(hub, "status", host=HOST, container="web")
        listed = await call(hub, "list")
    assert time.monotonic() - started < 2
    assert reply["error"]["code"] == "unreachable"
    assert listed["error"]["code"] == "unreachable"


async def test_a_host_that_never_answers_the_connect_is_unreachable_after_the_connect_timeout(
    silent_listener: int,
) -> None:
    endpoint = DockerEndpoint(f"tcp://127.0.0.1:{silent_listener}", timeout_s=10,
                              connect_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(EndpointUnreachable, match="connect timed out"):
        await endpoint.list_containers()
    await endpoint.close()
    assert time.monotonic() - started < 2


async def test_a_host_that_accepts_but_never_replies_times_out() -> None:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answer

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    endpoint = DockerEndpoint(f"tcp://127.0.0.1:{port}", timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(EndpointTimeout):
        await endpoint.inspect("web")
    await endpoint.close()
    server.close()
    assert time.monotonic() - started < 2


async def test_client_maps_a_missing_container_without_the_hub(podman: str) -> None:
    endpoint = DockerEndpoint(podman)
    with pytest.raises(ContainerNotFound):
        await endpoint.inspect("no-such-container")
    await endpoint.close()


async def test_bad_endpoint_config_is_refused_with_the_key_path() -> None:
    for bad in ({"url": "ftp://x"}, {"url": "unix:///x", "timeout_s": 0}, {"url": "unix:///x",
                                                                             "typo": 1}):
        with pytest.raises(ConfigError, match=r"plugins\.docker\.endpoints"):
            async with running_hub({"plugins": {"docker": {"endpoints": {"h": bad}}}},
                                   plugins=["docker"]):
                pass


async def test_an_empty_config_idles() -> None:
    async with running_hub({}, plugins=["docker"]) as hub:
        assert await hub.refresh() == {}
        listed = await data(hub, "list")
        assert listed == {"containers": [], "errors": {}}
        assert hub.plugin_statuses()["docker"]["status"] == "ok"


# -- state and commands ------------------------------------------------------------------------


async def test_the_source_publishes_each_container_and_clears_removed_ones(
    podman: str, podman_service: PodmanService, podman_container: str
) -> None:
    extra = podman_service.run_container()
    async with docker_hub(podman) as hub:
        assert await hub.refresh() == {"docker:containers_local": True}
        state = hub.state.items(("docker", HOST))
        entity = state[("docker", HOST, podman_container, "state")]
        assert entity["name"] == podman_container
        assert entity["status"] == "running"
        assert entity["image"] == "localhost/busybox:latest"
        assert set(entity) >= {"health", "restart_count", "started_at"}
        assert ("docker", HOST, extra, "state") in state
        podman_service.remove(extra)
        await hub.refresh()
        assert ("docker", HOST, extra, "state") not in hub.state.items(("docker", HOST))


async def test_a_down_endpoint_degrades_the_plugin_while_the_others_keep_publishing(
    podman: str, podman_container: str, tmp_path: Any
) -> None:
    down = {"endpoints": {"nas": {"url": f"unix://{tmp_path}/gone.sock"}}}
    async with docker_hub(podman, **down) as hub:
        results = await hub.refresh()
        assert results == {"docker:containers_local": True, "docker:containers_nas": False}
        assert ("docker", HOST, podman_container, "state") in hub.state.items(("docker",))
        status = hub.plugin_statuses()["docker"]
        assert status["status"] == "degraded"
        assert "nas" in status["reason"] and "cannot connect" in status["reason"]
        listed = await data(hub, "list")  # partial results name the host that failed
        assert listed["errors"]["nas"]["code"] == "unreachable"
        assert any(c["name"] == podman_container for c in listed["containers"])


async def test_the_action_command_runs_the_matching_tool(
    podman: str, podman_container: str
) -> None:
    async with docker_hub(podman) as hub:
        stop = await hub.handle_command("docker", (HOST, podman_container), "action", "stop",
                                        source="mqtt")
        assert stop["status"] == "ok", stop
        assert stop["data"]["status"] == "exited"
        start = await hub.handle_command("docker", (HOST, podman_container), "action",
                                         " START\n", source="mqtt")
        assert start["data"]["status"] == "running"
        bad = await hub.handle_command("docker", (HOST, podman_container), "action", "pause",
                                       source="mqtt")
        assert bad["error"]["code"] == "invalid_args"
        assert "start, stop, restart" in bad["error"]["message"]


async def test_commands_on_slugged_topic_ids_reach_the_real_container(
    podman: str, podman_service: PodmanService
) -> None:
    with podman_service.container(suffix=".web") as name:  # "." is slugged to "_" in topics
        async with docker_hub(podman) as hub:
            await hub.refresh()
            reply = await hub.handle_command(
                "docker", (HOST, name.replace(".", "_")), "action", "restart", source="mqtt")
    assert reply["status"] == "ok", reply
    assert reply["data"]["name"] == name


# -- ssh ---------------------------------------------------------------------------------------


async def test_an_ssh_endpoint_tunnels_to_the_remote_docker_socket(
    podman_service: PodmanService, podman_container: str, sshd: SshdServer
) -> None:
    endpoint = {
        "url": f"ssh://{sshd.username}@{sshd.host}:{sshd.port}",
        "ssh_key": str(sshd.client_key),
        "ssh_known_hosts": str(sshd.known_hosts),
        "remote_socket": str(podman_service.socket),
    }
    async with docker_hub(podman_service.url, endpoints={"remote": endpoint}) as hub:
        state = await data(hub, "status", host="remote", container=podman_container)
        assert state["status"] == "running"
        sshd.drop_connections()  # the tunnel is re-established by the next call
        listed = await data(hub, "list", host="remote")
        assert any(c["name"] == podman_container for c in listed["containers"])
        assert sshd.accepted_logins() == 2  # one SSH connection per tunnel, not per call


async def test_an_ssh_endpoint_with_an_unknown_host_key_is_unreachable(
    podman_service: PodmanService, sshd: SshdServer
) -> None:
    endpoint = {
        "url": f"ssh://{sshd.username}@{sshd.host}:{sshd.port}",
        "ssh_key": str(sshd.client_key),
        "ssh_known_hosts": str(sshd.wrong_known_hosts),
        "remote_socket": str(podman_service.socket),
    }
    async with docker_hub(podman_service.url, endpoints={"remote": endpoint}) as hub:
        reply = await call(hub, "list", host="remote")
    assert reply["error"]["code"] == "unreachable"
    assert "ssh" in reply["error"]["message"]
