"""Private library internals used for speed sit behind named seams with a public fallback that
behaves the same (the fallback is forced here, as on a library version the seam was not written for)."""

from __future__ import annotations

from typing import Any

import pytest
from jarvis.mqtt import seams
from jarvis.mqtt.broker import MosquittoProcess
from jarvis.plugins.proxmox import transport
from jarvis.plugins.proxmox.client import PveClient
from jarvis.plugins.proxmox.models import parse_cluster_resources
from jarvis.plugins.proxmox.resources import decode_resources

from tests.fixtures.bridge import AsyncPeer
from tests.fixtures.hub import running_hub
from tests.fixtures.proxmox import proxmox_config
from tests.test_mqtt_bulk_publish import BULK, batch, received, running_link, subscribe_as_published


@pytest.mark.parametrize("fast", [True, False], ids=["private-queue", "public-publish"])
async def test_bulk_publishing_delivers_the_same_either_way(
    mqtt_broker: MosquittoProcess, peer: AsyncPeer, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    queued: list[int] = []
    original = seams.queue_packets

    def counting(client: Any, stream: bytes) -> bool:
        done = original(client, stream)
        queued.append(done)
        return done

    monkeypatch.setattr(seams, "FAST_PATH", fast)
    monkeypatch.setattr(seams, "queue_packets", counting)
    messages = batch(300, 2048)
    async with running_link(mqtt_broker, "5") as (link, _task):
        await subscribe_as_published(peer, f"{BULK}/#")
        since = peer.mark()
        await link.publish_retained(messages)
        await peer.expect(messages[-1][0], within=10, since=since)
    assert received(peer, since) == [(topic, payload, True) for topic, payload in messages]
    assert any(queued) is fast, "the private queue is used exactly when the fast path is on"


def test_the_mqtt_seam_refuses_versions_it_was_not_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    assert seams._versions_match(), "the installed aiomqtt/paho are the ones the seam was written for"
    monkeypatch.setattr(seams, "WRITTEN_FOR", {"aiomqtt": "9.", "paho-mqtt": "2."})
    assert not seams._versions_match()


@pytest.mark.parametrize("fast", [True, False], ids=["private-store", "public-api"])
def test_proxmox_requests_answer_the_same_either_way(pve_sim: Any, monkeypatch: pytest.MonkeyPatch,
                                                     fast: bool) -> None:
    monkeypatch.setattr(transport, "FAST_PATH", fast)
    client = PveClient([pve_sim.url], pve_sim.token_id, pve_sim.token_secret, ca_file=pve_sim.ca_file)
    typed = client.get_decoded("cluster/resources", decode_resources)
    plain = client.get("cluster/resources")
    assert parse_cluster_resources(typed).guests.rows == parse_cluster_resources(plain).guests.rows
    with pytest.raises(Exception, match="does not exist|not found|500|hostname lookup"):
        client.get("nodes/nope/status")
    client.close()


async def test_pinning_without_the_private_session_says_what_it_needs(
    pve_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "FAST_PATH", False)
    async with running_hub(proxmox_config(pve_sim), plugins=["proxmox"]) as hub:
        entry = next(p for p in hub.info()["plugins"] if p["name"] == "proxmox")
        assert entry["status"] == "failed" and "certificate pinning needs proxmoxer 2.x" in entry["reason"]


def test_the_proxmox_seam_refuses_versions_it_was_not_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    assert transport._store_usable()
    monkeypatch.setattr(transport, "WRITTEN_FOR", "9.")
    assert not transport._store_usable()
