"""Bad input over MQTT: every malformed request gets an error reply, and nothing crashes.

The first half sends each kind of bad request through a real mosquitto to a bridged hub and
checks the reply (code and message) and that a valid request still works afterwards. The second
half fuzzes every request and command topic with hypothesis: thousands of cases straight into the
router of a real hub, and a smaller run end to end through the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jarvis.core.hub import Hub
from jarvis.mqtt.bridge import MqttBridge
from jarvis.mqtt.broker import MosquittoProcess
from jarvis.mqtt.client import InMessage
from jarvis.mqtt.publisher import encode
from jarvis.mqtt.router import Router, safe_topic_part

from tests.fixtures.bridge import BASE, AsyncPeer, ProbePlugin, payload_of
from tests.fixtures.hub import running_hub

Bridged = tuple[Hub, MqttBridge, MosquittoProcess]
REQUEST = f"{BASE}/bridge/request"
REPLY_TO = f"{BASE}/reply/dashboard/bad"
LIMIT = 256 * 1024


def assert_well_formed(reply: dict[str, Any]) -> None:
    """A contract reply: a known status, an error with string code and message, strict JSON."""
    assert reply["status"] in ("ok", "error", "confirmation_required"), reply
    if reply["status"] == "error":
        assert set(reply["error"]) == {"code", "message"}, reply
        assert isinstance(reply["error"]["code"], str) and reply["error"]["code"]
        assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]
    if reply["status"] == "confirmation_required":
        assert isinstance(reply["confirmation"]["id"], str)
    assert "transaction" in reply
    json.dumps(reply, allow_nan=False)


async def ask(peer: AsyncPeer, topic: str, payload: bytes, within: float = 5.0) -> dict[str, Any]:
    """Publish with a Response Topic (in the peer's reply space) and correlation data; return the reply."""
    correlation = uuid.uuid4().bytes
    since = peer.mark()
    reply_to = f"{BASE}/reply/{peer.user}/bad" if peer.user else REPLY_TO
    await peer.publish(topic, payload, response_topic=reply_to, correlation=correlation)

    def mine(message: aiomqtt.Message) -> bool:
        props = message.properties
        return message.topic.value == reply_to and getattr(props, "CorrelationData", None) == correlation

    reply: dict[str, Any] = payload_of(await peer.wait_for(mine, within, since, f"reply to {topic[:80]}"))
    assert_well_formed(reply)
    return reply


async def assert_still_serving(bridge: MqttBridge, peer: AsyncPeer) -> None:
    """A valid request still works, and the hub never lost its broker connection."""
    reply = await ask(peer, f"{REQUEST}/tool/probe.echo", b'{"args": {"text": "still here"}}')
    assert reply["data"]["text"] == "still here"
    assert bridge.link.connected.is_set() and bridge.link.counters["connects"] == 1


@pytest.fixture
async def replies(bridged_hub: Bridged, peer: AsyncPeer) -> AsyncIterator[AsyncPeer]:
    """The dashboard peer, subscribed to its reply topic and the hub's default reply topics."""
    await peer.subscribe(f"{BASE}/reply/dashboard/#")
    await peer.subscribe(f"{BASE}/bridge/response/#")
    yield peer
    await assert_still_serving(bridged_hub[1], peer)


@pytest.fixture
async def unfiltered(bridged_hub: Bridged, replies: AsyncPeer) -> AsyncIterator[AsyncPeer]:
    """An admin's per-user account: it may write any command-shaped topic in its own space.

    The dashboard may only write the contract's command topics; this client's grants
    (``jarvis/user/admin1/+/+/action``...) let odd command topics reach the hub, so its own
    checks are what is tested. Use ``client.topic(rel)`` for the topic it sends on.
    """
    async with AsyncPeer(bridged_hub[2], "admin1") as client:
        await client.subscribe(f"{BASE}/reply/admin1/#")
        yield client


# -- each kind of bad request, through the broker ------------------------------------------------

BAD_REQUESTS = [
    pytest.param("tool/probe.echo", b'{"args": {"text": ', "invalid_payload", id="truncated-json"),
    pytest.param("tool/probe.echo", b"{'args': {}}", "invalid_payload", id="python-not-json"),
    pytest.param("tool/probe.echo", b"[1, 2, 3]", "invalid_payload", id="json-array"),
    pytest.param("tool/probe.echo", b'"hello"', "invalid_payload", id="json-string"),
    pytest.param("tool/probe.echo", b"42", "invalid_payload", id="json-number"),
    pytest.param("tool/probe.echo", b"null", "invalid_payload", id="json-null"),
    pytest.param("tool/probe.echo", b"\xff\xfe\x00\x80garbage\xc3", "invalid_payload", id="invalid-utf8"),
    pytest.param("tool/probe.echo", b"\x00" * 64, "invalid_payload", id="nul-bytes"),
    pytest.param("tool/probe.echo", b"[" * 100_000, "invalid_payload", id="nested-100k-deep"),
    pytest.param("tool/probe.echo", b'{"args": {"n": ' + b"9" * 5000 + b"}}", "invalid_payload", id="5000-digit-int"),
    pytest.param("tool/probe.echo", b'{"args": {"n": NaN}}', "invalid_payload", id="nan"),
    pytest.param("tool/probe.echo", b'{"args": [1, 2]}', "invalid_args", id="args-array"),
    pytest.param("tool/probe.echo", b'{"args": "text"}', "invalid_args", id="args-string"),
    pytest.param("tool/probe.echo", b'{"args": {"n": "many"}}', "invalid_args", id="arg-wrong-type"),
    pytest.param("tool/probe.echo", b'{"args": {"n": {"deep": 1}}}', "invalid_args", id="arg-object"),
    pytest.param("tool/probe.destroy", b'{"args": {}}', "invalid_args", id="missing-required-arg"),
    pytest.param("tool/probe.destroy", b'{"args": {"vmid": 5}}', "invalid_args", id="arg-out-of-range"),
    pytest.param("tool/probe.poke", b'{"args": {"kind": "planet"}}', "invalid_args", id="arg-not-in-enum"),
    pytest.param("tool/nope.nothing", b"{}", "unknown_tool", id="unknown-tool"),
    pytest.param("tool/probe.echo/extra", b"{}", "unknown_tool", id="tool-with-extra-level"),
    pytest.param("tool", b"{}", "unknown_command", id="tool-without-name"),
    pytest.param("frobnicate", b"{}", "unknown_command", id="unknown-command"),
    pytest.param("refresh/now", b"{}", "unknown_command", id="command-with-extra-level"),
    pytest.param("confirm", b'{"args": {"id": 7, "approve": "yes"}}', "invalid_args", id="confirm-wrong-types"),
    pytest.param("confirm", b'{"args": {"id": "nope", "approve": true}}', "not_found", id="confirm-unknown-id"),
    pytest.param("autonomy", b'{"args": {"mode": "max"}}', "invalid_args", id="autonomy-bad-mode"),
    pytest.param("autonomy", b'{"args": {"mode": ["off"]}}', "invalid_args", id="autonomy-mode-list"),
    pytest.param("tool/probe.boom", b"{}", "internal", id="plugin-raises"),
]


@pytest.mark.parametrize(("command", "payload", "code"), BAD_REQUESTS)
async def test_a_bad_request_gets_an_error_reply_with_code_and_message(
    replies: AsyncPeer, probe: ProbePlugin, command: str, payload: bytes, code: str
) -> None:
    reply = await ask(replies, f"{REQUEST}/{command}", payload)
    assert reply["status"] == "error" and reply["error"]["code"] == code, reply
    assert probe.calls["destroy"] == probe.calls["poke"] == 0


async def test_the_transaction_is_echoed_even_when_the_args_are_wrong(replies: AsyncPeer) -> None:
    await replies.publish(f"{REQUEST}/tool/probe.echo", {"args": {"n": "x"}, "transaction": {"id": [1, "two"]}})
    reply = await replies.expect_json(f"{BASE}/bridge/response/tool/probe.echo")
    assert reply["error"]["code"] == "invalid_args" and "n:" in reply["error"]["message"]
    assert reply["transaction"] == {"id": [1, "two"]}


async def test_a_payload_over_256_kib_is_refused_and_one_at_the_limit_is_served(replies: AsyncPeer) -> None:
    too_big = json.dumps({"args": {"text": "x" * LIMIT}}).encode()
    reply = await ask(replies, f"{REQUEST}/tool/probe.echo", too_big)
    assert reply["error"]["code"] == "too_large" and str(LIMIT) in reply["error"]["message"]
    command_reply = await ask(replies, f"{BASE}/guest/100/action", b"start" + b" " * LIMIT)
    assert command_reply["error"]["code"] == "too_large"

    envelope = len(json.dumps({"args": {"text": ""}}))
    at_limit = json.dumps({"args": {"text": "y" * (LIMIT - envelope)}}).encode()
    assert len(at_limit) == LIMIT
    assert (await ask(replies, f"{REQUEST}/tool/probe.echo", at_limit))["data"]["text"] == "y" * (LIMIT - envelope)


@pytest.mark.parametrize("bridge_overrides", [{"mqtt": {"max_payload_bytes": 2048}}], indirect=True)
async def test_the_payload_limit_follows_the_config(replies: AsyncPeer) -> None:
    reply = await ask(replies, f"{REQUEST}/tool/probe.echo", json.dumps({"args": {"text": "z" * 3000}}).encode())
    assert reply["error"]["code"] == "too_large" and "2048" in reply["error"]["message"]


async def test_a_payload_over_the_broker_limit_costs_the_sender_its_connection_not_the_hub(
    bridged_hub: Bridged, replies: AsyncPeer
) -> None:
    _hub, _bridge, broker = bridged_hub
    # MQTT 3.1.1: the client is not told the broker's maximum packet size, so it really sends it.
    async with AsyncPeer(broker, "viewer1", protocol=aiomqtt.ProtocolVersion.V311) as flooder:
        # The broker may reset the connection before the write completes: that is the point.
        with contextlib.suppress(aiomqtt.MqttError):
            await flooder.client.publish(f"{REQUEST}/tool/probe.echo", b"x" * (2 * 1024 * 1024), qos=0, timeout=3)
        await asyncio.wait_for(flooder.closed(), 5)


ODD_TOOL_NAMES = [
    pytest.param("probe.échö", id="unicode"),
    pytest.param("probe echo", id="space"),
    pytest.param("..", id="dot-dot"),
    pytest.param("../../etc/passwd", id="path-traversal"),
    pytest.param("x" * 5000, id="5000-chars"),
    pytest.param("日本語/ツール", id="cjk-two-levels"),
    pytest.param("a" * 100 + "/" + "b" * 100 + "/c", id="long-levels"),
    pytest.param("emoji-🚀", id="emoji"),
]


@pytest.mark.parametrize("name", ODD_TOOL_NAMES)
async def test_odd_topics_get_an_error_on_a_safe_reply_topic(replies: AsyncPeer, name: str) -> None:
    expected_topic = f"{BASE}/bridge/response/tool/" + "/".join(safe_topic_part(p) for p in name.split("/"))
    since = replies.mark()
    await replies.publish(f"{REQUEST}/tool/{name}", {"transaction": "odd"})
    message = await replies.expect(expected_topic, since=since)
    reply = payload_of(message)
    assert_well_formed(reply)
    assert reply["error"]["code"] == "unknown_tool" and reply["transaction"] == "odd"
    assert all(ch.isascii() and ch not in "+# " for ch in message.topic.value)
    assert max(len(level) for level in message.topic.value.split("/")) <= 96
    # With a Response Topic the reply goes there instead, unchanged.
    assert (await ask(replies, f"{REQUEST}/tool/{name}", b"{}"))["error"]["code"] == "unknown_tool"


async def test_a_response_topic_with_wildcards_gets_an_error_on_the_default_topic(
    replies: AsyncPeer, probe: ProbePlugin
) -> None:
    await replies.publish(f"{REQUEST}/tool/probe.poke", b'{"transaction": "w"}', response_topic=f"{BASE}/reply/+/x")
    reply = await replies.expect_json(f"{BASE}/bridge/response/tool/probe.poke")
    assert reply["error"]["code"] == "invalid_response_topic"
    await replies.publish(f"{BASE}/guest/100/action", b"start", response_topic=f"{BASE}/reply/#")
    await replies.publish(f"{BASE}/guest/100/action", b"start", response_topic=REPLY_TO)
    await replies.expect(REPLY_TO)
    assert probe.calls["poke"] == 1  # only the command with a usable Response Topic ran


BAD_COMMANDS = [
    pytest.param("guest/100/action", b"explode", "invalid_args", id="unknown-verb"),
    pytest.param("guest/100/action", b"\xff\xfe", "invalid_payload", id="invalid-utf8"),
    pytest.param("guest/100/action", b'{"verb": ', "invalid_payload", id="truncated-json"),
    pytest.param("guest/100/action", b"{" + b'"a":' * 1 + b"[" * 50_000, "invalid_payload", id="deep-json"),
    pytest.param("guest/abc/action", b"reset", "invalid_args", id="non-numeric-vmid"),
    pytest.param("guest/100/set", b'{"state": "exploded"}', "invalid_args", id="set-bad-state"),
    pytest.param("guest/100/set", b"MAYBE", "invalid_args", id="set-bad-plain"),
    pytest.param("guest/100/set", b"[1,2]", "invalid_args", id="set-array-as-text"),
    pytest.param("node/pve1/action", b"", "invalid_args", id="empty"),
    pytest.param("docker/nas/web/action", b"delete", "invalid_args", id="docker-bad-verb"),
    pytest.param("spaceship/1/action", b"launch", "unknown_command", id="unknown-kind"),
    pytest.param("docker/nas/action", b"start", "invalid_topic", id="docker-missing-level"),
    pytest.param("guest/1/2/action", b"start", "invalid_topic", id="guest-extra-level"),
]


@pytest.mark.parametrize(("topic", "payload", "code"), BAD_COMMANDS)
async def test_a_bad_command_gets_an_error_reply_when_it_asks_for_one(
    unfiltered: AsyncPeer, probe: ProbePlugin, topic: str, payload: bytes, code: str
) -> None:
    reply = await ask(unfiltered, unfiltered.topic(topic), payload)
    assert reply["status"] == "error" and reply["error"]["code"] == code, reply
    assert sum(probe.calls.values()) == 0


async def test_a_bad_command_without_a_response_topic_is_logged_on_bridge_log(replies: AsyncPeer) -> None:
    await replies.subscribe(f"{BASE}/bridge/log")
    await replies.publish(f"{BASE}/guest/100/action", b"explode")
    line = await replies.expect_json(f"{BASE}/bridge/log")
    assert line["level"] == "warning" and "guest/100/action" in line["message"]


# -- fuzzing ------------------------------------------------------------------------------------------

SEGMENT = st.text(st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="+#/"),
                  min_size=1, max_size=30)
