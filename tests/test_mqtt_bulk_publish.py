"""Retained state in bulk: `BrokerLink.publish_retained` and the PUBLISH packets it pre-encodes.

Everything that crosses the network goes through a real mosquitto (the project's secure config, the
`hub` role publishing, a `dashboard` peer observing); only the packet encoder is tested on its own.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from jarvis.core.config import MqttConfig
from jarvis.mqtt.broker import MosquittoProcess
from jarvis.mqtt.client import STREAM_CHUNK_BYTES, BrokerLink, InMessage, LinkDown
from jarvis.mqtt.packets import encode_publishes, remaining_length, valid_publish_topic
from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.fixtures.bridge import BASE, AsyncPeer, wait_until

BULK = f"{BASE}/bulk"
END = f"{BASE}/bulkend"  # retained end marker, outside BULK/#
PROTOCOLS = pytest.mark.parametrize("protocol", ["5", "3.1.1"])
Batch = list[tuple[str, bytes]]


# -- helpers ------------------------------------------------------------------------------------


async def _ignore(_item: BrokerLink | InMessage) -> None:
    """Stand in for the bridge's on_connect / on_message."""


def link_for(broker: MosquittoProcess, protocol: str) -> BrokerLink:
    """A BrokerLink configured like the hub's own (hub credentials), not yet running."""
    user, password = broker.users["hub"]
    config = MqttConfig(host=broker.host, port=broker.port, username=user, password=password,
                        client_id=f"bulk-{uuid.uuid4().hex[:8]}", protocol=protocol)
    return BrokerLink(config, will_topic=f"{BULK}/will", will_payload=b"gone", on_connect=_ignore, on_message=_ignore)


@asynccontextmanager
async def running_link(broker: MosquittoProcess, protocol: str) -> AsyncIterator[tuple[BrokerLink, asyncio.Task[None]]]:
    """Run a link until the block ends; yields it once connected, with its run task."""
    link = link_for(broker, protocol)
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.ready.wait(), 10)
        assert link.protocol == protocol
        yield link, task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def subscribe_as_published(peer: AsyncPeer, topic_filter: str) -> None:
    """Subscribe with MQTT 5 Retain As Published, so live deliveries keep the retain flag."""
    await peer.client.subscribe(topic_filter, options=SubscribeOptions(qos=1, retainAsPublished=True))


def received(peer: AsyncPeer, since: int, prefix: str = BULK) -> list[tuple[str, bytes, bool]]:
    """(topic, payload, retain) of what the peer got under ``prefix`` since ``since``, in arrival order."""
    return [(m.topic.value, bytes(m.payload), bool(m.retain)) for m in peer.seen[since:]
            if m.topic.value.startswith(prefix + "/")]


async def retained_now(broker: MosquittoProcess, topic_filter: str) -> dict[str, bytes]:
    """Topic -> payload a brand-new subscriber finds retained under ``topic_filter`` (END must be retained).

    A publisher's last bytes may still be in the broker's input when we subscribe (a busy box):
    then live messages slip in after the retained ones, and the snapshot is taken again.
    """
    for _attempt in range(10):
        async with AsyncPeer(broker) as late:
            await late.subscribe(topic_filter)
            await late.subscribe(END)  # its retained copy arrives after all of the first subscription's
            end = await late.expect(END)
            await asyncio.sleep(0.1)  # anything still in flight shows up now, as a live message
            before = late.seen[:late.seen.index(end)]
            if all(m.retain for m in late.seen):
                return {m.topic.value: bytes(m.payload) for m in before}
        await asyncio.sleep(0.2)
    raise AssertionError("live messages kept slipping in: the snapshot proves nothing")


def batch(count: int, size: int, *, tag: str = "item", seed: int = 1) -> Batch:
    """``count`` messages on distinct topics with random (all byte values) payloads of ``size`` bytes."""
    rng = random.Random(seed)
    return [(f"{BULK}/{tag}/{i:04d}", rng.randbytes(size)) for i in range(count)]


# -- over the broker ----------------------------------------------------------------------------


@PROTOCOLS
async def test_a_batch_arrives_complete_in_order_byte_exact_and_retained(
    mqtt_broker: MosquittoProcess, peer: AsyncPeer, protocol: str
) -> None:
    messages = batch(300, 2048)  # 600 KiB: three pre-encoded chunks plus the awaited last message
    async with running_link(mqtt_broker, protocol) as (link, _task):
        await subscribe_as_published(peer, f"{BULK}/#")
        since = peer.mark()
        await link.publish_retained(messages)
        await peer.expect(messages[-1][0], within=10, since=since)
    assert received(peer, since) == [(topic, payload, True) for topic, payload in messages]
    assert link.counters["published"] == 300
    assert link.counters["bytes_out"] == 300 * 2048
    assert link.counters["dropped"] == 0


