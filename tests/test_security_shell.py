"""Hole 4: free-form shell is an admin's, asked for and approved by roles that may run it.

Before: with SSH enabled, any role that could publish a request could ask for ``ssh.exec``
with any argv and approve the confirmation itself. Now an operator (the dashboard account
included) may run only the allowlisted read-only commands, cannot approve someone else's
shell call, and with ``auth.two_person_rule`` not even an admin approves its own.
Observed on a real sshd: its log counts every login.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from jarvis.mqtt.broker import MosquittoProcess

from tests.fixtures.bridge import BASE, AsyncPeer, bridged
from tests.fixtures.sshd import SshdServer

PWNED = ["sh", "-c", "echo pwned"]


def ssh_overrides(sshd: SshdServer, **auth: Any) -> dict[str, Any]:
    host = {"host": sshd.host, "port": sshd.port, "username": sshd.username, "key_file": str(sshd.client_key),
            "known_hosts": str(sshd.known_hosts)}
    return {"plugins": {"ssh": {"hosts": {"lab": host}}}, "auth": auth}


@pytest.fixture
async def ssh_hub(
    mqtt_broker: MosquittoProcess, sshd: SshdServer, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    auth = {"users_file": str(mqtt_broker.users_file), **getattr(request, "param", {})}
    async with bridged(mqtt_broker, ssh_overrides(sshd, **auth), plugins=["ssh"]) as (hub, bridge):
        yield hub, bridge, mqtt_broker


async def test_an_operator_cannot_ask_for_a_free_form_shell(ssh_hub: Any, sshd: SshdServer) -> None:
    _hub, _bridge, broker = ssh_hub
    logins = sshd.accepted_logins()
    async with AsyncPeer(broker, "operator1") as operator, AsyncPeer(broker, "dashboard") as dashboard:
        await dashboard.subscribe(f"{BASE}/bridge/response/#")
        for peer in (dashboard, operator):
            reply = await peer.request("tool/ssh.exec", {"host": "lab", "argv": PWNED})
            assert reply["status"] == "error" and reply["error"]["code"] == "forbidden", reply
            assert "ssh.exec" in reply["error"]["message"]
        # Read-only, allowlisted commands stay open to operators.
        uptime = await operator.request("tool/ssh.exec", {"host": "lab", "argv": ["uptime"]}, within=30)
    assert uptime["status"] == "ok", uptime
    assert sshd.accepted_logins() == logins + 1  # only the uptime


async def test_only_an_admin_approves_an_admins_shell_call(ssh_hub: Any, sshd: SshdServer) -> None:
    hub, _bridge, broker = ssh_hub
    logins = sshd.accepted_logins()
    async with AsyncPeer(broker, "admin1") as admin, AsyncPeer(broker, "operator1") as operator:
        asked = await admin.request("tool/ssh.exec", {"host": "lab", "argv": PWNED})
        assert asked["status"] == "confirmation_required", asked
        cid = asked["confirmation"]["id"]
        assert hub.state.get(("confirm", cid))["requested_by"] == "mqtt:admin1"
        refused = await operator.request("confirm", {"id": cid, "approve": True})
        assert refused["error"]["code"] == "forbidden" and "ssh.exec" in refused["error"]["message"]
        assert sshd.accepted_logins() == logins
        await operator.subscribe(f"{BASE}/event")
        done = await admin.request("confirm", {"id": cid, "approve": True}, within=30)
        action = await operator.wait_for(lambda m: m.topic.value == f"{BASE}/event" and b'"ssh.exec"' in m.payload
                                         and b'"ok"' in m.payload, 10, what="the action event")
    assert done["status"] == "ok" and done["data"]["stdout"].strip() == "pwned"
    assert sshd.accepted_logins() == logins + 1
    details = __import__("json").loads(action.payload)["details"]
    assert details["requested_by"] == "mqtt:admin1" and details["approved_by"] == "mqtt:admin1"


@pytest.mark.parametrize("ssh_hub", [{"two_person_rule": True}], indirect=True)
async def test_the_two_person_rule_needs_another_admin(ssh_hub: Any, sshd: SshdServer) -> None:
    _hub, _bridge, broker = ssh_hub
    logins = sshd.accepted_logins()
    async with AsyncPeer(broker, "admin1") as first, AsyncPeer(broker, "admin2") as second:
        cid = (await first.request("tool/ssh.exec", {"host": "lab", "argv": PWNED}))["confirmation"]["id"]
        own = await first.request("confirm", {"id": cid, "approve": True})
        assert own["error"]["code"] == "forbidden" and "another user" in own["error"]["message"]
        assert sshd.accepted_logins() == logins
        done = await second.request("confirm", {"id": cid, "approve": True}, within=30)
    assert done["status"] == "ok" and sshd.accepted_logins() == logins + 1