# Ids another script reads as a number: Arabic-Indic, fullwidth and Devanagari digits, leading zeros.
ODD_IDS = st.sampled_from(["١٠٨", "۱۰۸", "１０８", "१०८", "000108", "0108", "108\u200b", "1_08", "٠"])
# Text with lone UTF-16 surrogates, which JSON can carry (as \ud800 escapes) and UTF-8 cannot.
SURROGATE_TEXT = st.lists(st.one_of(st.characters(), st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])),
                          min_size=1, max_size=12).map("".join)
REQUEST_TOPICS = st.one_of(
    st.sampled_from(["tool/probe.echo", "tool/probe.poke", "tool/probe.destroy", "tool/probe.boom",
                     "confirm", "autonomy", "refresh", "plugins", "tool"]),
    SEGMENT.map(lambda s: f"tool/{s}"),
    SEGMENT,  # unknown commands
    st.lists(SEGMENT, min_size=2, max_size=4).map("/".join),
).map(lambda command: f"{REQUEST}/{command}")
COMMAND_TOPICS = st.one_of(
    st.tuples(st.sampled_from(["guest"]), SEGMENT, st.sampled_from(["set", "action"])).map("/".join),
    st.tuples(st.sampled_from(["guest", "node"]), ODD_IDS, st.sampled_from(["set", "action"])).map("/".join),
    SEGMENT.map(lambda node: f"node/{node}/action"),
    st.tuples(SEGMENT, SEGMENT).map(lambda hc: f"docker/{hc[0]}/{hc[1]}/action"),
    st.tuples(SEGMENT, SEGMENT, st.sampled_from(["set", "action"])).map("/".join),
).map(lambda rel: f"{BASE}/{rel}")
ANY_TOPIC = st.one_of(REQUEST_TOPICS, COMMAND_TOPICS)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
    | SURROGATE_TEXT,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10) | SURROGATE_TEXT, children,
                                                                       max_size=5),
    max_leaves=20,
)
ARGS = st.one_of(
    JSON,
    st.fixed_dictionaries({}, optional={"text": JSON, "n": JSON, "vmid": JSON, "kind": JSON, "id": JSON,
                                        "verb": JSON, "mode": st.sampled_from(["off", "notify", "act"]) | JSON,
                                        "approve": JSON}),
)
REQUEST_BODY = st.one_of(
    JSON,
    st.fixed_dictionaries({}, optional={"args": ARGS, "transaction": JSON}),
).map(lambda value: json.dumps(value).encode())
COMMAND_BODY = st.one_of(
    st.sampled_from([b"start", b"stop", b"reset", b"reboot", b"wake", b"restart", b"ON", b"OFF",
                     b'{"state":"running"}', b'{"state":"stopped"}']),
    JSON.map(lambda value: json.dumps(value).encode()),
    st.text(max_size=40).map(str.encode),
)
PAYLOAD = st.one_of(st.binary(max_size=300), REQUEST_BODY, COMMAND_BODY)
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                database=None)


