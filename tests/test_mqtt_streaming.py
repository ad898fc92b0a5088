"""A request may answer with a stream: ordered messages to one response topic, ending with a final one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from jarvis.core import Caller, RequestCommand, hookimpl
from jarvis.mqtt.bridge import MqttBridge
from jarvis.mqtt.broker import MosquittoProcess

from tests.fixtures.bridge import BASE, AsyncPeer, hub_config, payload_of
from tests.fixtures.hub import running_hub
from tests.fixtures.testplugins import ToolPlugin

REPLY = f"{BASE}/reply/dashboard/stream"


class Counter(ToolPlugin):
    """``count`` streams 1..n; ``flaky`` breaks after two messages; ``whole`` says final itself."""

    @hookimpl
    def register_request_commands(self, register: Callable[[RequestCommand], None]) -> None:
        async def count(args: dict[str, Any], caller: Caller) -> AsyncIterator[dict[str, Any]]:
            for n in range(1, int(args.get("to", 3)) + 1):
                yield {"status": "ok", "data": n, "by": caller.source}

        async def flaky(args: dict[str, Any], caller: Caller) -> AsyncIterator[dict[str, Any]]:
            yield {"status": "ok", "data": 1}
            yield {"status": "ok", "data": 2}
            raise RuntimeError("the backend went away")

        async def whole(args: dict[str, Any], caller: Caller) -> AsyncIterator[dict[str, Any]]:
            yield {"type": "start"}
            yield {"type": "end", "final": True}

        for name, handler in (("count", count), ("flaky", flaky), ("whole", whole)):
            register(RequestCommand(name=name, handler=handler, description=name))


@asynccontextmanager
async def bridged_counter(broker: MosquittoProcess) -> AsyncIterator[None]:
    async with running_hub(hub_config(broker), extra_plugins={"counter": Counter()}) as hub:
        bridge = MqttBridge(hub)
        await bridge.start()
        try:
            await bridge.wait_connected(15)
            yield
        finally:
            await bridge.stop()


async def collect(peer: AsyncPeer, command: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    since = peer.mark()
    await peer.publish(f"{BASE}/bridge/request/{command}", {"args": args, "transaction": "t1"},
                       response_topic=REPLY, correlation=b"c-1")
    await peer.wait_for(lambda m: m.topic.value == REPLY and payload_of(m).get("final"), since=since,
                        what="the final message")
    messages = [m for m in peer.seen[since:] if m.topic.value == REPLY]
    assert all(m.properties.CorrelationData == b"c-1" for m in messages)  # type: ignore[union-attr]
    return [payload_of(m) for m in messages]


async def test_a_stream_arrives_in_order_with_seq_and_a_closing_final(
    mqtt_broker: MosquittoProcess, peer: AsyncPeer
) -> None:
    async with bridged_counter(mqtt_broker):
        await peer.subscribe(REPLY)
        messages = await collect(peer, "count", {"to": 5})
    assert [m.get("data") for m in messages] == [1, 2, 3, 4, 5, None]
    assert [m["seq"] for m in messages] == [0, 1, 2, 3, 4, 5]
    assert all(m["transaction"] == "t1" for m in messages)
    assert messages[-1] == {"final": True, "seq": 5, "transaction": "t1"}
    assert messages[0]["by"] == "mqtt"


async def test_a_stream_that_marks_its_last_message_final_gets_no_extra_one(
    mqtt_broker: MosquittoProcess, peer: AsyncPeer
) -> None:
    async with bridged_counter(mqtt_broker):
        await peer.subscribe(REPLY)
        messages = await collect(peer, "whole", {})
    assert [m["type"] for m in messages] == ["start", "end"] and messages[-1]["final"] is True


async def test_a_stream_that_breaks_ends_with_an_error_not_silence(
    mqtt_broker: MosquittoProcess, peer: AsyncPeer
) -> None:
    async with bridged_counter(mqtt_broker):
        await peer.subscribe(REPLY)
        messages = await collect(peer, "flaky", {})
    assert [m.get("data") for m in messages[:2]] == [1, 2]
    last = messages[-1]
    assert last["final"] is True and last["status"] == "error" and last["error"]["code"] == "internal"
    assert "the backend went away" in last["error"]["message"]
