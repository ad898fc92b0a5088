"""SSH, Docker, network and live-read requests: which tool, which arguments, and when to ask back."""

from __future__ import annotations

import pytest
from jarvis.plugins.llm_rules import Answer, AskBack, interpret

from tests.fixtures.rules_world import ALL_TOOLS, calls_of, homelab_world

WORLD = homelab_world()


def ask(text: str, tools: frozenset[str] = ALL_TOOLS) -> object:
    return interpret(text, WORLD, tools=set(tools))


def one(tool: str, **args: object) -> list[tuple[str, dict[str, object]]]:
    return [(tool, args)]


PHRASINGS = [
    # ssh.exec: the command keeps its case and arguments; quotes and backticks are optional
    ("run uptime on pve1", one("ssh.exec", host="pve1", argv=["uptime"])),
    ("run df -h on pve2", one("ssh.exec", host="pve2", argv=["df", "-h"])),
    ("on pve1 run `zpool status`", one("ssh.exec", host="pve1", argv=["zpool", "status"])),
    ('execute "systemctl status pveproxy" on pve3',
     one("ssh.exec", host="pve3", argv=["systemctl", "status", "pveproxy"])),
    ("please run 'ls -la /Var/Log' on pve2", one("ssh.exec", host="pve2", argv=["ls", "-la", "/Var/Log"])),
    ("ssh pve1 uptime", one("ssh.exec", host="pve1", argv=["uptime"])),
    ("can you execute the command free -m on node pve3", one("ssh.exec", host="pve3", argv=["free", "-m"])),
    # commands typed bare: words that are no English, or any known command with a flag
    ("df -h on pve1", one("ssh.exec", host="pve1", argv=["df", "-h"])),
    ("journalctl -u pveproxy on pve2", one("ssh.exec", host="pve2", argv=["journalctl", "-u", "pveproxy"])),
    ("zpool status on node pve2", one("ssh.exec", host="pve2", argv=["zpool", "status"])),
    ("free -m on pve3", one("ssh.exec", host="pve3", argv=["free", "-m"])),
    ("systemctl status pveproxy on pve1", one("ssh.service_status", host="pve1", service="pveproxy")),
    # ssh.pct_exec: inside an LXC, on its node
    ("run ls /etc in ct 105", one("ssh.pct_exec", host="pve2", vmid=105, argv=["ls", "/etc"])),
    ("run hostname inside nginx", one("ssh.pct_exec", host="pve2", vmid=105, argv=["hostname"])),
    ("restart nginx service in ct 105",
     one("ssh.pct_exec", host="pve2", vmid=105, argv=["systemctl", "restart", "nginx"])),
    # systemd services on hosts
    ("restart pveproxy on pve1", one("ssh.service_restart", host="pve1", service="pveproxy")),
    ("restart the pvedaemon service on pve2", one("ssh.service_restart", host="pve2", service="pvedaemon")),
    ("bounce corosync on pve3", one("ssh.service_restart", host="pve3", service="corosync")),
    ("restart tailscaled on pve1", one("ssh.service_restart", host="pve1", service="tailscaled")),
    ("restart ssh on pve1", one("ssh.service_restart", host="pve1", service="ssh")),
    ("restart pveproxy and pvedaemon on pve1", [("ssh.service_restart", {"host": "pve1", "service": s})
                                                for s in ("pveproxy", "pvedaemon")]),
    ("restart pveproxy on pve1 and pve2", [("ssh.service_restart", {"host": h, "service": "pveproxy"})
                                           for h in ("pve1", "pve2")]),
    ("restart pveproxy.service on pve2", one("ssh.service_restart", host="pve2", service="pveproxy")),
    ("is pveproxy running on pve2", one("ssh.service_status", host="pve2", service="pveproxy")),
    ("is tailscaled running on pve1", one("ssh.service_status", host="pve1", service="tailscaled")),
    ("status of pveproxy on pve1", one("ssh.service_status", host="pve1", service="pveproxy")),
    ("check the corosync service on pve3", one("ssh.service_status", host="pve3", service="corosync")),
    ("check corosync on all nodes", [("ssh.service_status", {"host": h, "service": "corosync"})
                                     for h in ("pve1", "pve2", "pve3")]),
    # apt updates
    ("any updates on pve1", one("ssh.updates_check", host="pve1")),
    ("any updates on pve1?", one("ssh.updates_check", host="pve1")),
    ("check for updates on pve2", one("ssh.updates_check", host="pve2")),
    ("are there updates for pve3", one("ssh.updates_check", host="pve3")),
    ("is pve1 up to date", one("ssh.updates_check", host="pve1")),
    ("pending upgrades on node 2", one("ssh.updates_check", host="pve2")),
    ("how many updates are pending on pve1", one("ssh.updates_check", host="pve1")),
    ("check updates on all nodes", [("ssh.updates_check", {"host": h}) for h in ("pve1", "pve2", "pve3")]),
    ("check updates everywhere", [("ssh.updates_check", {"host": h}) for h in ("pve1", "pve2", "pve3")]),
    ("do any nodes need updates?", [("ssh.updates_check", {"host": h}) for h in ("pve1", "pve2", "pve3")]),
    # docker reads
    ("logs of nginx on docker1", one("docker.logs", host="docker1", container="nginx")),
    ("show logs for redis", one("docker.logs", host="docker2", container="redis")),
    ("tail postgres on docker2", one("docker.logs", host="docker2", container="postgres")),
    ("logs nginx docker2", one("docker.logs", host="docker2", container="nginx")),
    ("last 50 lines of redis logs", one("docker.logs", host="docker2", container="redis", tail=50)),
    ("status of nginx on docker2", one("docker.status", host="docker2", container="nginx")),
    # network
    ("ping nas", one("network.ping", host="nas")),
    ("is nas reachable", one("network.ping", host="nas")),
    ("can you reach the nas", one("network.ping", host="nas")),
    ("is desktop responding?", one("network.ping", host="desktop")),
    ("ping 192.168.1.1", one("network.ping", host="192.168.1.1")),
    ("ping google.com", one("network.ping", host="google.com")),
    ("is 192.168.1.20 up", one("network.ping", host="192.168.1.20")),
    ("ping pve2", one("network.ping", host="192.168.1.12")),  # a node is pinged at its address
    ("wake desktop", one("network.wake", host="desktop")),
    ("wake up the desktop", one("network.wake", host="desktop")),
    ("send a magic packet to desktop", one("network.wake", host="desktop")),
    ("wol desktop", one("network.wake", host="desktop")),
    ("wake on lan desktop", one("network.wake", host="desktop")),
    ("wol aa:bb:cc:dd:ee:ff", one("network.wake", host="aa:bb:cc:dd:ee:ff")),
    ("wake desktop and then ping it", [("network.wake", {"host": "desktop"}), ("network.ping", {"host": "desktop"})]),
    # live reads
    ("status of 101", one("proxmox.guest_status", vmid=101)),
    ("show me the status of web-01", one("proxmox.guest_status", vmid=101)),
    ("details of node pve2", one("proxmox.node_detail", node="pve2")),
    ("details of node 3", one("proxmox.node_detail", node="pve3")),
    ("info on pve1", one("proxmox.node_detail", node="pve1")),
]


