"""Each simulated node serves a shell over SSH that answers the commands the plugins send.

Clients are real: asyncssh with the simulator's known_hosts (host keys are checked), the ssh
plugin's own client, and the ssh plugin's tools inside a hub whose `plugins.ssh.hosts` point at
the simulated nodes. Nothing runs on this machine: the simulator answers from its state.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jarvis.plugins.proxmox.sim.shell import split_line
from jarvis.plugins.ssh.client import CommandTimeout, HostSpec, SshClient, Unreachable

from tests.fixtures.hub import running_hub
from tests.fixtures.sim import SimProcess, spawn_simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    """One simulator (seed 1: pve1 has an Intel CPU, pve2 an AMD one) for the module."""
    process = spawn_simulator(seed=1, ssh=True)
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _no_faults_left(sim: SimProcess) -> Iterator[None]:
    yield
    sim.admin("DELETE", "/faults")


def spec(sim: SimProcess, node: str, **override: Any) -> HostSpec:
    entry = {**sim.ssh[node], **override}
    return HostSpec(entry["host"], entry["port"], entry["username"], entry["key_file"], entry["known_hosts"])


@pytest.fixture
async def client(sim: SimProcess) -> AsyncIterator[SshClient]:
    """The ssh plugin's client, one host per simulated node."""
    ssh = SshClient({node: spec(sim, node) for node in sim.nodes}, connect_timeout_s=5)
    yield ssh
    await ssh.close()


async def connect(sim: SimProcess, node: str, **options: Any) -> asyncssh.SSHClientConnection:
    entry = sim.ssh[node]
    settings = {"username": entry["username"], "client_keys": [entry["key_file"]],
                "known_hosts": entry["known_hosts"], "config": (), **options}
    return await asyncssh.connect(entry["host"], port=entry["port"], **settings)


def hub_config(sim: SimProcess) -> dict[str, Any]:
    """What the hub needs to reach the simulated nodes over SSH."""
    return {
        "plugins": {"ssh": {"hosts": sim.ssh, "proxmox_nodes": False}},
        "safety": {"rate_limit": {"per_tool_per_min": 1000, "per_target_per_min": 1000}},
    }


async def tool(hub: Any, name: str, **args: Any) -> dict[str, Any]:
    reply: dict[str, Any] = await hub.call_tool(f"ssh.{name}", args, source="cli", confirmed=True)
    return reply


# ------------------------------------------------------------------ connecting


def test_the_details_name_one_port_per_node_and_shared_key_files(sim: SimProcess) -> None:
    assert set(sim.ssh) == set(sim.nodes)
    assert len({e["port"] for e in sim.ssh.values()}) == len(sim.nodes)
    assert {(e["host"], e["username"]) for e in sim.ssh.values()} == {("127.0.0.1", "root")}
    first = sim.ssh["pve1"]
    assert Path(first["key_file"]).stat().st_mode & 0o077 == 0
    lines = Path(first["known_hosts"]).read_text().splitlines()
    assert [line.split()[0] for line in lines] == [f"[127.0.0.1]:{e['port']}" for e in sim.ssh.values()]


@pytest.fixture
def swapped_known_hosts(sim: SimProcess, tmp_path: Path) -> Path:
    """A known_hosts file that pins pve2's host key on pve1's port."""
    lines = Path(sim.ssh["pve1"]["known_hosts"]).read_text().splitlines()
    swapped = tmp_path / "known_hosts"
    swapped.write_text(f"[127.0.0.1]:{sim.ssh['pve1']['port']} {' '.join(lines[1].split()[1:3])}\n")
    return swapped


async def test_host_key_is_checked_against_the_generated_known_hosts(
    sim: SimProcess, swapped_known_hosts: Path
) -> None:
    async with await connect(sim, "pve1") as conn:
        assert (await conn.run("hostname")).stdout == "pve1\n"
    swapped = swapped_known_hosts
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(sim, "pve1", known_hosts=str(swapped))


async def test_only_root_with_the_simulators_key_gets_in(sim: SimProcess) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(sim, "pve1", username="admin")
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(sim, "pve1", client_keys=[stranger])


# ------------------------------------------------------------------ commands


