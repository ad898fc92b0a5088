"""The SSH plugin, through the hub, against a real OpenSSH server on loopback.

Commands are argv lists passed literally; an allowlisted command is read-only, anything else is
dangerous (needs a human's confirmation); overdue commands are killed; host keys are verified.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from jarvis.core import Risk

from tests.fixtures.hub import running_hub
from tests.fixtures.sshd import SshdServer, free_port


def ssh_block(sshd: SshdServer, **host: Any) -> dict[str, Any]:
    """A plugins.ssh block with one host, ``lab``, pointing at the test sshd."""
    entry = {
        "host": sshd.host,
        "port": sshd.port,
        "username": sshd.username,
        "key_file": str(sshd.client_key),
        "known_hosts": str(sshd.known_hosts),
        **host,
    }
    return {"hosts": {"lab": entry}}


def hub_config(block: dict[str, Any]) -> dict[str, Any]:
    # Tests make many write calls to one host in a few seconds; the default limit is 6/min.
    limits = {"per_tool_per_min": 1000, "per_target_per_min": 1000}
    return {"plugins": {"ssh": block}, "safety": {"rate_limit": limits}}


async def call(hub: Any, tool: str, **args: Any) -> dict[str, Any]:
    """Call a tool as a human who has already confirmed it."""
    reply: dict[str, Any] = await hub.call_tool(f"ssh.{tool}", args, source="cli", confirmed=True)
    return reply


def error_code(reply: dict[str, Any]) -> str:
    assert reply["status"] == "error", reply
    code: str = reply["error"]["code"]
    return code


async def test_exec_returns_exit_status_and_both_streams(sshd: SshdServer) -> None:
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        argv = ["sh", "-c", "echo out; echo err >&2; exit 3"]
        reply = await call(hub, "exec", host="lab", argv=argv)
    assert reply["status"] == "ok", reply
    data = reply["data"]
    assert (data["exit_status"], data["stdout"], data["stderr"]) == (3, "out\n", "err\n")
    assert data["host"] == "lab" and data["argv"] == argv


async def test_allowlisted_exec_is_read_and_anything_else_is_dangerous(
    sshd: SshdServer, tmp_path: Path
) -> None:
    marker = tmp_path / "touched"
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        tool = hub.pipeline.registry.tools["ssh.exec"]
        assert tool.risk is Risk.DANGEROUS
        args = tool.args.model_validate
        assert tool.risk_for(args({"host": "lab", "argv": ["df", "-h"]})) is Risk.READ
        assert tool.risk_for(args({"host": "lab", "argv": ["systemctl", "status", "x"]})) is Risk.READ
        for argv in (["systemctl", "restart", "x"], ["hostname", "evil"], ["rm", "-rf", "/"]):
            assert tool.risk_for(args({"host": "lab", "argv": argv})) is Risk.DANGEROUS, argv

        read = await hub.call_tool("ssh.exec", {"host": "lab", "argv": ["uptime"]}, source="cli")
        assert read["status"] == "ok" and "load average" in read["data"]["stdout"]

        write = {"host": "lab", "argv": ["touch", str(marker)]}
        asked = await hub.call_tool("ssh.exec", write, source="cli")
        assert asked["status"] == "confirmation_required", asked
        assert not marker.exists()
        done = await hub.pipeline.resolve_confirmation(asked["confirmation"]["id"], True, "cli")
        assert done["status"] == "ok", done
    assert marker.exists()


async def test_a_custom_allowlist_replaces_the_default(sshd: SshdServer) -> None:
    block = {**ssh_block(sshd), "readonly_allowlist": [["echo", "**"]]}
    async with running_hub(hub_config(block), plugins=["ssh"]) as hub:
        echo = await hub.call_tool("ssh.exec", {"host": "lab", "argv": ["echo", "hi"]}, "cli")
        uptime = await hub.call_tool("ssh.exec", {"host": "lab", "argv": ["uptime"]}, "cli")
    assert echo["status"] == "ok" and echo["data"]["stdout"] == "hi\n"
    assert uptime["status"] == "confirmation_required"


SMUGGLED = [
    "; touch {m}",
    "$(touch {m})",
    "`touch {m}`",
    "a && touch {m}",
    "| touch {m}",
    "> {m}",
    "'; touch {m}; '",
    '"; touch {m}; "',
    "\ntouch {m}",
    "*",
    "~",
    "$HOME",
]


async def test_shell_metacharacters_in_arguments_are_passed_literally(
    sshd: SshdServer, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    smuggled = [s.format(m=marker) for s in SMUGGLED]
    sshd.stub("pct", 'printf "%s\\0" "$@"\n')  # echoes its argv, NUL-separated
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        printed = await call(hub, "exec", host="lab", argv=["printf", "%s\\0", *smuggled])
        pct = await call(hub, "pct_exec", host="lab", vmid=101, argv=["echo", *smuggled])
    assert printed["status"] == "ok", printed
    assert printed["data"]["stdout"].split("\0")[:-1] == smuggled
    assert pct["status"] == "ok", pct
    assert pct["data"]["stdout"].split("\0")[:-1] == ["exec", "101", "--", "echo", *smuggled]
    assert not marker.exists()


async def test_bad_names_are_rejected_before_anything_runs(sshd: SshdServer) -> None:
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        for service in ["x;reboot", "$(id)", "`id`", "a b", "-H", "a&&b", ""]:
            reply = await call(hub, "service_status", host="lab", service=service)
            assert error_code(reply) == "invalid_args", service
        assert error_code(await call(hub, "updates_check", host="lab;id")) == "invalid_args"
        assert error_code(await call(hub, "exec", host="lab", argv=["-rf"])) == "invalid_args"
        assert error_code(await call(hub, "exec", host="lab", argv=[])) == "invalid_args"
        assert error_code(await call(hub, "exec", host="nope", argv=["id"])) == "not_found"
        too_long = await call(hub, "exec", host="lab", argv=["id"], timeout_s=100_000)
        assert error_code(too_long) == "invalid_args"
    assert sshd.accepted_logins() == 0


def processes_with_argv(argv: list[str]) -> list[int]:
    """Return pids whose command line is exactly argv."""
    wanted = ("\0".join(argv) + "\0").encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes() == wanted:
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


async def test_an_overdue_command_is_killed_and_reported_as_timeout(sshd: SshdServer) -> None:
    unique = f"30.{time.time_ns() % 10**9}"  # a sleep no one else runs
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        started = time.monotonic()
        argv = ["sh", "-c", f"sleep {unique}; echo never"]
        running = asyncio.create_task(call(hub, "exec", host="lab", argv=argv, timeout_s=1))
        await wait_for(lambda: processes_with_argv(["sleep", unique]) != [])
        reply = await running
        elapsed = time.monotonic() - started
        assert error_code(reply) == "timeout"
        assert elapsed < 5, elapsed
        # the shell's child dies too, not just the shell
        await wait_for(lambda: processes_with_argv(["sleep", unique]) == [])
        after = await call(hub, "exec", host="lab", argv=["true"])
    assert after["status"] == "ok"  # the pooled connection is still usable


async def test_a_mismatched_host_key_is_refused(sshd: SshdServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    for known_hosts in (sshd.wrong_known_hosts, empty):
        block = ssh_block(sshd, known_hosts=str(known_hosts))
        async with running_hub(hub_config(block), plugins=["ssh"]) as hub:
            reply = await call(hub, "exec", host="lab", argv=["touch", str(tmp_path / "ran")])
        assert error_code(reply) == "denied"
        assert "host key" in reply["error"]["message"]
    assert not (tmp_path / "ran").exists()
    assert sshd.accepted_logins() == 0


async def test_trust_on_first_use_records_the_key_and_pins_it(
    sshd: SshdServer, tmp_path: Path
) -> None:
    owned = tmp_path / "state" / "ssh_known_hosts"
    block = {
        **ssh_block(sshd, known_hosts=None),
        "trust_on_first_use": True,
        "tofu_known_hosts": str(owned),
    }
    async with running_hub(hub_config(block), plugins=["ssh"]) as hub:
        first = await call(hub, "exec", host="lab", argv=["true"])
    assert first["status"] == "ok", first
    assert owned.read_text() == sshd.host_key_line
    async with running_hub(hub_config(block), plugins=["ssh"]) as hub:
        again = await call(hub, "exec", host="lab", argv=["true"])
    assert again["status"] == "ok" and owned.read_text() == sshd.host_key_line

    owned.write_text(sshd.wrong_known_hosts.read_text())  # the host "changed its key"
    async with running_hub(hub_config(block), plugins=["ssh"]) as hub:
        changed = await call(hub, "exec", host="lab", argv=["true"])
    assert error_code(changed) == "denied"
    assert owned.read_text() == sshd.wrong_known_hosts.read_text()  # not overwritten


async def test_an_unreachable_host_fails_fast(sshd: SshdServer) -> None:
    block = ssh_block(sshd, port=free_port())  # nothing listens there
    async with running_hub(hub_config(block), plugins=["ssh"]) as hub:
        started = time.monotonic()
        reply = await call(hub, "exec", host="lab", argv=["true"])
    assert error_code(reply) == "unreachable"
    assert time.monotonic() - started < 3


async def test_one_connection_per_host_is_reused(sshd: SshdServer) -> None:
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        concurrent = await asyncio.gather(
            *(call(hub, "exec", host="lab", argv=["echo", str(i)]) for i in range(6))
        )
        sequential = [await call(hub, "exec", host="lab", argv=["true"]) for _ in range(3)]
        assert all(r["status"] == "ok" for r in concurrent + sequential)
        assert [r["data"]["stdout"] for r in concurrent] == [f"{i}\n" for i in range(6)]
        assert sshd.accepted_logins() == 1
        assert len(sshd.session_pids()) == 1
    await wait_for(lambda: sshd.session_pids() == [])  # hub.stop closed it


async def test_a_dropped_connection_is_reopened_transparently(sshd: SshdServer) -> None:
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        assert (await call(hub, "exec", host="lab", argv=["true"]))["status"] == "ok"
        sshd.drop_connections()
        reply = await call(hub, "exec", host="lab", argv=["echo", "back"])
    assert reply["status"] == "ok", reply
    assert reply["data"]["stdout"] == "back\n"
    assert sshd.accepted_logins() == 2


async def test_a_connection_lost_mid_command_is_unreachable_not_output(
    sshd: SshdServer,
) -> None:
    unique = f"20.{time.time_ns() % 10**9}"
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        running = asyncio.create_task(call(hub, "exec", host="lab", argv=["sleep", unique]))
        await wait_for(lambda: processes_with_argv(["sleep", unique]) != [])
        sshd.drop_connections()
        reply = await asyncio.wait_for(running, 5)
    for pid in processes_with_argv(["sleep", unique]):  # orphaned by the drop; end it now
        os.kill(pid, signal.SIGKILL)
    assert error_code(reply) == "unreachable"
    assert "connection lost" in reply["error"]["message"]


async def test_service_status_without_systemd_is_a_clear_error(sshd: SshdServer) -> None:
    # This machine's systemctl exists but no systemd runs (as in most containers).
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        reply = await call(hub, "service_status", host="lab", service="nonexistent-unit")
        assert error_code(reply) == "upstream_error"
        assert "systemd is not running on lab" in reply["error"]["message"]

        sshd.stub("systemctl", "echo 'sh: 1: systemctl: not found' >&2; exit 127\n")
        missing = await call(hub, "service_status", host="lab", service="nonexistent-unit")
    assert error_code(missing) == "upstream_error"
    assert "systemctl is not installed on lab" in missing["error"]["message"]


# A stand-in for systemctl on a host where systemd runs: this machine has no booted systemd.
SYSTEMCTL = """echo "$@" >> {log}
last=$(eval echo \\${{$#}})
case "$1 $last" in
  "show pveproxy") printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\n'
                   printf 'UnitFileState=enabled\\nDescription=PVE API Proxy\\nMainPID=812\\n' ;;
  "show broken") printf 'LoadState=loaded\\nActiveState=failed\\nSubState=failed\\nMainPID=0\\n' ;;
  "show "*) printf 'LoadState=not-found\\nActiveState=inactive\\nSubState=dead\\nMainPID=0\\n' ;;
  "restart pveproxy") ;;
  "restart "*) echo "Failed to restart $last.service: Unit $last.service not found." >&2
               exit 5 ;;
