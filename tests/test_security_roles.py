"""Roles × actions, observed from outside: what arrives back, and what the PVE simulator receives.

Each role's broker account sends the same actions in its own topic space
(``jarvis/user/<u>/...``). An action is ``dropped`` when the broker refuses it (the ACL the role
gets has no grant: nothing reaches the hub, no reply comes), ``forbidden`` when the hub refuses
it for the role, else the hub's answer. Anonymous clients are refused by the production broker
and are the admin on the demo's loopback broker.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import aiomqtt
import pytest
from jarvis.mqtt.broker import MosquittoProcess

from tests.fixtures.bridge import BASE, AsyncPeer, bridged, payload_of
from tests.fixtures.proxmox import proxmox_config

ROLES = {"viewer": "viewer1", "operator": "operator1", "admin": "admin1", "homeassistant": "ha2"}
# autonomy_off goes to <space>/bridge/autonomy/set: a role with command topics may write it (it
# matches +/+/set) but only one that may approve or switch autonomy gets it done (the hub logs why not).
EXPECTED = {
    #                 viewer        operator        admin           homeassistant
    "read":          ("ok",        "ok",           "ok",           "dropped"),
    "start":         ("dropped",   "ok",           "ok",           "ok"),
    "stop_request":  ("forbidden", "confirmation", "confirmation", "dropped"),
    "approve_stop":  ("forbidden", "ok",           "ok",           "dropped"),
    "node_reboot":   ("dropped",   "forbidden",    "confirmation", "forbidden"),
    "autonomy_act":  ("forbidden", "forbidden",    "ok",           "dropped"),
    "autonomy_off":  ("dropped",   "ok",           "ok",           "forbidden"),
    "chat":          ("dropped",   "unavailable",  "unavailable",  "unavailable"),
}
QUIET_S = 1.5  # no answer within this: the broker dropped it


def outcome(reply: dict[str, Any] | None) -> str:
    if reply is None:
        return "dropped"
    if reply.get("type") == "error":  # a chat stream's error
        return str(reply.get("code"))
    if reply["status"] == "confirmation_required":
        return "confirmation"
    return "ok" if reply["status"] == "ok" else str(reply["error"]["code"])


class Actor:
    """One role's client: sends in its own space, collects answers in its reply space."""

    def __init__(self, peer: AsyncPeer, user: str) -> None:
        self.peer, self.user = peer, user

    async def ask(self, rel: str, payload: Any) -> dict[str, Any] | None:
        reply_to = f"{BASE}/reply/{self.user}/{uuid.uuid4().hex[:8]}"
        since = self.peer.mark()
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            await self.peer.publish(f"{BASE}/user/{self.user}/{rel}", data, response_topic=reply_to)
        except aiomqtt.MqttError:
            return None  # MQTT 5 PUBACK 135: not authorised
        try:
            return payload_of(await self.peer.expect(reply_to, QUIET_S, since))
        except AssertionError:
            return None

    async def chat(self) -> dict[str, Any] | None:
        out = f"{BASE}/reply/{self.user}/chat/s1/out"
        since = self.peer.mark()
        try:
            await self.peer.publish(f"{BASE}/user/{self.user}/chat/s1/in", b"hello")
            return payload_of(await self.peer.expect(out, QUIET_S, since))
        except (aiomqtt.MqttError, AssertionError):
            return None


def guests_by_status(hub: Any, status: str) -> list[int]:
    return sorted(int(key[1]) for key, data in hub.state.items(("guest",)).items()
                  if data.get("status") == status and not data.get("template"))


def writes(sim: Any) -> Counter[str]:
    """POSTs the simulator received, by verb (start, stop, reboot...)."""
    counts: Counter[str] = Counter()
    for endpoint, n in sim.admin("GET", "/stats")["endpoints"].items():
        if endpoint.startswith("POST") and n:
            counts[endpoint.rstrip("}").rsplit("/", 1)[-1]] += n
    return counts


