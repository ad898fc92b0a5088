"""The network plugin: Wake-on-LAN packets and host reachability, over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jarvis.core.config import ConfigError
from jarvis.core.hub import Hub
from jarvis.plugins.network.addr import looks_like_mac, normalize_mac, validate_address
from jarvis.plugins.network.reach import Prober

from tests.fixtures.hub import running_hub

MAC = "aa:bb:cc:dd:ee:ff"
PACKET = b"\xff" * 6 + bytes.fromhex("aabbccddeeff") * 16


# -- peers -----------------------------------------------------------------------------------


@pytest.fixture
async def udp_listener() -> AsyncIterator[tuple[int, asyncio.Queue[bytes]]]:
    """A UDP socket on 127.0.0.1:<free port>; every datagram it receives lands in the queue."""
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Collect(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            received.put_nowait(data)

    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Collect, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    yield port, received
    transport.close()


def closed_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (connects are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tcp_listener() -> Iterator[socket.socket]:
    """A listening TCP socket on 127.0.0.1 (the kernel completes handshakes for us)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock
    sock.close()


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A TCP port whose accept queue is full: Linux then drops new SYNs, like a dead host."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=2)
    yield port
    filler.close()
    server.close()


@asynccontextmanager
async def network_hub(config: dict[str, Any]) -> AsyncIterator[Hub]:
    """A hub with only the network plugin, its start-up poll already done."""
    async with running_hub(config, plugins=["network"]) as hub:
        # A poll that ends in the same loop turn as hub.stop() cancels it can swallow the
        # cancel on Python 3.11 (asyncio.wait_for in core/sources.py), so settle it first.
        await hub.refresh()
        yield hub