async def test_the_plugin_client_runs_node_commands(sim: SimProcess, client: SshClient) -> None:
    assert (await client.exec("pve2", ["hostname"])).stdout == "pve2\n"
    uptime = await client.exec("pve2", ["uptime"])
    assert " up " in uptime.stdout and "load average: " in uptime.stdout
    loadavg = (await client.exec("pve2", ["cat", "/proc/loadavg"])).stdout.split()
    assert len(loadavg) == 5 and float(loadavg[0]) >= 0
    assert (await client.exec("pve2", ["pveversion"])).stdout.startswith("pve-manager/9.0.11/")
    missing = await client.exec("pve2", ["htop"])
    assert missing.exit_status == 127
    assert missing.stderr == "timeout: failed to run command 'htop': No such file or directory\n"


async def test_arguments_arrive_literally(client: SshClient) -> None:
    tricky = ["; reboot", "$(id)", "a'b\"c", "`x`", "&&", "two  spaces", "", "*"]
    result = await client.exec("pve1", ["echo", *tricky])
    assert result.stdout == " ".join(tricky) + "\n"


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))),
                min_size=1, max_size=6))
def test_the_command_line_parser_undoes_shell_quoting(argv: list[str]) -> None:
    assert split_line(" ".join(shlex.quote(a) for a in argv)) == argv


@pytest.mark.parametrize(("line", "words"), [
    ('echo "a \\"b\\" $x" c\\ d', ["echo", 'a "b" $x', "c d"]),
    ("true && echo yes;false||echo no", ["true", ("&&",), "echo", "yes", (";",), "false", ("||",), "echo", "no"]),
    ("ls | wc -l > out", ["ls", ("|",), "wc", "-l", (">",), "out"]),
])
def test_typed_lines_split_like_bash_words_and_operators(line: str, words: list[Any]) -> None:
    assert split_line(line) == words


async def test_a_command_running_past_its_timeout_is_ended_by_the_remote_timeout(client: SshClient) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        await client.exec("pve1", ["sleep", "30"], timeout_s=0.5)
    assert time.monotonic() - started < 2.0  # status 124 from `timeout`, not the client giving up


# ------------------------------------------------------------------ the ssh plugin's tools


async def test_service_status_parses_and_restart_recovers_a_stopped_service(sim: SimProcess) -> None:
    async with running_hub(hub_config(sim), plugins=["ssh"]) as hub:
        healthy = await tool(hub, "service_status", host="pve1", service="pveproxy")
        sim.admin("POST", "/faults", {"kind": "service-stopped", "node": "pve1", "service": "pveproxy"})
        down = await tool(hub, "service_status", host="pve1", service="pveproxy")
        other_node = await tool(hub, "service_status", host="pve2", service="pveproxy")
        restarted = await tool(hub, "service_restart", host="pve1", service="pveproxy")
        unknown = await tool(hub, "service_status", host="pve1", service="nosuch")
    assert healthy["data"]["state"] == "active" and healthy["data"]["sub_state"] == "running"
    assert healthy["data"]["description"] == "PVE API Proxy Server" and healthy["data"]["main_pid"]
    assert down["data"]["state"] == "failed" and down["data"]["main_pid"] is None
    assert other_node["data"]["state"] == "active"
    assert restarted["data"]["restarted"] is True and restarted["data"]["state"] == "active"
    assert restarted["data"]["main_pid"] != healthy["data"]["main_pid"]
    assert unknown["status"] == "error" and unknown["error"]["code"] == "not_found"
    assert sim.admin("GET", "/faults") == []  # the node itself resolved it


async def test_a_sticky_stopped_service_does_not_come_back_on_restart(sim: SimProcess) -> None:
    sim.admin("POST", "/faults", {"kind": "service-stopped", "node": "pve3", "service": "corosync",
                                  "state": "inactive", "sticky": True})
    async with running_hub(hub_config(sim), plugins=["ssh"]) as hub:
        down = await tool(hub, "service_status", host="pve3", service="corosync")
        restart = await tool(hub, "service_restart", host="pve3", service="corosync")
        after = await tool(hub, "service_status", host="pve3", service="corosync")
    assert down["data"]["state"] == "inactive"
    assert restart["status"] == "error" and restart["error"]["code"] == "upstream_error"
    assert "Job for corosync.service failed" in restart["error"]["message"]
    assert after["data"]["state"] == "failed"
    sim.admin("DELETE", "/faults")
    async with running_hub(hub_config(sim), plugins=["ssh"]) as hub:
        cleared = await tool(hub, "service_status", host="pve3", service="corosync")
    assert cleared["data"]["state"] == "active"


