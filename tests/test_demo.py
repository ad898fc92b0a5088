"""`jarvis demo`: one command brings up a broker, a simulated cluster, the hub and the dashboard.

These tests run the real console script as a user would and watch it only through MQTT
(paho and the mosquitto CLI tools) and HTTP.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from jarvis.mqtt.broker import find_free_port

JARVIS = str(Path(sys.executable).with_name("jarvis"))


class TopicWatcher:
    """Keeps the latest payload of every topic under ``jarvis/#`` and when it arrived."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latest: dict[str, Any] = {}
        self.arrived: dict[str, float] = {}
        self._changed = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe("jarvis/#", qos=1)
        self.client.on_message = self._on_message

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            value = json.loads(msg.payload) if msg.payload else None
        except ValueError:
            value = msg.payload.decode(errors="replace")
        with self._changed:
            self.latest[msg.topic] = value
            self.arrived.setdefault(msg.topic, time.monotonic())
            self._changed.notify_all()

    def connect(self, within_s: float) -> None:
        """Connect as soon as the broker listens."""
        deadline = time.monotonic() + within_s
        while True:
            try:
                self.client.connect("127.0.0.1", self.port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.client.loop_start()

    def wait_for(self, check: Callable[[dict[str, Any]], Any], within_s: float) -> Any:
        """Wait until ``check(latest)`` is truthy; return its value."""
        deadline = time.monotonic() + within_s
        with self._changed:
            while not (result := check(dict(self.latest))):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"condition not met within {within_s}s; topics: {sorted(self.latest)[:40]}")
                self._changed.wait(left)
        return result

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Start `jarvis demo` on free ports and stop it with SIGTERM afterwards."""
    ports = {"mqtt": find_free_port(), "ws": find_free_port(), "http": find_free_port()}
    log = tmp_path / "demo.log"
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [JARVIS, "demo", "--mqtt-port", str(ports["mqtt"]), "--ws-port", str(ports["ws"]),
             "--http-port", str(ports["http"]), "--seed", "7"],
            stdout=out, stderr=subprocess.STDOUT, text=True,
        )
    watcher = TopicWatcher(ports["mqtt"])
    try:
        watcher.connect(within_s=10)
        yield {"proc": proc, "ports": ports, "watcher": watcher, "started": started, "log": log}
    except BaseException:
        print(log.read_text())
        raise
    finally:
        watcher.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _guest_states(latest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t: v for t, v in latest.items() if t.startswith("jarvis/guest/") and t.endswith("/state") and v}


def _rr(port: int, topic: str, message: str, wait_s: int = 15) -> dict[str, Any]:
    out = subprocess.run(
        ["mosquitto_rr", "-p", str(port), "-t", topic, "-e", "jarvis/reply/test/1", "-m", message, "-W", str(wait_s)],
        capture_output=True, text=True, timeout=wait_s + 5, check=True,
    )
    return json.loads(out.stdout)


def test_demo_is_online_with_a_believable_cluster_within_two_seconds(demo: dict[str, Any]) -> None:
    watcher: TopicWatcher = demo["watcher"]
    watcher.wait_for(lambda s: (s.get("jarvis/bridge/state") or {}).get("state") == "online", within_s=10)
    online_after = watcher.arrived["jarvis/bridge/state"] - demo["started"]
    def whole_cluster(s: dict[str, Any]) -> Any:
        cluster = s.get("jarvis/cluster/state")
        return cluster if cluster and cluster.get("nodes_total") == 4 and len(_guest_states(s)) >= 10 else None

    cluster = watcher.wait_for(whole_cluster, within_s=10)
    cluster_after = max(watcher.arrived["jarvis/cluster/state"], *(
        watcher.arrived[t] for t in _guest_states(watcher.latest))) - demo["started"]
    assert online_after < 2.0, f"bridge/state online after {online_after:.2f}s"
    assert cluster_after < 2.0, f"cluster on MQTT after {cluster_after:.2f}s"
    guests = _guest_states(watcher.latest).values()
    assert {g["type"] for g in guests} == {"qemu", "lxc"}
    assert {"running", "stopped"} <= {g["status"] for g in guests}
    assert cluster["quorate"] is True and cluster["nodes_online"] == 4
    for node in ("pve1", "pve2", "pve3", "pve4"):
        assert watcher.latest[f"jarvis/node/{node}/availability"] == {"state": "online"}


def test_demo_answers_mosquitto_rr_and_serves_the_dashboard(demo: dict[str, Any]) -> None:
    watcher: TopicWatcher = demo["watcher"]
    watcher.wait_for(lambda s: s.get("jarvis/cluster/state"), within_s=10)
    reply = _rr(demo["ports"]["mqtt"], "jarvis/bridge/request/tool/proxmox.cluster_status", '{"transaction": 5}')
    assert reply["status"] == "ok" and reply["transaction"] == 5
    unknown = _rr(demo["ports"]["mqtt"], "jarvis/bridge/request/tool/nope.nothing", "{}")
    assert unknown["status"] == "error" and unknown["error"]["code"] == "unknown_tool"
    page = urllib.request.urlopen(f"http://127.0.0.1:{demo['ports']['http']}/", timeout=10).read().decode()
    assert "pve1" in page and "J.A.R.V.I.S." in page


def test_a_start_command_turns_a_stopped_guest_running(demo: dict[str, Any]) -> None:
    watcher: TopicWatcher = demo["watcher"]
    stopped = watcher.wait_for(
        lambda s: next((g for g in _guest_states(s).values() if g["status"] == "stopped" and not g["template"]), None),
        within_s=10,
    )
    topic = f"jarvis/guest/{stopped['vmid']}/state"
    subprocess.run(["mosquitto_pub", "-p", str(demo["ports"]["mqtt"]), "-t",
                    f"jarvis/guest/{stopped['vmid']}/action", "-m", "start"], check=True, timeout=10)
    try:
        watcher.wait_for(lambda s: (s.get(topic) or {}).get("status") == "running", within_s=15)
    except AssertionError:
        print(demo["log"].read_text())
        raise


def test_a_node_reboot_waits_for_confirmation(demo: dict[str, Any]) -> None:
    watcher: TopicWatcher = demo["watcher"]
    watcher.wait_for(lambda s: s.get("jarvis/node/pve2/state"), within_s=10)
    subprocess.run(["mosquitto_pub", "-p", str(demo["ports"]["mqtt"]), "-t", "jarvis/node/pve2/action",
                    "-m", "reboot"], check=True, timeout=10)
    confirm_topic, pending = watcher.wait_for(
        lambda s: next(((t, v) for t, v in s.items() if t.startswith("jarvis/confirm/") and v), None), within_s=10,
    )
    assert pending["tool"] == "proxmox.node_reboot" and pending["args"]["node"] == "pve2"
    assert pending["requested_by"] == "mqtt:anonymous" and pending["risk"] == "dangerous"
    time.sleep(2.0)  # nothing happens while it waits
    assert watcher.latest["jarvis/node/pve2/availability"] == {"state": "online"}
    assert watcher.latest["jarvis/node/pve2/state"]["status"] == "online"
    reply = _rr(demo["ports"]["mqtt"], "jarvis/bridge/request/confirm",
                json.dumps({"args": {"id": pending["id"], "approve": True}}), wait_s=30)
    assert reply["status"] == "ok", reply
    watcher.wait_for(lambda s: s.get(confirm_topic) is None, within_s=5)


def test_sigterm_stops_everything_cleanly(demo: dict[str, Any]) -> None:
    watcher: TopicWatcher = demo["watcher"]
    watcher.wait_for(lambda s: s.get("jarvis/cluster/state"), within_s=10)
    proc: subprocess.Popen[str] = demo["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    output = demo["log"].read_text()
    assert "Traceback" not in output, output