def fuzz(examples: int) -> settings:
    """Fuzz settings with this many examples."""
    return settings(FUZZ, max_examples=examples)


@pytest.fixture
async def router(probe: ProbePlugin) -> AsyncIterator[Router]:
    """The router of a real running hub with the probe plugin (no broker in between)."""
    config = {"safety": {"autonomy": "act", "confirmation_ttl_s": 600}}
    async with running_hub(config, extra_plugins={"probe": probe}) as hub:
        yield Router(hub, BASE, hub.config.mqtt.max_payload_bytes)


async def route_and_check(router: Router, topic: str, payload: bytes, *, retain: bool = False) -> None:
    """Route one message with a Response Topic; a reply must come back well formed."""
    message = InMessage(topic=topic, payload=payload, retain=retain, response_topic=REPLY_TO,
                        correlation_data=b"c")
    reply = await router.route(message)
    if retain:
        assert reply is None
        return
    assert reply is not None, topic
    assert reply.topic == REPLY_TO and reply.correlation_data == b"c"
    assert_well_formed(reply.payload)
    if reply.payload["status"] == "error" and reply.payload["error"]["code"] == "internal":
        assert topic.endswith("/probe.boom"), f"an unexpected exception: {reply.payload}"


@fuzz(700)
@given(topic=REQUEST_TOPICS, payload=st.binary(max_size=400))
async def test_fuzz_request_topics_with_arbitrary_bytes(router: Router, topic: str, payload: bytes) -> None:
    await route_and_check(router, topic, payload)


