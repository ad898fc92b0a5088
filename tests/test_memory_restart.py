"""What survives a restart through memory: pending confirmations (unexpired ones, retained again)
and the network plugin's last_seen."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from jarvis.core import Caller, Target
from jarvis.core.safety import Confirmation

from tests.fixtures.bridge import ProbePlugin
from tests.fixtures.hub import running_hub


def config(path: Path, **safety: Any) -> dict[str, Any]:
    return {"safety": safety, "plugins": {"memory": {"path": str(path)}}}


async def test_a_pending_confirmation_is_pending_again_after_a_restart_and_can_be_approved(tmp_path: Path) -> None:
    probe = ProbePlugin()
    async with running_hub(config(tmp_path), plugins=["memory"], extra_plugins={"probe": probe}) as hub:
        asked = await hub.call_tool("probe.destroy", {"vmid": 105}, source="mqtt")
        cid = asked["confirmation"]["id"]
        before = dict(hub.state.get(("confirm", cid)) or {})

    probe = ProbePlugin()
    async with running_hub(config(tmp_path), plugins=["memory"], extra_plugins={"probe": probe}) as hub:
        assert list(hub.pipeline.confirmations) == [cid]
        assert dict(hub.state.get(("confirm", cid)) or {}) == before  # retained on confirm/<id> again
        assert hub.health()["pending_confirmations"] == 1
        reply = await hub.pipeline.resolve_confirmation(cid, True, source="mqtt")
        assert reply["status"] == "ok" and reply["data"] == {"destroyed": 105}
        assert probe.calls["destroy"] == 1
        assert hub.state.get(("confirm", cid)) is None

    async with running_hub(config(tmp_path), plugins=["memory"], extra_plugins={"probe": ProbePlugin()}) as hub:
        assert hub.pipeline.confirmations == {}  # answered: gone for good


async def test_a_confirmation_that_expired_while_the_hub_was_down_is_dropped(tmp_path: Path) -> None:
    async with running_hub(config(tmp_path, confirmation_ttl_s=1), plugins=["memory"],
                           extra_plugins={"probe": ProbePlugin()}) as hub:
        short = (await hub.call_tool("probe.destroy", {"vmid": 105}, source="mqtt"))["confirmation"]["id"]
        hub.config.safety.confirmation_ttl_s = 300
        long = (await hub.call_tool("probe.destroy", {"vmid": 106}, source="mqtt"))["confirmation"]["id"]
    await asyncio.sleep(1.2)
    async with running_hub(config(tmp_path), plugins=["memory"], extra_plugins={"probe": ProbePlugin()}) as hub:
        assert list(hub.pipeline.confirmations) == [long]
        assert hub.state.get(("confirm", short)) is None
        assert hub.memory().load_value("hub.confirmations")[0]["id"] == long  # type: ignore[union-attr]


def test_a_saved_confirmation_restores_its_expiry_and_source() -> None:
    original = Confirmation(tool="probe.destroy", args={"vmid": 1}, risk="dangerous", reason="r",
                            caller=Caller("mqtt", "alice", "operator"), source="mqtt", ttl_s=60,
                            target=Target("guest", "1"))
    restored = Confirmation.restore(original.saved())
    assert restored is not None
    assert (restored.id, restored.expires_at, restored.source, restored.requested_by) == (
        original.id, original.expires_at, "mqtt", "mqtt:alice")
    assert restored.caller == Caller("mqtt", "alice", "operator") and restored.target == Target("guest", "1")
    assert 55 < restored.ttl_s <= 60
    assert Confirmation.restore({**original.saved(), "expires_at": "2001-01-01T00:00:00Z"}) is None
    assert Confirmation.restore({"id": "x"}) is None


async def test_last_seen_of_a_host_survives_a_restart(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    network = {"icmp": False, "ping_timeout_s": 1, "interval_s": 3600,
               "hosts": {"nas": {"address": "127.0.0.1", "tcp_ports": [port]}}}
    cfg = {**config(tmp_path), "plugins": {**config(tmp_path)["plugins"], "network": network}}
    async with running_hub(cfg, plugins=["memory", "network"]) as hub:
        await hub.refresh()
        seen = hub.state.get(("host", "nas", "state"))["last_seen"]  # type: ignore[index]
        assert seen
    server.close()
    async with running_hub(cfg, plugins=["memory", "network"]) as hub:
        await hub.refresh()
        state = hub.state.get(("host", "nas", "state"))
        assert state is not None and state["reachable"] is False
        assert state["last_seen"] == seen
