"""Dashboard logins get broker identities of their own, whose grants the broker enforces.

``hub.broker_sessions.mint(user)`` creates a short-lived client in mosquitto's dynamic-security
plugin (the hub's account may use ``$CONTROL/dynamic-security``) with the user's grants: it
reads the public topics and its own replies, and writes only in ``<base>/user/<user>/`` what the
user's role allows, whatever the page does. ``revoke`` drops it; expired and leftover
identities are deleted. On the demo's anonymous broker the browser needs no credentials.
"""

from __future__ import annotations

import asyncio
import uuid

import aiomqtt
import pytest
from jarvis.core import BrokerIdentity, BrokerSessionError, BrokerSessions
from jarvis.mqtt.broker import MosquittoProcess

from tests.fixtures.bridge import BASE, AsyncPeer, ProbePlugin, bridged, payload_of


class Browser:
    """A page's MQTT client, connected with a minted identity."""

    def __init__(self, broker: MosquittoProcess, identity: BrokerIdentity) -> None:
        self.identity = identity
        self.client = aiomqtt.Client(broker.host, broker.port, username=identity.username,
                                     password=identity.password, identifier=f"tab-{uuid.uuid4().hex[:6]}", timeout=5)
        self.seen: list[aiomqtt.Message] = []
        self.closed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Browser:
        await self.client.__aenter__()
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for message in self.client.messages:
                self.seen.append(message)
        except aiomqtt.MqttError:
            pass
        self.closed.set()

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        try:
            await self.client.__aexit__(None, None, None)
        except aiomqtt.MqttError:
            pass

    def topics(self) -> list[str]:
        return [m.topic.value for m in self.seen]


async def test_a_minted_identity_has_its_users_grants_and_nothing_more(
    mqtt_broker: MosquittoProcess, probe: ProbePlugin
) -> None:
    async with bridged(mqtt_broker, plugin=probe) as (hub, _bridge):
        sessions = hub.broker_sessions
        assert isinstance(sessions, BrokerSessions)
        identity = await sessions.mint("operator1")
        assert identity.username and identity.username.startswith("web-operator1-") and identity.role == "operator"
        assert identity.topic_prefix == f"{BASE}/user/operator1" and identity.reply_prefix == f"{BASE}/reply/operator1"
        async with Browser(mqtt_broker, identity) as page, AsyncPeer(mqtt_broker, "admin1") as admin:
            await page.client.subscribe(f"{BASE}/#")
            await admin.subscribe(f"{BASE}/reply/admin1/#")
            assert (await admin.request("tool/probe.echo", {"text": "for admin1"}))["status"] == "ok"
            await page.client.publish(f"{identity.topic_prefix}/bridge/request/tool/probe.echo",
                                      b'{"args": {"text": "from the page"}, "transaction": "p"}', qos=1)
            await page.client.publish(f"{identity.topic_prefix}/guest/100/action", b"start", qos=1)
            # Not its space, not its role's: the broker drops these.
            await page.client.publish(f"{BASE}/user/admin1/guest/100/action", b"reboot", qos=1)
            await page.client.publish(f"{BASE}/guest/101/action", b"start", qos=1)
            await page.client.publish(f"{BASE}/bridge/state", b"{}", qos=1)
            await asyncio.sleep(1.0)
        topics = set(page.topics())
        assert f"{BASE}/reply/operator1/bridge/response/tool/probe.echo" in topics
        assert f"{BASE}/bridge/state" in topics and f"{BASE}/probe/alpha/state" in topics
        assert not any(t.startswith(f"{BASE}/reply/admin1") or t.startswith(f"{BASE}/user/") for t in topics)
        assert probe.calls["echo"] == 2 and probe.calls["poke"] == 1  # admin1's echo, the page's echo and start


async def test_a_viewers_page_cannot_send_commands(mqtt_broker: MosquittoProcess, probe: ProbePlugin) -> None:
    async with bridged(mqtt_broker, plugin=probe) as (hub, _bridge):
        assert hub.broker_sessions is not None
        identity = await hub.broker_sessions.mint("viewer1")
        async with Browser(mqtt_broker, identity) as page:
            await page.client.subscribe(f"{identity.reply_prefix}/#")
            await page.client.publish(f"{identity.topic_prefix}/guest/100/action", b"start", qos=1)
            await page.client.publish(f"{identity.topic_prefix}/bridge/request/tool/probe.echo", b"{}", qos=1)
            await asyncio.sleep(1.0)
        assert probe.calls == {"echo": 1}


async def test_revoking_drops_the_connection_and_the_login(mqtt_broker: MosquittoProcess) -> None:
    async with bridged(mqtt_broker) as (hub, _bridge):
        assert hub.broker_sessions is not None
        identity = await hub.broker_sessions.mint("admin1")
        async with Browser(mqtt_broker, identity) as page:
            await hub.broker_sessions.revoke(identity.username or "")
            await asyncio.wait_for(page.closed.wait(), 5)
        with pytest.raises(aiomqtt.MqttError):
            async with Browser(mqtt_broker, identity):
                pass
        # All of a user's identities at once (a password change, a user removed).
        first = await hub.broker_sessions.mint("viewer1")
        second = await hub.broker_sessions.mint("viewer1")
        assert first.username != second.username
        assert await hub.broker_sessions.revoke_user("viewer1") == 2


async def test_expired_and_leftover_identities_are_deleted(mqtt_broker: MosquittoProcess) -> None:
    async with bridged(mqtt_broker) as (hub, bridge):
        assert hub.broker_sessions is not None
        short = await hub.broker_sessions.mint("viewer1", ttl_s=0.1)
        kept = await hub.broker_sessions.mint("viewer1")
        await asyncio.sleep(0.2)
        await bridge.sessions.expire()
        with pytest.raises(aiomqtt.MqttError):
            async with Browser(mqtt_broker, short):
                pass
    # A new run of the hub deletes what the last one minted and never revoked.
    async with bridged(mqtt_broker) as (_hub, _bridge):
        await asyncio.sleep(1.0)
        with pytest.raises(aiomqtt.MqttError):
            async with Browser(mqtt_broker, kept):
                pass


async def test_no_identity_for_a_user_without_a_role(mqtt_broker: MosquittoProcess) -> None:
    async with bridged(mqtt_broker) as (hub, _bridge):
        assert hub.broker_sessions is not None
        with pytest.raises(BrokerSessionError):
            await hub.broker_sessions.mint("nobody")


async def test_on_the_demo_broker_a_page_connects_anonymously(mqtt_demo_broker: MosquittoProcess) -> None:
    async with bridged(mqtt_demo_broker) as (hub, _bridge):
        assert hub.broker_sessions is not None
        identity = await hub.broker_sessions.mint("anyone")
        assert identity.username is None and identity.password is None and identity.role == "admin"
        assert identity.topic_prefix == BASE
        async with Browser(mqtt_demo_broker, identity) as page:
            await page.client.subscribe(f"{BASE}/bridge/state")
            await asyncio.sleep(0.5)
        assert payload_of(page.seen[0]) == {"state": "online"}


def test_the_session_api_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    for name in ("broker_sessions.mint", "revoke_user", "verify_password", "BrokerIdentity"):
        assert name in doc, name