@fuzz(700)
@given(topic=REQUEST_TOPICS, payload=REQUEST_BODY)
async def test_fuzz_request_topics_with_arbitrary_json(router: Router, topic: str, payload: bytes) -> None:
    await route_and_check(router, topic, payload)


@fuzz(600)
@given(topic=COMMAND_TOPICS, payload=st.one_of(COMMAND_BODY, st.binary(max_size=200)))
async def test_fuzz_command_topics_with_arbitrary_payloads(router: Router, topic: str, payload: bytes) -> None:
    await route_and_check(router, topic, payload)


HOSTILE_REPLY_TOPICS = st.one_of(
    st.sampled_from([f"{BASE}/bridge/state", f"{BASE}/bridge/request/refresh", f"{BASE}/guest/100/action",
                     f"{BASE}/reply/homeassistant/x", f"{BASE}/reply/admin1/x", f"{BASE}/reply/dashboard",
                     f"{BASE}/reply/dashboardx/1", f"{BASE}/reply/dashboard/+", f"{BASE}/reply/#", f"{BASE}/event",
                     f"{BASE}/confirm/abc", "homeassistant/status", "$SYS/broker/x", "$CONTROL/dynamic-security/v1",
                     "", "/", f"{BASE}/reply/", f"{BASE}/reply/dashboard/../homeassistant", "\u0000", "x" * 70_000]),
    SEGMENT.map(lambda s: f"{BASE}/reply/{s}"),
    SEGMENT.map(lambda s: f"{BASE}/{s}/state"),
)