async def test_each_role_may_do_what_its_row_says(mqtt_broker: MosquittoProcess, pve_sim: Any) -> None:
    overrides = {**proxmox_config(pve_sim), "safety": {"autonomy": "notify"}}
    async with bridged(mqtt_broker, overrides, plugins=["proxmox"]) as (hub, _bridge):
        await hub.refresh()
        for vmid in guests_by_status(hub, "running")[5:]:  # enough stopped guests to start, one per role
            pve_sim.admin("POST", f"/guests/{vmid}/crash")
        await hub.refresh()
        stopped, running = guests_by_status(hub, "stopped"), guests_by_status(hub, "running")
        assert len(stopped) >= 4 and len(running) >= 5, (stopped, running)
        pve_sim.admin("POST", "/stats/reset")
        seen: dict[str, list[str]] = {action: [] for action in EXPECTED}
        async with AsyncPeer(mqtt_broker, "admin2") as requester:
            asker = Actor(requester, "admin2")
            await requester.subscribe(f"{BASE}/reply/admin2/#")
            for index, user in enumerate(ROLES.values()):
                async with AsyncPeer(mqtt_broker, user) as peer:
                    await peer.subscribe(f"{BASE}/reply/{user}/#")
                    actor = Actor(peer, user)
                    stop = {"args": {"vmid": running[index]}}
                    pending = await asker.ask("bridge/request/tool/proxmox.guest_stop", stop)
                    assert pending is not None and pending["status"] == "confirmation_required", pending
                    results = {
                        "read": await actor.ask("bridge/request/tool/proxmox.guest_list", {}),
                        "start": await actor.ask(f"guest/{stopped[index]}/action", b"start"),
                        "stop_request": await actor.ask("bridge/request/tool/proxmox.guest_stop",
                                                        {"args": {"vmid": running[-1]}}),
                        "approve_stop": await actor.ask("bridge/request/confirm", {"args": {
                            "id": pending["confirmation"]["id"], "approve": True}}),
                        "node_reboot": await actor.ask("node/pve2/action", b"reboot"),
                        "autonomy_act": await actor.ask("bridge/request/autonomy", {"args": {"mode": "act"}}),
                        "autonomy_off": await actor.ask("bridge/autonomy/set", b"off"),
                        "chat": await actor.chat(),
                    }
                    for action, reply in results.items():
                        seen[action].append(outcome(reply))
                    hub.autonomy = "notify"
        received = writes(pve_sim)
    table = {action: tuple(values) for action, values in seen.items()}
    assert table == EXPECTED, "\n".join(f"{a:<14} {table[a]}" for a in EXPECTED)
    # What reached PVE: the three starts and the two approved stops, nothing else.
    assert received == Counter({"start": 3, "stop": 2}), received


async def test_anonymous_clients_are_refused_by_the_production_broker(mqtt_broker: MosquittoProcess) -> None:
    with pytest.raises(aiomqtt.MqttError) as caught:
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, timeout=5):
            pass
    assert "135" in str(caught.value) or "authori" in str(caught.value).lower()


async def test_anonymous_is_the_admin_on_the_demo_broker(mqtt_demo_broker: MosquittoProcess, pve_sim: Any) -> None:
    async with bridged(mqtt_demo_broker, proxmox_config(pve_sim), plugins=["proxmox"]) as (hub, _bridge):
        await hub.refresh()
        stopped = guests_by_status(hub, "stopped")
        pve_sim.admin("POST", "/stats/reset")
        async with AsyncPeer(mqtt_demo_broker, None) as anonymous:
            reply_to = f"{BASE}/reply/demo/1"
            await anonymous.subscribe(reply_to)
            since = anonymous.mark()
            await anonymous.publish(f"{BASE}/guest/{stopped[0]}/action", b"start", response_topic=reply_to)
            started = payload_of(await anonymous.expect(reply_to, 30, since))
            since = anonymous.mark()
            await anonymous.publish(f"{BASE}/bridge/request/autonomy", {"args": {"mode": "act"}},
                                    response_topic=reply_to)
            autonomy = payload_of(await anonymous.expect(reply_to, 5, since))
        await asyncio.sleep(0)
        received = writes(pve_sim)
    assert started["status"] == "ok" and autonomy["status"] == "ok"
    assert received == Counter({"start": 1})
    assert hub.autonomy == "act"


def test_the_most_specific_rule_decides_then_the_target_then_the_wildcard() -> None:
    from jarvis.core import Risk, Target
    from jarvis.core.auth import Authorizer
    from jarvis.core.config import parse_config

    auth = Authorizer(parse_config({"auth": {"users_file": "/nonexistent/users.yaml", "roles": {"custom": {
        "tools": {"*": "read", "proxmox.*": "write", "proxmox.guest_reset": "none", "ssh.exec": "dangerous"},
        "targets": {"guest": "dangerous"}}}}}))
    custom, operator = auth.roles["custom"], auth.roles["operator"]
    guest, node = Target("guest", "100"), Target("node", "pve1")
    assert custom.tier("proxmox.guest_reset", guest) == "none"  # an exact name beats everything
    assert custom.tier("proxmox.guest_stop", guest) == "write"  # a glob beats the target kind
    assert custom.tier("docker.stop", Target("docker", "a/b")) == "read"  # no rule for docker: the wildcard
    assert custom.tier("network.wake", guest) == "dangerous"  # the target kind beats the wildcard
    assert operator.may_run("proxmox.guest_reset", Risk.DANGEROUS, guest)
    assert not operator.may_run("proxmox.node_reboot", Risk.DANGEROUS, node)
    assert operator.may_run("ssh.exec", Risk.READ, Target("host", "pve1"))
    assert not operator.may_run("ssh.exec", Risk.DANGEROUS, Target("host", "pve1"))
    least = auth.least(["operator", "viewer"])
    assert least is not None and least.tier("proxmox.guest_start", guest) == "read" and not least.allows("commands")