async def test_updates_check_reads_the_pending_list(sim: SimProcess) -> None:
    async with running_hub(hub_config(sim), plugins=["ssh"]) as hub:
        before = await tool(hub, "updates_check", host="pve4")
        sim.admin("POST", "/faults", {"kind": "updates", "node": "pve4", "count": 8, "security": 3})
        pending = await tool(hub, "updates_check", host="pve4")
        sim.admin("DELETE", "/faults")
        after = await tool(hub, "updates_check", host="pve4")
    assert before["data"]["security"] == 0 and before["data"]["count"] <= 2
    assert (pending["data"]["count"], pending["data"]["security"]) == (8, 3)
    openssl = next(p for p in pending["data"]["packages"] if p["name"] == "openssl")
    assert openssl["suite"] == "stable-security" and openssl["from_version"] == "3.5.1-1"
    assert after["data"] == before["data"]


def package_temp(sensors: dict[str, Any]) -> tuple[float, float | None]:
    """The CPU package reading and its high limit (AMD's k10temp has none)."""
    if "coretemp-isa-0000" in sensors:
        package = sensors["coretemp-isa-0000"]["Package id 0"]
        return package["temp1_input"], package["temp1_max"]
    return sensors["k10temp-pci-00c3"]["Tctl"]["temp1_input"], None


async def test_sensors_json_parses_and_a_hot_node_runs_above_its_limits(sim: SimProcess) -> None:
    async with running_hub(hub_config(sim), plugins=["ssh"]) as hub:
        cool = await tool(hub, "exec", host="pve1", argv=["sensors", "-j"])
        amd = await tool(hub, "exec", host="pve2", argv=["sensors", "-j"])
        sim.admin("POST", "/faults", {"kind": "hot-node", "node": "pve1", "celsius": 97})
        sim.admin("POST", "/tick")  # it stays hot as metrics move on
        hot = await tool(hub, "exec", host="pve1", argv=["sensors", "-j"])
    before, high = package_temp(json.loads(cool["data"]["stdout"]))
    assert high == 80.0 and 25 < before < high
    assert package_temp(json.loads(amd["data"]["stdout"]))[1] is None
    sensors = json.loads(hot["data"]["stdout"])
    package, _ = package_temp(sensors)
    assert 96 <= package <= 98
    cores = [reading for label, values in sensors["coretemp-isa-0000"].items() if label.startswith("Core ")
             for sub, reading in values.items() if sub.endswith("_input")]
    assert cores and all(t > 80.0 for t in cores)
    assert sim.admin("GET", "/state")["nodes"]["pve1"]["cpu_temp"] == package


async def test_pct_exec_runs_in_running_containers_only(sim: SimProcess) -> None:
    guests = sim.api("GET", "/cluster/resources", params={"type": "vm"}).json()["data"]
    running_ct = next(g for g in guests if g["type"] == "lxc" and g["status"] == "running")
    stopped_ct = next(g for g in guests if g["type"] == "lxc" and g["status"] == "stopped")
    vm_here = next(g for g in guests if g["type"] == "qemu" and g["node"] == running_ct["node"])
    node = running_ct["node"]
    async with running_hub(hub_config(sim), plugins=["ssh"]) as hub:
        name = await tool(hub, "pct_exec", host=node, vmid=running_ct["vmid"], argv=["hostname"])
        release = await tool(hub, "pct_exec", host=node, vmid=running_ct["vmid"],
                             argv=["cat", "/etc/os-release"])
        missing = await tool(hub, "pct_exec", host=node, vmid=running_ct["vmid"], argv=["htop"])
        stopped = await tool(hub, "pct_exec", host=stopped_ct["node"], vmid=stopped_ct["vmid"], argv=["uptime"])
        unknown = await tool(hub, "pct_exec", host=node, vmid=999, argv=["uptime"])
        a_vm = await tool(hub, "pct_exec", host=node, vmid=vm_here["vmid"], argv=["uptime"])
        sim.admin("POST", f"/guests/{running_ct['vmid']}/crash")
        crashed = await tool(hub, "pct_exec", host=node, vmid=running_ct["vmid"], argv=["hostname"])
    sim.api("POST", f"/nodes/{node}/lxc/{running_ct['vmid']}/status/start")
    assert (name["data"]["exit_status"], name["data"]["stdout"]) == (0, running_ct["name"] + "\n")
    assert 'VERSION_CODENAME=bookworm' in release["data"]["stdout"]
    assert missing["data"]["exit_status"] == 127 and 'Failed to exec "htop"' in missing["data"]["stderr"]
    for failed in (stopped, crashed):
        assert failed["data"]["exit_status"] == 1
        assert "Failed to get init pid" in failed["data"]["stderr"]
    for absent, vmid in ((unknown, 999), (a_vm, vm_here["vmid"])):
        assert absent["data"]["exit_status"] == 255
        assert absent["data"]["stderr"] == f"Configuration file 'nodes/{node}/lxc/{vmid}.conf' does not exist\n"