def allowed_reply(topic: str, sent_on: str) -> bool:
    """Where an answer may go: the reply space of an account that may send on ``sent_on``
    (requests: dashboard; commands: dashboard or homeassistant), or the contract's response topics."""
    senders = ("dashboard",) if sent_on.startswith(REQUEST) else ("dashboard", "homeassistant")
    return topic.startswith(f"{BASE}/bridge/response/") or any(
        topic == f"{BASE}/reply/{user}" or topic.startswith(f"{BASE}/reply/{user}/") for user in senders)


@fuzz(400)
@given(topic=ANY_TOPIC, payload=PAYLOAD, reply_to=HOSTILE_REPLY_TOPICS)
async def test_fuzz_hostile_response_topics_never_steer_a_reply(
    router: Router, probe: ProbePlugin, topic: str, payload: bytes, reply_to: str
) -> None:
    before = sum(probe.calls.values())
    message = InMessage(topic=topic, payload=payload, retain=False, response_topic=reply_to, correlation_data=b"c")
    reply = await router.route(message)
    if allowed_reply(reply_to, topic):
        return
    assert sum(probe.calls.values()) == before, f"ran a call whose answer was aimed at {reply_to!r}"
    if reply is not None:
        assert allowed_reply(reply.topic, topic) and reply.topic != reply_to, reply.topic
        assert reply.payload["error"]["code"] == "invalid_response_topic"