def boundary_batch(protocol: str) -> Batch:
    """Payloads whose PUBLISH Remaining Length sits on each side of the 1/2/3-byte boundaries, then chunk-sized ones."""
    topic = f"{BULK}/size"
    overhead = 2 + len(f"{topic}/rl-00000".encode()) + (protocol == "5")  # topic length, topic, property length
    rng = random.Random(7)
    messages: Batch = [(f"{topic}/empty", b""), (f"{topic}/one", b"\x00")]
    for length in (126, 127, 128, 129, 16382, 16383, 16384, 16385):
        messages.append((f"{topic}/rl-{length:05d}", rng.randbytes(length - overhead)))
    messages += [
        (f"{BULK}/Zürich/节点-🚀/état", "grüß dich ✓".encode()),
        (f"{topic}/big-1", rng.randbytes(STREAM_CHUNK_BYTES + 44_000)),  # ~300 KiB: closes a chunk by itself
        (f"{topic}/after-big", b"\xff" * 3),
        (f"{topic}/big-2", rng.randbytes(200_000)),
        (f"{topic}/big-3", rng.randbytes(100_000)),
        (f"{topic}/last", b"last"),
    ]
    return messages


@PROTOCOLS
async def test_remaining_length_boundaries_chunk_boundaries_and_utf8_topics_round_trip(
    mqtt_broker: MosquittoProcess, peer: AsyncPeer, protocol: str
) -> None:
    messages = boundary_batch(protocol)
    assert [len(encode_publishes(messages[i:i + 1], retain=True, v5=protocol == "5")) for i in (3, 4)] == [
        1 + 1 + 127, 1 + 2 + 128]  # the sizes really straddle a boundary
    async with running_link(mqtt_broker, protocol) as (link, _task):
        await subscribe_as_published(peer, f"{BULK}/#")
        since = peer.mark()
        await link.publish_retained(messages + [(END, b"end")])
        await peer.expect(messages[-1][0], within=10, since=since)
    got = received(peer, since)
    assert [(t, len(p)) for t, p, _ in got] == [(t, len(p)) for t, p in messages]  # readable on failure
    assert got == [(topic, payload, True) for topic, payload in messages]
    retained = await retained_now(mqtt_broker, f"{BULK}/#")
    assert retained == {topic: payload for topic, payload in messages if payload}  # empty ones are never stored


async def test_an_empty_retained_payload_clears_the_topic_for_late_subscribers(mqtt_broker: MosquittoProcess) -> None:
    async with running_link(mqtt_broker, "5") as (link, _task):
        await link.publish_retained([(f"{BULK}/keep", b"k"), (f"{BULK}/gone", b"g"), (END, b"1")])
        assert await retained_now(mqtt_broker, f"{BULK}/#") == {f"{BULK}/keep": b"k", f"{BULK}/gone": b"g"}
        await link.publish_retained([(f"{BULK}/gone", b""), (END, b"2")])
        assert await retained_now(mqtt_broker, f"{BULK}/#") == {f"{BULK}/keep": b"k"}


@PROTOCOLS
async def test_a_subscriber_connecting_after_the_batch_gets_the_latest_retained_values(
    mqtt_broker: MosquittoProcess, protocol: str
) -> None:
    first, second = batch(250, 300, seed=1), batch(250, 300, seed=2)
    async with running_link(mqtt_broker, protocol) as (link, _task):
        await link.publish_retained(first + [(END, b"1")])
        await link.publish_retained(second[:100] + [(END, b"2")])  # overwrites part of the first
    expected = dict(first) | dict(second[:100])
    assert await retained_now(mqtt_broker, f"{BULK}/#") == expected
    assert len(expected) == 250 and dict(second[:100]) != dict(first[:100])


async def test_publish_retained_on_a_link_that_never_connected_raises_link_down(mqtt_broker: MosquittoProcess) -> None:
    link = link_for(mqtt_broker, "5")
    with pytest.raises(LinkDown):
        await link.publish_retained(batch(3, 10))
    with pytest.raises(LinkDown):
        await link.publish_retained(batch(1, 10))
    assert link.counters["published"] == 0 and link.counters["dropped"] > 0
    await link.publish_retained([])  # nothing to send is not an error, connected or not


async def test_during_a_broker_outage_publish_retained_raises_link_down_and_the_link_carries_on(
    mqtt_broker: MosquittoProcess,
) -> None:
    async with running_link(mqtt_broker, "5") as (link, task):
        await asyncio.to_thread(mqtt_broker.stop)
        await wait_until(lambda: not link.connected.is_set(), 5, "the link noticing the outage")
        with pytest.raises(LinkDown):
            await link.publish_retained(batch(50, 100, tag="lost"))
        assert not task.done(), "LinkDown must stay with the caller, not stop the link"
        await asyncio.to_thread(mqtt_broker.restart)
        await asyncio.wait_for(link.ready.wait(), 15)
        await link.publish_retained(batch(50, 100, tag="after") + [(END, b"end")])
    retained = await retained_now(mqtt_broker, f"{BULK}/#")
    assert retained == dict(batch(50, 100, tag="after"))