esac
"""


async def test_service_status_and_restart_interpret_systemd(
    sshd: SshdServer, tmp_path: Path
) -> None:
    log = tmp_path / "systemctl.log"
    sshd.stub("systemctl", SYSTEMCTL.format(log=log))
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        up = await call(hub, "service_status", host="lab", service="pveproxy")
        broken = await call(hub, "service_status", host="lab", service="broken")
        absent = await call(hub, "service_status", host="lab", service="nosuch")
        restarted = await call(hub, "service_restart", host="lab", service="pveproxy")
        not_there = await call(hub, "service_restart", host="lab", service="nosuch")
        tools = hub.pipeline.registry.tools
        assert tools["ssh.service_status"].risk is Risk.READ
        assert tools["ssh.service_restart"].risk is Risk.WRITE
    assert up["data"]["state"] == "active" and up["data"]["sub_state"] == "running"
    assert up["data"]["main_pid"] == 812 and up["data"]["description"] == "PVE API Proxy"
    assert broken["data"]["state"] == "failed" and broken["data"]["main_pid"] is None
    assert error_code(absent) == "not_found"
    assert restarted["data"]["restarted"] is True and restarted["data"]["state"] == "active"
    assert error_code(not_there) == "not_found"
    assert "restart --no-ask-password pveproxy" in log.read_text()


async def test_updates_check_lists_what_apt_would_upgrade(sshd: SshdServer) -> None:
    # The sshd runs on this machine, so apt here must agree with what the tool reports.
    local = await asyncio.create_subprocess_exec(
        "apt", "list", "--upgradable", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
    )
    listing = (await local.communicate())[0].decode()
    expected = {line.split("/")[0] for line in listing.splitlines() if "/" in line}
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        real = await call(hub, "updates_check", host="lab")
        sshd.stub("apt", APT_OUTPUT)
        sample = await call(hub, "updates_check", host="lab")
    assert real["status"] == "ok", real
    assert {p["name"] for p in real["data"]["packages"]} == expected
    assert real["data"]["count"] == len(expected)
    assert sample["data"]["count"] == 2 and sample["data"]["security"] == 1
    assert sample["data"]["packages"][1] == {
        "name": "openssl", "suite": "bookworm-security", "version": "3.0.15-1~deb12u1",
        "arch": "amd64", "from_version": "3.0.13-1~deb12u1",
    }


APT_OUTPUT = """echo 'WARNING: apt does not have a stable CLI interface.' >&2
echo 'Listing...'
echo 'base-files/bookworm-updates 12.4+deb12u8 amd64 [upgradable from: 12.4+deb12u7]'
echo 'openssl/bookworm-security 3.0.15-1~deb12u1 amd64 [upgradable from: 3.0.13-1~deb12u1]'
"""


async def test_pct_exec_is_dangerous_and_targets_the_guest(sshd: SshdServer) -> None:
    sshd.stub("pct", 'echo "pct $*"; exit 2\n')
    async with running_hub(hub_config(ssh_block(sshd)), plugins=["ssh"]) as hub:
        asked = await hub.call_tool(
            "ssh.pct_exec", {"host": "lab", "vmid": 105, "argv": ["uptime"]}, source="cli"
        )
        ran = await call(hub, "pct_exec", host="lab", vmid=105, argv=["uptime"])
    assert asked["status"] == "confirmation_required"
    assert "guest 105" in asked["confirmation"]["reason"]
    assert ran["data"]["exit_status"] == 2  # a failing command is data, not an error
    assert ran["data"]["stdout"] == "pct exec 105 -- uptime\n"


async def test_without_hosts_the_plugin_idles(sshd: SshdServer) -> None:
    async with running_hub(hub_config({}), plugins=["ssh"]) as hub:
        assert hub.contexts["ssh"].status == "ok"
        reply = await call(hub, "exec", host="pve1", argv=["uptime"])
    assert error_code(reply) == "not_found"


async def wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("protect", [{"hosts": ["lab"]}, {"nodes": ["lab"]}], ids=["host", "node-by-name"])
async def test_a_protected_hosts_services_are_not_restarted_by_automation(
    sshd: SshdServer, tmp_path: Path, protect: dict[str, list[str]]
) -> None:
    log = tmp_path / "systemctl.log"
    sshd.stub("systemctl", SYSTEMCTL.format(log=log))
    config = hub_config(ssh_block(sshd))
    config["safety"].update(autonomy="act", protected=protect)
    async with running_hub(config, plugins=["ssh"]) as hub:
        by_llm = await hub.call_tool("ssh.service_restart", {"host": "lab", "service": "pveproxy"}, source="llm")
        by_monitor = await hub.call_tool("ssh.service_restart", {"host": "lab", "service": "pveproxy"},
                                         source="monitor")
        asked = await hub.call_tool("ssh.service_restart", {"host": "lab", "service": "pveproxy"}, source="cli")
        status = await hub.call_tool("ssh.service_status", {"host": "lab", "service": "pveproxy"}, source="llm")
    assert error_code(by_llm) == "protected" and error_code(by_monitor) == "protected"
    assert asked["status"] == "confirmation_required", asked  # a human may, once confirmed
    assert status["status"] == "ok"  # reading is never a protection matter
    assert "restart" not in (log.read_text() if log.exists() else "")
