"""render(): tool replies of the contract become short plain answers."""

from __future__ import annotations

from typing import Any

import pytest
from jarvis.plugins.llm_rules.render import MAX_OUTPUT_LINES, render

from tests.fixtures.rules_world import homelab_world

WORLD = homelab_world()


def ok(data: Any) -> dict[str, Any]:
    return {"status": "ok", "data": data}


GUEST_101 = {"vmid": 101, "name": "web-01", "node": "pve1", "status": "running"}

OK_REPLIES = [
    ("proxmox.guest_start", {"vmid": 101}, {"upid": "UPID:pve1:1", "status": "stopped", "exitstatus": "OK",
                                            "guest": GUEST_101},
     "Started web-01 (101) on pve1; it is running."),
    ("proxmox.guest_shutdown", {"vmid": 101}, {"upid": "U", "status": "stopped", "exitstatus": "OK",
                                               "guest": {**GUEST_101, "status": "stopped"}},
     "Shut down web-01 (101) on pve1; it is stopped."),
    ("proxmox.guest_reboot", {"vmid": 101}, {"upid": None, "status": "requested", "exitstatus": None,
                                             "guest": GUEST_101},
     "Asked Proxmox to reboot web-01 (101) on pve1."),
    ("proxmox.node_reboot", {"node": "pve1"}, {"upid": "U", "status": "stopped", "exitstatus": "OK"},
     "pve1 is rebooting; it and its guests will be back in a few minutes."),
    ("proxmox.node_wake", {"node": "pve4"}, {"status": "sent", "via": "pve", "mac": "58:47:CA:00:00:04"},
     "Sent Wake-on-LAN to pve4 (58:47:CA:00:00:04) through the cluster; it should come online in a minute or two."),
    ("proxmox.guest_status", {"vmid": 101}, {**GUEST_101, "uptime_s": 7200, "cpu_pct": 5.0, "mem_used": 2 << 30,
                                             "mem_total": 8 << 30},
     "web-01 (101) on pve1 is running, up 2 hours: CPU 5.0%, memory 2.0 GiB of 8.0 GiB (25%)."),
    ("proxmox.node_detail", {"node": "pve2"}, {"name": "pve2", "status": "online", "uptime_s": 90000, "cpu_pct": 3.0,
                                               "load": [0.5, 0.4, 0.3], "mem_used": 1 << 30, "mem_total": 4 << 30,
                                               "pve_version": "pve-manager/9.0.11"},
     "pve2 is online, up 1 day 1 hour: CPU 3.0%, load 0.50, 0.40, 0.30, memory 1.0 GiB of 4.0 GiB (25%), "
     "pve-manager/9.0.11."),
    ("proxmox.cluster_status", {}, {"cluster": {"name": "homelab", "quorate": True, "nodes_online": 3,
                                                "nodes_total": 4, "guests_running": 9, "guests_total": 12}},
     "Cluster homelab: quorate, 3 of 4 nodes online, 9 of 12 guests running."),
    ("ssh.exec", {"host": "pve1", "argv": ["uptime"]}, {"host": "pve1", "argv": ["uptime"], "exit_status": 0,
                                                        "stdout": " 10:00 up 3 days\n", "stderr": ""},
     "`uptime` on pve1 exited 0:\n 10:00 up 3 days"),
    ("ssh.pct_exec", {"host": "pve2", "vmid": 105, "argv": ["hostname"]},
     {"host": "pve2", "vmid": 105, "argv": ["hostname"], "exit_status": 0, "stdout": "nginx\n", "stderr": ""},
     "`hostname` inside 105 on pve2 exited 0:\nnginx"),
    ("ssh.service_status", {"host": "pve2", "service": "pveproxy"},
     {"host": "pve2", "service": "pveproxy", "state": "active", "sub_state": "running"},
     "pveproxy on pve2 is active (running)."),
    ("ssh.service_restart", {"host": "pve1", "service": "pveproxy"},
     {"host": "pve1", "service": "pveproxy", "state": "active", "sub_state": "running", "restarted": True},
     "Restarted pveproxy on pve1; it is active (running)."),
    ("ssh.updates_check", {"host": "pve1"}, {"host": "pve1", "count": 0, "security": 0, "packages": []},
     "pve1 is up to date."),
    ("ssh.updates_check", {"host": "pve1"}, {"host": "pve1", "count": 2, "security": 1,
                                             "packages": [{"name": "pve-manager"}, {"name": "openssl"}]},
     "pve1 has 2 upgradable packages (1 from security): pve-manager and openssl."),
    ("docker.restart", {"host": "docker1", "container": "nginx"},
     {"host": "docker1", "name": "nginx", "status": "running", "health": "healthy"},
     "Restarted nginx on docker1; it is running, healthy."),
    ("docker.status", {"host": "docker2", "container": "redis"},
     {"host": "docker2", "name": "redis", "status": "running", "health": "unhealthy", "restart_count": 12},
     "redis on docker2 is running, unhealthy, restarted 12 times."),
    ("docker.logs", {"host": "docker1", "container": "nginx"},
     {"host": "docker1", "container": "nginx", "text": "a\nb\n", "lines": 2, "truncated": False},
     "Last lines of nginx on docker1:\na\nb"),
    ("docker.list", {}, {"containers": [{"host": "docker1", "name": "nginx", "status": "running"}],
                         "errors": {"docker2": {"code": "unreachable", "message": "down"}}},
     "Containers: nginx on docker1 (running). Unreachable: docker2."),
    ("network.ping", {"host": "nas"}, {"host": "nas", "reachable": True, "method": "icmp", "rtt_ms": 0.42},
     "nas answers (icmp, 0.4 ms)."),
    ("network.ping", {"host": "desktop"}, {"host": "desktop", "reachable": False, "method": "none",
                                           "error": "no route"},
     "desktop does not answer: no route."),
    ("network.wake", {"host": "desktop"}, {"host": "desktop", "mac": "aa:bb:cc:dd:ee:02"},
     "Sent a magic packet to desktop (aa:bb:cc:dd:ee:02)."),
]


