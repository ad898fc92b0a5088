"""Hole 13: the shipped config keeps the dashboard on loopback; ping is no port scanner for everyone.

Before: config.yaml served the dashboard (no login yet) on 0.0.0.0, and ``network.ping`` let
any requester probe any address. Now the dashboard binds to loopback unless configured
(``JARVIS_WEB_HOST``), and only a role with ``unrestricted`` (admin) may ping an address Jarvis
does not know; others may ping configured hosts and Proxmox nodes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from jarvis.core import Caller
from jarvis.core.config import load_config

from tests.fixtures.hub import running_hub

REPO = Path(__file__).resolve().parent.parent
CONFIG = {"plugins": {"network": {"hosts": {"nas": {"address": "127.0.0.1"}}, "ping_timeout_s": 0.5}}}


def test_the_shipped_config_serves_the_dashboard_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JARVIS_WEB_HOST", raising=False)
    config = load_config(REPO / "config.yaml", secrets=False)
    assert config.web.host == "127.0.0.1"
    monkeypatch.setenv("JARVIS_WEB_HOST", "0.0.0.0")
    assert load_config(REPO / "config.yaml", secrets=False).web.host == "0.0.0.0"  # only when asked


@pytest.mark.parametrize("role", ["viewer", "operator", "homeassistant"])
async def test_a_non_admin_may_ping_only_known_hosts_and_nodes(role: str) -> None:
    caller = Caller("mqtt", "someone", role)
    async with running_hub(CONFIG, plugins=["network"]) as hub:
        hub.state.put("test", ("node", "pve1", "state"), {"name": "pve1", "ip": "127.0.0.1"})
        stranger = await hub.call_tool("network.ping", {"host": "127.0.0.2", "count": 1}, source="mqtt", caller=caller)
        assert stranger["status"] == "error" and stranger["error"]["code"] == "denied", stranger
        assert "configured hosts" in stranger["error"]["message"]
        for known in ("nas", "127.0.0.1", "pve1"):
            reply = await hub.call_tool("network.ping", {"host": known, "count": 1}, source="mqtt", caller=caller)
            assert reply["status"] == "ok", (known, reply)


async def test_an_admin_may_ping_any_address() -> None:
    async with running_hub(CONFIG, plugins=["network"]) as hub:
        reply = await hub.call_tool("network.ping", {"host": "127.0.0.2", "count": 1}, source="mqtt",
                                    caller=Caller("mqtt", "root", "admin"))
    assert reply["status"] == "ok" and reply["data"]["host"] is None
