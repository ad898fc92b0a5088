"""Who sent a message, as the hub records it: per-user spaces, the shared topics' fixed identities,
Home Assistant's extras, and chat handed over with its sender.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from jarvis.core import Caller, RequestCommand, hookimpl
from jarvis.mqtt.broker import MosquittoProcess

from tests.fixtures.bridge import BASE, AsyncPeer, ProbePlugin, bridged, payload_of


class Assistant:
    """A stand-in for the assistant plugin: a `chat` request command that streams its answer."""

    def __init__(self) -> None:
        self.heard: list[tuple[dict[str, Any], Caller]] = []

    @hookimpl
    def register_request_commands(self, register: Callable[[RequestCommand], None]) -> None:
        async def chat(args: dict[str, Any], caller: Caller) -> AsyncIterator[dict[str, Any]]:
            self.heard.append((args, caller))
            yield {"type": "start", "message_id": "m1"}
            yield {"type": "delta", "text": f"hello {caller.label}"}
            yield {"type": "end", "final": True}

        register(RequestCommand(name="chat", handler=chat, description="talk to the assistant", permission="chat"))


def action_events(peer: AsyncPeer) -> list[dict[str, Any]]:
    return [payload_of(m)["details"] for m in peer.on(f"{BASE}/event") if payload_of(m).get("type") == "action"]


async def test_every_action_records_who_asked(bridged_hub: Any, peer: AsyncPeer) -> None:
    _hub, _bridge, broker = bridged_hub
    async with AsyncPeer(broker, "operator1") as alice:
        await alice.subscribe(f"{BASE}/event")
        await alice.subscribe(f"{BASE}/reply/operator1/#")
        await peer.subscribe(f"{BASE}/bridge/response/#")
        assert (await alice.request("tool/probe.echo", {"text": "a"}))["status"] == "ok"
        assert (await peer.request("tool/probe.echo", {"text": "d"}))["status"] == "ok"
        await peer.publish(f"{BASE}/guest/100/action", b"start")  # a shared command topic
        await alice.wait_for(lambda m: b'"probe.poke"' in m.payload, 5, what="the command's event")
    who = {event["args"].get("text") or event["tool"]: event["requested_by"] for event in action_events(alice)}
    assert who == {"a": "mqtt:operator1", "d": "mqtt:dashboard", "probe.poke": "mqtt:homeassistant"}


@pytest.mark.parametrize("bridge_overrides", [{"auth": {"roles": {"homeassistant": {
    "tools": {"*": "read"}, "requests": False, "commands": True}}}}], indirect=True)
async def test_a_shared_command_topic_gets_no_more_than_its_least_privileged_writer(
    bridged_hub: Any, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    _hub, _bridge, _broker = bridged_hub
    # Home Assistant's role here may only read; the dashboard (an operator) may write, but the
    # broker cannot tell which of them sent a shared command: it gets the least of both.
    await peer.subscribe(f"{BASE}/reply/dashboard/#")
    await peer.subscribe(f"{BASE}/bridge/response/#")
    await peer.publish(f"{BASE}/guest/100/action", b"start", response_topic=f"{BASE}/reply/dashboard/1")
    reply = await peer.expect_json(f"{BASE}/reply/dashboard/1")
    assert reply["error"]["code"] == "forbidden" and "operator&homeassistant" in reply["error"]["message"]
    assert (await peer.request("tool/probe.poke", {"id": "100"}))["status"] == "ok"  # its own requests still may


async def test_home_assistant_may_show_autonomy_but_not_switch_it_by_default(bridged_hub: Any) -> None:
    hub, _bridge, broker = bridged_hub
    async with AsyncPeer(broker, "homeassistant") as homeassistant:
        await homeassistant.subscribe(f"{BASE}/bridge/#")
        await homeassistant.publish(f"{BASE}/bridge/autonomy/set", b"off")
        line = await homeassistant.wait_for(lambda m: m.topic.value == f"{BASE}/bridge/log"
                                            and "autonomy" in payload_of(m)["message"], 5, what="the refusal")
    assert "mqtt:homeassistant" in payload_of(line)["message"] and hub.autonomy == "act"


@pytest.mark.parametrize("bridge_overrides", [{"auth": {"roles": {"homeassistant": {
    "tools": {"*": "write"}, "requests": False, "commands": True, "autonomy": True}}}}], indirect=True)
async def test_home_assistant_switches_autonomy_when_its_role_may(bridged_hub: Any) -> None:
    hub, _bridge, broker = bridged_hub
    async with AsyncPeer(broker, "homeassistant") as homeassistant:
        await homeassistant.subscribe(f"{BASE}/bridge/autonomy")
        await homeassistant.expect(f"{BASE}/bridge/autonomy")  # the retained mode
        for mode in ("off", "notify"):
            since = homeassistant.mark()
            await homeassistant.publish(f"{BASE}/bridge/autonomy/set", mode.encode())
            retained = await homeassistant.expect_json(f"{BASE}/bridge/autonomy", since=since)
            assert retained == {"mode": mode}
    assert hub.autonomy == "notify"


async def test_chat_is_handed_to_the_assistant_with_its_sender(mqtt_broker: MosquittoProcess) -> None:
    assistant = Assistant()
    async with bridged(mqtt_broker, more={"assistant": assistant}):
        async with AsyncPeer(mqtt_broker, "dashboard") as dashboard, AsyncPeer(mqtt_broker, "operator1") as alice, \
                AsyncPeer(mqtt_broker, "homeassistant") as homeassistant:
            await dashboard.subscribe(f"{BASE}/chat/+/out")
            await alice.subscribe(f"{BASE}/reply/operator1/#")
            await dashboard.publish(f"{BASE}/chat/kitchen/in", {"text": "status?", "backend": "local"})
            await dashboard.wait_for(lambda m: b'"end"' in m.payload, 5, what="the end of the shared stream")
            await alice.publish(f"{BASE}/user/operator1/chat/s1/in", b"plain text")
            await alice.wait_for(lambda m: m.topic.value == f"{BASE}/reply/operator1/chat/s1/out"
                                 and b'"end"' in m.payload, 5, what="alice's stream")
            await homeassistant.publish(f"{BASE}/chat/homeassistant/in", b"turn on the lights")
            await dashboard.wait_for(lambda m: m.topic.value == f"{BASE}/chat/homeassistant/out"
                                     and b"mqtt:homeassistant" in m.payload, 5, what="HA's stream")
    stream = [payload_of(m) for m in dashboard.on(f"{BASE}/chat/kitchen/out")]
    assert [m.get("type") for m in stream] == ["start", "delta", "end"] and [m["seq"] for m in stream] == [0, 1, 2]
    assert stream[-1]["final"] is True
    heard = [(args, caller.label, caller.role) for args, caller in assistant.heard]
    assert heard == [
        ({"text": "status?", "backend": "local", "session": "kitchen"}, "mqtt:dashboard", "operator"),
        ({"text": "plain text", "session": "s1"}, "mqtt:operator1", "operator"),
        ({"text": "turn on the lights", "session": "homeassistant"}, "mqtt:homeassistant",
         "operator&homeassistant"),
    ]
    assert not any(m.topic.value.startswith(f"{BASE}/reply/operator1") for m in dashboard.seen)


async def test_chat_needs_the_chat_permission(mqtt_broker: MosquittoProcess) -> None:
    overrides = {"auth": {"users_file": str(mqtt_broker.users_file),
                          "roles": {"operator": {"tools": {"*": "write"}, "commands": True}}}}
    async with bridged(mqtt_broker, overrides, more={"assistant": Assistant()}):
        async with AsyncPeer(mqtt_broker, "operator1") as alice:
            await alice.subscribe(f"{BASE}/reply/operator1/#")
            await alice.publish(f"{BASE}/user/operator1/chat/s1/in", b"hello")
            refused = await alice.expect_json(f"{BASE}/reply/operator1/chat/s1/out")
    assert refused == {"type": "error", "message": refused["message"], "code": "forbidden"}
    assert "chat" in refused["message"]