async def test_a_wildcard_topic_in_a_batch_raises_value_error_and_the_link_stays_usable(
    mqtt_broker: MosquittoProcess,
) -> None:
    async with running_link(mqtt_broker, "5") as (link, _task):
        messages = batch(300, 2048, tag="bad")
        messages[200] = (f"{BULK}/+/state", b"wildcard")  # in the second chunk
        with pytest.raises(ValueError):
            await link.publish_retained(messages)
        assert link.ready.is_set() and link.counters["published"] == 0
        await link.publish_retained(batch(3, 5, tag="good") + [(END, b"end")])
    retained = await retained_now(mqtt_broker, f"{BULK}/#")
    assert {t: p for t, p in retained.items() if "/good/" in t} == dict(batch(3, 5, tag="good"))
    assert not [t for t in retained if "/bad/" in t]  # all or nothing: no chunk went out before the bad topic


@PROTOCOLS
async def test_batches_and_ordinary_publishes_interleave_and_qos1_still_completes(
    mqtt_broker: MosquittoProcess, peer: AsyncPeer, protocol: str
) -> None:
    batches = [batch(120, 1500, tag=f"b{n}", seed=n) for n in range(4)]  # 180 KiB each: chunks end mid-batch
    singles = [(f"{BULK}/q1/{n}", f"confirmed {n}".encode()) for n in range(4)]
    async with running_link(mqtt_broker, protocol) as (link, _task):
        await subscribe_as_published(peer, f"{BULK}/#")
        since = peer.mark()
        calls = []
        for messages, (topic, payload) in zip(batches, singles, strict=True):
            calls += [link.publish_retained(messages), link.publish(topic, payload, qos=1)]
        calls.append(link.publish(f"{BULK}/plain", b"qos0", qos=0))
        await asyncio.wait_for(asyncio.gather(*calls), 10)  # a PUBACK mistaken or lost would hang here
        total = 4 * 120 + 4 + 1
        await wait_until(lambda: len(received(peer, since)) >= total, 10, "every message")
        await asyncio.sleep(0.2)  # room for a duplicate to show up
    got = received(peer, since)
    for n, messages in enumerate(batches):
        assert [(t, p) for t, p, _ in got if t.startswith(f"{BULK}/b{n}/")] == messages
    assert sorted((t, p, r) for t, p, r in got if t.startswith(f"{BULK}/q1/")) == [(t, p, False) for t, p in singles]
    assert [(t, p, r) for t, p, r in got if t == f"{BULK}/plain"] == [(f"{BULK}/plain", b"qos0", False)]
    assert len(got) == total
    assert all(r for t, _, r in got if t.startswith(f"{BULK}/b"))
    assert link.counters["published"] == total and link.counters["dropped"] == 0


# -- the packet encoder on its own ---------------------------------------------------------------


@pytest.mark.parametrize(("length", "encoded"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01"),
    (2097151, b"\xff\xff\x7f"), (2097152, b"\x80\x80\x80\x01"), (268435455, b"\xff\xff\xff\x7f"),
])
def test_remaining_length_matches_the_spec_examples(length: int, encoded: bytes) -> None:
    assert remaining_length(length) == encoded


@pytest.mark.parametrize("length", [268435456, -1])
def test_remaining_length_refuses_what_four_bytes_cannot_say(length: int) -> None:
    with pytest.raises(ValueError):
        remaining_length(length)


@pytest.mark.parametrize("topic", [b"", b"a/+/b", b"a/#", b"+", b"a\x00b", b"a" * 65536])
def test_topic_check_refuses_what_a_broker_would_disconnect_for(topic: bytes) -> None:
    assert not valid_publish_topic(topic)
    assert not valid_publish_topic(topic.decode())


def test_topic_check_accepts_ordinary_utf8_and_maximum_length_topics() -> None:
    for topic in (b"jarvis/guest/100/state", "jarvis/Zürich/état".encode(), b"a" * 65535, b"/"):
        assert valid_publish_topic(topic)


def test_encode_publishes_builds_the_bytes_paho_sends_for_a_qos0_publish() -> None:
    # Fixed header (0x30 | retain), Remaining Length, topic length + topic, [v5: property length 0], payload.
    one = [("a/b", b"hi")]
    assert encode_publishes(one, retain=True, v5=False) == b"\x31\x07\x00\x03a/bhi"
    assert encode_publishes(one, retain=False, v5=False) == b"\x30\x07\x00\x03a/bhi"
    assert encode_publishes(one, retain=True, v5=True) == b"\x31\x08\x00\x03a/b\x00hi"
    assert encode_publishes([("é", b"")], retain=True, v5=True) == b"\x31\x05\x00\x02\xc3\xa9\x00"
    big = [("t", b"x" * 200)]  # 2 + 1 + 1 + 200 = 204 = 0xCC 0x01 as a variable byte integer
    assert encode_publishes(big, retain=True, v5=True) == b"\x31\xcc\x01\x00\x01t\x00" + b"x" * 200


def test_encode_publishes_concatenates_in_order_and_refuses_a_bad_topic_anywhere() -> None:
    messages = batch(5, 3)
    joined = encode_publishes(messages, retain=True, v5=True)
    assert joined == b"".join(encode_publishes([m], retain=True, v5=True) for m in messages)
    assert encode_publishes([], retain=True, v5=True) == b""
    with pytest.raises(ValueError):
        encode_publishes([*messages, (f"{BULK}/+/state", b"x")], retain=True, v5=False)