@pytest.mark.parametrize(("text", "expected"), PHRASINGS, ids=[p[0] for p in PHRASINGS])
def test_a_request_becomes_these_calls(text: str, expected: list[tuple[str, dict[str, object]]]) -> None:
    assert calls_of(ask(text)) == expected


@pytest.mark.parametrize(("text", "first_option"), [
    ("run uptime", "run `uptime` on pve1"),
    ("restart pveproxy", "restart pveproxy on pve1"),
    ("updates", "check updates on pve1"),
    ("logs of nginx", "show logs of nginx on docker1"),
    ("show logs of a container on docker2", "show logs of mosquitto on docker2"),
    ("run df -h on pve9", None),
])
def test_a_tool_request_missing_its_host_or_target_asks_back(text: str, first_option: str | None) -> None:
    intent = ask(text)
    assert isinstance(intent, AskBack), intent
    if first_option is not None:
        assert intent.options[0] == first_option


@pytest.mark.parametrize(("text", "said"), [
    ("run uptime on 101", "is a VM"),  # no exec inside VMs
    ("run uptime on all nodes", "won't run"),
    ("stop pveproxy on pve1", "not stop it"),
    ("restart corosync on all nodes", "won't restart corosync on 3 hosts"),
    ("logs of 105", "Docker containers only"),
    ("updates for 101", "not inside guests"),
])
def test_what_the_tools_cannot_do_is_explained(text: str, said: str) -> None:
    intent = ask(text)
    assert isinstance(intent, Answer), intent
    assert said in intent.text


@pytest.mark.parametrize(("text", "family"), [
    ("run uptime on pve1", "ssh"),
    ("restart nginx on docker1", "docker"),
    ("ping nas", "network"),
])
def test_without_a_plugin_its_tools_are_never_proposed(text: str, family: str) -> None:
    tools = {t for t in ALL_TOOLS if not t.startswith(family + ".")}
    intent = interpret(text, WORLD, tools=tools)
    assert isinstance(intent, Answer | AskBack), intent
    assert "not available" in intent.text


def test_a_guest_named_like_a_command_is_started_not_executed() -> None:
    assert calls_of(ask("run win11 on pve3")) == one("proxmox.guest_start", vmid=107)