# ------------------------------------------------------------------ reachability


async def test_an_offline_node_refuses_ssh_and_drops_its_sessions(sim: SimProcess, client: SshClient) -> None:
    assert (await client.exec("pve3", ["hostname"])).exit_status == 0
    session = await connect(sim, "pve3")
    sim.admin("POST", "/nodes/pve3/offline")
    await asyncio.wait_for(session.wait_closed(), 5)
    with pytest.raises(Unreachable, match="pve3"):
        await client.exec("pve3", ["hostname"])
    with pytest.raises(ConnectionRefusedError):
        await connect(sim, "pve3")
    assert (await client.exec("pve2", ["hostname"])).stdout == "pve2\n"
    sim.admin("POST", "/nodes/pve3/online")
    await asyncio.sleep(0.2)
    assert (await client.exec("pve3", ["hostname"])).stdout == "pve3\n"


async def test_a_powered_off_node_is_unreachable_until_powered_on(sim: SimProcess, client: SshClient) -> None:
    assert (await client.exec("pve4", ["hostname"])).exit_status == 0
    sim.admin("POST", "/nodes/pve4/poweroff")
    try:
        await asyncio.sleep(0.2)
        with pytest.raises(Unreachable):
            await client.exec("pve4", ["uptime"])
    finally:
        sim.admin("POST", "/nodes/pve4/poweron")
    await asyncio.sleep(0.2)
    assert (await client.exec("pve4", ["hostname"])).stdout == "pve4\n"


# ------------------------------------------------------------------ interactive shell


async def read_until(session: Any, marker: bytes, within_s: float = 5.0) -> bytes:
    seen = b""
    async with asyncio.timeout(within_s):
        while marker not in seen:
            chunk = await session.read()
            assert chunk, f"session ended before {marker!r}: {seen!r}"
            seen += chunk
    return seen


async def test_a_pty_gets_a_prompt_runs_commands_and_exits(client: SshClient) -> None:
    session = await client.open_pty("pve1", cols=100, rows=30)
    banner = await read_until(session, b"root@pve1:~# ")
    assert b"Linux pve1 6.14.11-4-pve" in banner
    await session.write(b"hostname\r")
    assert b"hostname\r\npve1\r\n" in await read_until(session, b"root@pve1:~# ")
    await session.write(b"systemctl is-active chrony nosuch\r")
    assert b"active\r\ninactive\r\n" in await read_until(session, b"root@pve1:~# ")
    await session.write(b"htop\r")
    assert b"-bash: htop: command not found" in await read_until(session, b"root@pve1:~# ")
    session.resize(120, 40)  # a web terminal resizes often: no stray prompt, the line goes on
    await session.write(b"uname -n\r")
    assert (await read_until(session, b"root@pve1:~# ")).count(b"root@pve1:~# ") == 1
    await session.write(b"sleep 30\r")
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await session.write(b"\x03")  # Ctrl-C ends it
    assert b"^C" in await read_until(session, b"root@pve1:~# ")
    assert time.monotonic() - started < 2
    await session.write(b"hostname\r")
    assert b"pve1\r\n" in await read_until(session, b"root@pve1:~# ")
    await session.write(b"exit 3\r")
    async with asyncio.timeout(5):
        while await session.read():
            pass
    assert session.exit_status == 3
