"""Hole 2: nobody can take the hub's connection over by reusing its client id.

Before: any user could connect with client id ``jarvis-hub`` and mosquitto dropped the hub
(bridge/state flapped). The broker now binds client ids to usernames
(``use_username_as_clientid`` on every listener), so only the hub's own credentials can take
its session; if that happens (a second hub, a tool borrowing the hub's password) the hub says
so on bridge/log and in its health, and reconnects without a fight at full speed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
import yaml
from jarvis.core.hub import Hub
from jarvis.mqtt import client as link_module
from jarvis.mqtt.bridge import MqttBridge
from jarvis.mqtt.broker import MosquittoProcess

from tests.fixtures.bridge import BASE, AsyncPeer, payload_of, wait_until

Bridged = tuple[Hub, MqttBridge, MosquittoProcess]


async def test_another_user_cannot_kick_the_hub_off_with_its_client_id(bridged_hub: Bridged) -> None:
    hub, bridge, broker = bridged_hub
    user, password = broker.users["dashboard"]
    async with AsyncPeer(broker, "watcher") as watcher:
        await watcher.subscribe(f"{BASE}/bridge/state")
        await watcher.expect(f"{BASE}/bridge/state")
        since = watcher.mark()
        for identifier in (hub.config.mqtt.client_id, "hub", "jarvis-hub") * 2:
            intruder = aiomqtt.Client(broker.host, broker.port, username=user, password=password,
                                      identifier=identifier, timeout=5)
            async with intruder:
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
    flaps = [payload_of(m) for m in watcher.on(f"{BASE}/bridge/state", since)]
    assert flaps == [], f"bridge/state flapped: {flaps}"
    assert bridge.link.connected.is_set() and bridge.link.counters["connects"] == 1


async def test_a_takeover_with_the_hubs_own_credentials_is_reported_and_survived(
    bridged_hub: Bridged, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hub, bridge, broker = bridged_hub
    monkeypatch.setattr(link_module, "TAKEOVER_PAUSE_S", 1.0)
    user, password = broker.users["hub"]
    async with AsyncPeer(broker, "watcher") as watcher:
        await watcher.subscribe(f"{BASE}/bridge/log")
        # A second "hub" with the same credentials that reconnects whenever it is dropped, as a
        # misconfigured second instance would: mosquitto 2.0 closes the older connection each time.
        thief = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="x")
        thief.username_pw_set(user, password)
        thief.reconnect_delay_set(0.2, 0.5)
        thief.connect(broker.host, broker.port)
        thief.loop_start()
        try:
            await wait_until(lambda: bridge.link.counters["takeovers"] >= 1, 20, "the takeover noticed")
        finally:
            thief.disconnect()
            thief.loop_stop()
        await wait_until(lambda: bridge.link.ready.is_set(), 15, "the hub back online")
        line = await watcher.wait_for(lambda m: "another client connected as the hub" in
                                      payload_of(m).get("message", ""), 10, what="the takeover on bridge/log")
    assert payload_of(line)["level"] == "error"
    assert bridge.link.info()["takeovers"] >= 1


def test_the_cli_never_connects_to_the_broker_as_the_hub(mqtt_broker: MosquittoProcess, tmp_path: Path) -> None:
    """`jarvis call` runs a tool in its own process: it must not borrow the hub's broker identity."""
    user, password = mqtt_broker.users["hub"]
    config = {"mqtt": {"host": mqtt_broker.host, "port": mqtt_broker.port, "username": user, "password": password},
              "web": {"enabled": False}, "plugins": {"network": {"hosts": {"me": {"address": "127.0.0.1"}}}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    before = mqtt_broker.log_text().count(f"u'{user}'")
    result = subprocess.run([str(Path(sys.executable).with_name("jarvis")), "call", "-c", str(tmp_path / "config.yaml"),
                             "network.ping", "host=me", "count=1"],
                            capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, "JARVIS_LOAD_PLUGINS": "network"})
    assert result.returncode == 0, result.stderr
    assert mqtt_broker.log_text().count(f"u'{user}'") == before, "jarvis call connected with the hub's account"