@pytest.mark.parametrize(("tool", "args", "data", "text"), OK_REPLIES, ids=[r[0] for r in OK_REPLIES])
def test_an_ok_reply_reads_as_one_plain_sentence(tool: str, args: dict[str, Any], data: Any, text: str) -> None:
    assert render(tool, args, ok(data), WORLD) == text


def test_a_confirmation_says_what_waits_and_how_to_approve_it() -> None:
    reply = {"status": "confirmation_required", "confirmation": {
        "id": "c0ffee", "expires_at": "2025-01-01T10:05:00Z", "tool": "proxmox.node_reboot",
        "reason": "proxmox.node_reboot on node pve1 is dangerous"}}
    assert render("proxmox.node_reboot", {"node": "pve1"}, reply) == (
        "Rebooting pve1 is dangerous: approve confirmation c0ffee before 2025-01-01T10:05:00Z to go ahead, "
        "or deny it. Nothing has happened yet.")


def test_a_confirmation_names_a_guest_from_the_world_and_mentions_protection() -> None:
    reply = {"status": "confirmation_required", "confirmation": {
        "id": "c1", "tool": "proxmox.guest_stop", "reason": "proxmox.guest_stop on guest 108 is dangerous and the "
                                                             "target is protected"}}
    text = render("proxmox.guest_stop", {"vmid": 108}, reply, WORLD)
    assert text.startswith("Hard-stopping gitlab (108) is dangerous and the target is protected: approve "
                           "confirmation c1 to go ahead")


@pytest.mark.parametrize(("tool", "args", "error", "text"), [
    ("proxmox.guest_start", {"vmid": 101}, {"code": "conflict", "message": "guest 101 is already running"},
     "Couldn't start web-01 (101): guest 101 is already running (conflict)."),
    ("proxmox.guest_stop", {"vmid": 104}, {"code": "timeout"}, "Couldn't hard-stop db-01 (104): timed out (timeout)."),
    ("ssh.exec", {"host": "pve9", "argv": ["uptime"]}, {"code": "not_found", "message": "no host pve9."},
     "Couldn't run `uptime` on pve9: no host pve9 (not_found)."),
    ("memory.search", {}, {"code": "denied", "message": "nope"}, "Couldn't call memory.search: nope (denied)."),
    ("docker.restart", {"host": "docker1", "container": "x"}, {},
     "Couldn't restart x on docker1: failed (error)."),
])
def test_an_error_is_explained_with_its_code(tool: str, args: dict[str, Any], error: dict[str, Any], text: str
                                             ) -> None:
    assert render(tool, args, {"status": "error", "error": error}, WORLD) == text


def test_long_output_keeps_its_last_lines() -> None:
    stdout = "\n".join(f"line {i}" for i in range(100))
    text = render("ssh.exec", {"host": "pve1", "argv": ["dmesg"]}, ok({"host": "pve1", "argv": ["dmesg"],
                                                                       "exit_status": 0, "stdout": stdout}))
    assert "(80 earlier lines)" in text and text.endswith("line 99")
    assert len(text.splitlines()) == MAX_OUTPUT_LINES + 2


@pytest.mark.parametrize(("reply", "text"), [
    (ok(None), "Done: proxmox.guest_status (its reply had an unexpected shape)."),
    ({"status": "maybe"}, "proxmox.guest_status answered something I don't understand (status 'maybe')."),
])
def test_an_odd_reply_is_never_an_exception(reply: dict[str, Any], text: str) -> None:
    assert render("proxmox.guest_status", {"vmid": 1}, reply) == text


def test_an_unknown_tool_is_just_done() -> None:
    assert render("memory.search", {}, ok([])) == "Done: memory.search."
