"""Hole 3: one message with invalid text can no longer silence the audit trail.

Before: a lone UTF-16 surrogate (``{"args":{"tag":"\\ud800"}}``) passed JSON decoding, reached
the action event, and the UTF-8 encoder raised in the task that publishes ``<base>/event``:
the task died silently and no later action was ever published. In a ``transaction`` it cost
the reply. Now such text is refused at the boundary (``invalid_payload``), every outgoing
payload encodes (U+FFFD for what cannot), and a background task that dies is logged and
restarted.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jarvis.core import Event
from jarvis.core.hub import Hub
from jarvis.core.runner import supervised
from jarvis.mqtt import bridge as bridge_module
from jarvis.mqtt.bridge import MqttBridge
from jarvis.mqtt.broker import MosquittoProcess
from jarvis.mqtt.publisher import encode

from tests.fixtures.bridge import BASE, AsyncPeer, ProbePlugin, payload_of

Bridged = tuple[Hub, MqttBridge, MosquittoProcess]
LONE = b'"\\ud800"'


async def test_a_lone_surrogate_in_args_is_refused_and_the_audit_trail_goes_on(
    bridged_hub: Bridged, peer: AsyncPeer, probe: ProbePlugin
) -> None:
    await peer.subscribe(f"{BASE}/event")
    await peer.subscribe(f"{BASE}/bridge/response/#")
    await peer.publish(f"{BASE}/bridge/request/tool/probe.echo", b'{"args": {"text": ' + LONE + b'}, "transaction": 1}')
    refused = await peer.expect_json(f"{BASE}/bridge/response/tool/probe.echo")
    assert refused["error"]["code"] == "invalid_payload" and "surrogate" in refused["error"]["message"]
    assert probe.calls["echo"] == 0
    # Every later action still reaches the audit trail.
    for n in range(3):
        assert (await peer.request("tool/probe.echo", {"text": f"after {n}"}))["status"] == "ok"
    await peer.wait_for(lambda m: m.topic.value == f"{BASE}/event" and "after 2" in str(payload_of(m)), 5,
                        what="the last action's event")
    actions = [payload_of(m) for m in peer.on(f"{BASE}/event")]
    assert [a["details"]["args"]["text"] for a in actions if a["type"] == "action"][-3:] == [
        "after 0", "after 1", "after 2"]


async def test_a_lone_surrogate_in_the_transaction_still_gets_a_reply(bridged_hub: Bridged, peer: AsyncPeer) -> None:
    await peer.subscribe(f"{BASE}/bridge/response/#")
    await peer.publish(f"{BASE}/bridge/request/tool/probe.echo", b'{"transaction": ' + LONE + b"}")
    reply = await peer.expect_json(f"{BASE}/bridge/response/tool/probe.echo")
    assert reply["error"]["code"] == "invalid_payload" and reply["transaction"] is None


async def test_events_with_invalid_text_from_inside_are_published_with_a_replacement_character(
    bridged_hub: Bridged, peer: AsyncPeer
) -> None:
    hub, _bridge, _broker = bridged_hub
    await peer.subscribe(f"{BASE}/event")
    hub.emit(Event(type="status", summary="bad \ud800 text", details={"\udc00key": ["\udfff"]}))
    hub.emit(Event(type="status", summary="next"))
    first = await peer.expect_json(f"{BASE}/event")
    assert first["summary"] == "bad \ufffd text" and first["details"] == {"\ufffdkey": ["\ufffd"]}
    second = await peer.wait_for(lambda m: payload_of(m).get("summary") == "next", what="the next event")
    assert second is not None


# Any text, lone surrogates included (hypothesis leaves them out of st.text() by default).
TEXT = st.lists(st.one_of(st.characters(), st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])),
                max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.recursive(TEXT | st.integers() | st.none() | st.booleans(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=12))
def test_every_payload_encodes_to_valid_utf8(value: object) -> None:
    data = encode({"value": value})
    data.decode("utf-8")  # never raises: lone surrogates became U+FFFD


async def test_a_dying_background_task_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        await asyncio.sleep(3600)

    caplog.set_level(logging.ERROR, "jarvis.tasks")
    task = asyncio.create_task(supervised(flaky, "events", delay_s=0.01))
    for _ in range(100):
        if runs >= 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert runs == 2
    assert any("background task events died" in r.getMessage() for r in caplog.records)


async def test_the_event_publisher_comes_back_after_a_crash(
    bridged_hub: Bridged, peer: AsyncPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, _bridge, _broker = bridged_hub
    await peer.subscribe(f"{BASE}/event")
    await peer.subscribe(f"{BASE}/bridge/log")
    real = bridge_module.encode
    crashed = False

    def encode_once_broken(data: object) -> bytes:
        nonlocal crashed
        if not crashed and isinstance(data, dict) and data.get("summary") == "boom":
            crashed = True
            raise RuntimeError("the encoder exploded")
        return real(data)  # type: ignore[arg-type]

    monkeypatch.setattr(bridge_module, "encode", encode_once_broken)
    hub.emit(Event(type="status", summary="boom"))
    await peer.wait_for(lambda m: "mqtt-events died" in str(payload_of(m).get("message", "")), 10,
                        what="the crash on bridge/log")
    hub.emit(Event(type="status", summary="still audited"))
    await peer.wait_for(lambda m: payload_of(m).get("summary") == "still audited", 10, what="the next event")