@fuzz(300)
@given(command=st.sampled_from(["tool/probe.echo", "tool/probe.poke", "confirm", "autonomy"]), text=SURROGATE_TEXT)
async def test_fuzz_lone_surrogates_are_refused_at_the_boundary(router: Router, command: str, text: str) -> None:
    body = json.dumps({"args": {"text": text, "id": text, "mode": text}, "transaction": text}).encode()
    reply = await router.route(InMessage(f"{REQUEST}/{command}", body, False, REPLY_TO, b"c"))
    assert reply is not None
    # A high surrogate followed by a low one is a valid pair in JSON; only a lone one is invalid text.
    surrogate = any("\ud800" <= ch <= "\udfff" for ch in json.loads(json.dumps(text)))
    if surrogate:
        assert reply.payload["error"]["code"] == "invalid_payload" and reply.payload["transaction"] is None
    encode(reply.payload).decode("utf-8")


@fuzz(200)
@given(topic=ANY_TOPIC, payload=PAYLOAD)
async def test_fuzz_retained_messages_are_never_answered(router: Router, topic: str, payload: bytes) -> None:
    await route_and_check(router, topic, payload, retain=True)


@fuzz(200)
@given(topic=ANY_TOPIC, payload=PAYLOAD)
async def test_fuzz_end_to_end_through_the_broker(
    bridged_hub: Bridged, unfiltered: AsyncPeer, topic: str, payload: bytes
) -> None:
    await ask(unfiltered, unfiltered.topic(topic.removeprefix(f"{BASE}/")), payload)
    assert bridged_hub[1].link.counters["connects"] == 1


async def test_fuzzing_left_the_hub_consistent(router: Router, probe: ProbePlugin) -> None:
    """The same router still serves a plain request after a burst of garbage."""
    for payload in (b"\xff" * 100, b"[" * 10_000, b"{}", b'{"args": 1}'):
        await route_and_check(router, f"{REQUEST}/tool/probe.echo", payload)
    reply = await router.route(InMessage(f"{REQUEST}/tool/probe.echo", b'{"args":{"n":1}}', False, REPLY_TO))
    assert reply is not None and reply.payload["data"]["n"] == 1
    await asyncio.sleep(0)
