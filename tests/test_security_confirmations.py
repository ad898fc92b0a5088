"""Hole 8: confirmations that outlive their hub, confirmation floods, and replies that confirm a guess.

Before: a pending confirmation stayed retained forever after ``kill -9``; 1,000 could be
created in about a second; and an error that echoed a submitted value masked it as ``***``
when it was a secret, which told the sender the guess was right. Now leftovers are cleared
when the hub connects, pending confirmations are capped (per caller, per target, overall),
and no reply depends on whether something submitted equals a secret.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import aiomqtt
import pytest
from jarvis.core import Caller
from jarvis.core.hub import Hub
from jarvis.core.redact import register_secret
from jarvis.mqtt.broker import MosquittoProcess
from jarvis.mqtt.client import InMessage
from jarvis.mqtt.router import Router

from tests.fixtures.bridge import BASE, ProbePlugin, bridged, retained_under
from tests.fixtures.hub import running_hub

OPERATOR = Caller("mqtt", "alice", "operator")


async def test_a_confirmation_left_retained_by_a_killed_hub_is_cleared_when_the_next_connects(
    mqtt_broker: MosquittoProcess,
) -> None:
    # What a hub killed with -9 leaves: its confirmation, retained, that nobody can answer any more.
    user, password = mqtt_broker.users["hub"]
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, username=user, password=password) as old_hub:
        await old_hub.publish(f"{BASE}/confirm/0123456789", b'{"id":"0123456789","tool":"probe.destroy"}',
                              qos=1, retain=True)
        await old_hub.subscribe(f"{BASE}/confirm/+")
        async for message in old_hub.messages:
            assert message.retain and message.topic.value == f"{BASE}/confirm/0123456789"
            break
    async with bridged(mqtt_broker) as (hub, _bridge):
        pending = (await hub.call_tool("probe.destroy", {"vmid": 101}, source="mqtt", caller=OPERATOR))
        cid = pending["confirmation"]["id"]
        retained = await retained_under(mqtt_broker, f"{BASE}/confirm/+")
    assert list(retained) == [f"{BASE}/confirm/{cid}"], "the leftover is still retained (or ours was cleared)"


async def test_pending_confirmations_are_capped_per_caller_per_target_and_overall() -> None:
    config = {"safety": {"confirmation_limits": {"total": 20, "per_caller": 5, "per_target": 2}}}
    async with running_hub(config, extra_plugins={"probe": ProbePlugin()}) as hub:
        codes = [(await hub.call_tool("probe.destroy", {"vmid": 100 + n}, source="mqtt", caller=OPERATOR))
                 .get("error", {}).get("code", "pending") for n in range(1000)]
        assert codes.count("pending") == 5 and codes.count("too_many_confirmations") == 995
        # Per target: two other users may ask about the same guest, the third may not.
        same = [await hub.call_tool("probe.destroy", {"vmid": 999}, source="mqtt",
                                    caller=Caller("mqtt", f"user{n}", "operator")) for n in range(3)]
        assert [r["status"] for r in same] == ["confirmation_required"] * 2 + ["error"]
        # Overall: many callers, many targets, never more than the total.
        for n in range(100):
            await hub.call_tool("probe.destroy", {"vmid": 2000 + n}, source="mqtt",
                                caller=Caller("mqtt", f"crowd{n}", "operator"))
        assert len(hub.pipeline.confirmations) == 20
        assert len(hub.state.items(("confirm",))) == 20
        refused = await hub.call_tool("probe.destroy", {"vmid": 5000}, source="mqtt",
                                      caller=Caller("mqtt", "fresh", "operator"))
        assert "safety.confirmation_limits.total" in refused["error"]["message"]


@pytest.fixture
async def router() -> Any:
    async with running_hub({"safety": {"autonomy": "act"}, "auth": {"anonymous_role": "admin"}},
                           extra_plugins={"probe": ProbePlugin()}) as hub:
        yield Router(hub, BASE, hub.config.mqtt.max_payload_bytes), hub


def surfaces(value: str) -> list[tuple[str, bytes]]:
    """Every place a client can put a string the hub (or a plugin, like probe) might quote in an error."""
    return [
        (f"{BASE}/bridge/request/tool/{value}", b"{}"),
        (f"{BASE}/bridge/request/{value}", b"{}"),
        (f"{BASE}/bridge/request/confirm", b'{"args": {"id": "%s", "approve": true}}' % value.encode()),
        (f"{BASE}/bridge/request/autonomy", b'{"args": {"mode": "%s"}}' % value.encode()),
        (f"{BASE}/bridge/request/tool/probe.poke", b'{"args": {"kind": "%s"}}' % value.encode()),
        (f"{BASE}/guest/100/action", value.encode()),
        (f"{BASE}/guest/100/set", value.encode()),
        (f"{BASE}/node/{value}/action", b"explode"),
    ]


async def test_no_reply_tells_whether_a_guess_was_a_secret(router: Any) -> None:
    route, hub = router
    secret = "s3cr" + secrets.token_hex(6)
    register_secret(secret)
    other = "s3cr" + secrets.token_hex(6)  # same shape, not a secret
    for (topic_a, payload_a), (topic_b, payload_b) in zip(surfaces(secret), surfaces(other), strict=True):
        replies = []
        for topic, payload in ((topic_a, payload_a), (topic_b, payload_b)):
            message = InMessage(topic=topic, payload=payload, retain=False,
                                response_topic=f"{BASE}/reply/x/{uuid.uuid4().hex}", correlation_data=b"c")
            reply = await route.route(message)
            assert reply is not None, topic
            replies.append(reply.payload)
        assert replies[0] == replies[1], f"{topic_b}: the answer depends on the secret: {replies}"
        assert secret not in str(replies[0]) and other not in str(replies[1])
    assert isinstance(hub, Hub)