def network(hosts: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
    return {"plugins": {"network": {"hosts": hosts or {}, **settings}}}


# -- Wake-on-LAN -----------------------------------------------------------------------------


async def test_wake_by_host_name_sends_the_magic_packet_to_its_broadcast_and_port(udp_listener):
    port, received = udp_listener
    hosts = {"nas": {"address": "127.0.0.1", "mac": "AA-BB-CC-DD-EE-FF", "broadcast": "127.0.0.1", "wol_port": port}}
    async with network_hub(network(hosts)) as hub:
        reply = await hub.call_tool("network.wake", {"host": "nas"}, source="cli")

    assert reply["status"] == "ok", reply
    assert reply["data"] == {"host": "nas", "mac": MAC, "broadcast": "127.0.0.1", "port": port, "bytes": 102}
    packet = await asyncio.wait_for(received.get(), 2)
    assert packet == PACKET
    assert len(packet) == 102


@pytest.mark.parametrize("notation", ["aabb.ccdd.eeff", "AABBCCDDEEFF", "aa:bb:cc:dd:ee:ff"])
async def test_wake_by_mac_in_any_usual_notation_with_broadcast_and_port_given(udp_listener, notation):
    port, received = udp_listener
    async with network_hub(network()) as hub:
        reply = await hub.call_tool(
            "network.wake", {"host": notation, "broadcast": "127.0.0.1", "port": port}, source="cli"
        )

    assert reply["status"] == "ok", reply
    assert reply["data"]["host"] is None
    assert reply["data"]["mac"] == MAC
    assert await asyncio.wait_for(received.get(), 2) == PACKET


@pytest.mark.parametrize(
    "bad",
    [
        "aa:bb:cc:dd:ee",
        "aa:bb:cc:dd:ee:gg",
        "aa:bb:cc:dd:ee:ff:00",
        "aa:bb-cc:dd:ee:ff",
        "aabbccddeef",
        "aa bb cc dd ee ff",
    ],
)
async def test_a_malformed_mac_is_rejected_and_nothing_is_sent(udp_listener, bad):
    port, received = udp_listener
    async with network_hub(network()) as hub:
        reply = await hub.call_tool("network.wake", {"host": bad, "broadcast": "127.0.0.1", "port": port}, source="cli")

    assert reply["status"] == "error"
    assert reply["error"]["code"] == "invalid_args"
    assert "MAC" in reply["error"]["message"]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(received.get(), 0.3)


async def test_wake_of_an_unknown_host_is_not_found_and_of_a_host_without_mac_too():
    hosts = {"printer": {"address": "127.0.0.1"}}
    async with network_hub(network(hosts)) as hub:
        unknown = await hub.call_tool("network.wake", {"host": "pve9"}, source="cli")
        no_mac = await hub.call_tool("network.wake", {"host": "printer"}, source="cli")

    assert unknown["error"]["code"] == "not_found"
    assert no_mac["error"]["code"] == "not_found"
    assert "no MAC" in no_mac["error"]["message"]


@pytest.mark.parametrize(
    "args",
    [
        {"host": "nas; reboot"},
        {"host": "$(reboot)"},
        {"host": MAC, "broadcast": "127.0.0.1 && reboot"},
        {"host": MAC, "port": 0},
        {"host": MAC, "port": 70000},
    ],
)
async def test_wake_rejects_metacharacters_and_bad_ports(args):
    async with network_hub(network()) as hub:
        reply = await hub.call_tool("network.wake", args, source="cli")
    assert reply["status"] == "error"
    assert reply["error"]["code"] == "invalid_args"


async def test_wake_is_a_write_tool_and_ping_a_read_tool():
    async with network_hub(network()) as hub:
        tools = {t["name"]: t for t in hub.info()["tools"]}
    assert tools["network.wake"]["risk"] == "write"
    assert tools["network.ping"]["risk"] == "read"
    assert "host" in tools["network.ping"]["args_schema"]["properties"]


# -- reachability ----------------------------------------------------------------------------


async def test_ping_of_loopback_is_reachable_with_a_round_trip_time():
    async with network_hub(network()) as hub:
        reply = await hub.call_tool("network.ping", {"host": "127.0.0.1", "count": 2}, source="cli")

    assert reply["status"] == "ok", reply
    data = reply["data"]
    assert data["reachable"] is True
    assert data["method"] in ("icmp", "tcp")
    assert data["rtt_ms"] >= 0
    assert data["ip"] == "127.0.0.1"


async def test_ping_of_a_closed_port_without_icmp_is_unreachable_not_an_error():
    hosts = {"box": {"address": "127.0.0.1", "tcp_ports": [closed_port()]}}
    async with network_hub(network(hosts, icmp=False, ping_timeout_s=1)) as hub:
        started = time.monotonic()
        reply = await hub.call_tool("network.ping", {"host": "box"}, source="cli")
        elapsed = time.monotonic() - started

    assert reply["status"] == "ok", reply
    assert reply["data"]["reachable"] is False
    assert reply["data"]["method"] == "tcp"
    assert "refused" in reply["data"]["error"]
    assert elapsed < 1.5


async def test_a_host_that_drops_packets_is_unreachable_within_the_timeout(blackhole_port):
    # An address that is no configured host: probed on the plugin-wide TCP ports.
    config = network(icmp=False, ping_timeout_s=0.5, tcp_ports=[blackhole_port])
    async with network_hub(config) as hub:
        started = time.monotonic()
        reply = await hub.call_tool("network.ping", {"host": "127.0.0.1"}, source="cli")
        elapsed = time.monotonic() - started

    assert reply["data"]["reachable"] is False
    assert reply["data"]["host"] is None
    assert reply["data"]["error"] == f"tcp/{blackhole_port} timed out"
    assert 0.4 < elapsed < 1.5


async def test_tcp_fallback_reports_the_port_that_answered(tcp_listener):
    port = tcp_listener.getsockname()[1]
    prober = Prober(timeout_s=1, tcp_ports=[closed_port(), port], icmp=False)
    probe = await prober.probe("localhost")
    assert (probe.reachable, probe.method, probe.port) == (True, "tcp", port)
    assert probe.rtt_ms is not None
    assert prober.icmp_mode == "off"


async def test_ping_of_an_unresolvable_name_is_not_found_and_of_garbage_invalid():
    async with network_hub(network(ping_timeout_s=1)) as hub:
        unknown = await hub.call_tool("network.ping", {"host": "no-such-host.invalid"}, source="cli")
        garbage = await hub.call_tool("network.ping", {"host": "127.0.0.1 | sh"}, source="cli")
        too_many = await hub.call_tool("network.ping", {"host": "127.0.0.1", "count": 99}, source="cli")

    assert unknown["error"]["code"] == "not_found"
    assert garbage["error"]["code"] == "invalid_args"
    assert too_many["error"]["code"] == "invalid_args"


PROBE_AS_NOBODY = """
import asyncio, json, sys
from jarvis.plugins.network.reach import Prober
async def main():
    prober = Prober(timeout_s=1, tcp_ports=[int(sys.argv[1])])
    probe = await prober.probe("127.0.0.1")
    print(json.dumps({"probe": probe.to_dict(), "icmp_mode": prober.icmp_mode}))
asyncio.run(main())
"""


def _nobody_may_ping() -> bool:
    low, high = map(int, Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    return low <= 65534 <= high


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root+setpriv")
def test_without_icmp_permission_the_probe_falls_back_to_tcp(tcp_listener):
    if _nobody_may_ping():
        pytest.skip("ping_group_range lets nobody use ICMP sockets: nothing to fall back from")
    port = tcp_listener.getsockname()[1]
    command = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        sys.executable,
        "-c",
        PROBE_AS_NOBODY,
        str(port),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd="/")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["icmp_mode"] == "unavailable"
    assert result["probe"]["reachable"] is True
    assert result["probe"]["method"] == "tcp"
    assert result["probe"]["port"] == port


# -- host state ------------------------------------------------------------------------------


async def test_the_source_publishes_host_state_and_keeps_last_seen_when_a_host_goes_away():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    hosts = {
        "nas": {"address": "127.0.0.1", "mac": "aabbccddeeff", "tcp_ports": [port]},
        "ghost": {"address": "127.0.0.1", "tcp_ports": [closed_port()]},
    }
    config = network(hosts, icmp=False, ping_timeout_s=1, interval_s=3600)
    async with network_hub(config) as hub:
        await hub.refresh()
        first = dict(hub.state.items(("host",)))
        server.close()
        await hub.refresh()
        second = dict(hub.state.items(("host",)))

    nas = first[("host", "nas", "state")]
    assert nas["reachable"] is True
    assert nas["mac"] == MAC
    assert nas["address"] == "127.0.0.1"
    assert nas["method"] == "tcp"
    assert nas["rtt_ms"] >= 0
    assert datetime.fromisoformat(nas["last_seen"].replace("Z", "+00:00"))
    ghost = first[("host", "ghost", "state")]
    assert (ghost["reachable"], ghost["last_seen"], ghost["mac"]) == (False, None, None)

    gone = second[("host", "nas", "state")]
    assert gone["reachable"] is False
    assert gone["rtt_ms"] is None
    assert gone["last_seen"] == nas["last_seen"]


async def test_an_empty_config_idles_with_no_sources_and_no_host_state():
    async with network_hub(network()) as hub:
        await hub.refresh()
        assert hub.state.items(("host",)) == {}
        assert [r for r in hub.runners if r.ctx.name == "network"] == []
        assert hub.plugin_statuses()["network"]["status"] == "ok"


@pytest.mark.parametrize(
    "host, problem",
    [
        ({"address": "nas.lan", "mac": "aa:bb:cc:dd:ee"}, "mac"),
        ({"address": "nas lan"}, "address"),
        ({"address": "10.0.0.2", "broadcast": "10.0.0.255;x"}, "broadcast"),
        ({"address": "10.0.0.2", "wol_port": 0}, "wol_port"),
    ],
)
async def test_bad_host_config_is_refused_at_start_naming_the_key(host, problem):
    with pytest.raises(ConfigError) as caught:
        async with network_hub(network({"nas": host})):
            pass
    assert f"plugins.network.hosts.nas.{problem}" in "\n".join(caught.value.problems)


# -- address helpers -------------------------------------------------------------------------


def test_mac_notations_normalise_and_near_misses_are_recognised():
    for notation in ["AA:BB:CC:DD:EE:FF", "aa-bb-cc-dd-ee-ff", "aabb.ccdd.eeff", "aabbccddeeff"]:
        assert normalize_mac(notation) == MAC
    assert looks_like_mac("aa:bb:cc:dd:ee")
    assert not looks_like_mac("pve1")
    assert not looks_like_mac("10.0.0.1")
    assert validate_address("pve1.lan") == "pve1.lan"
    assert validate_address("fe80::1") == "fe80::1"
    for bad in ["", "a b", "-x.lan", "x..lan", "x/y", "a" * 254]:
        with pytest.raises(ValueError):
            validate_address(bad)
