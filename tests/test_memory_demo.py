"""Done when: every tool call and event of a `jarvis demo` run is in memory and survives kill -9,
and `memory.recent_events` / `memory.search` answer over MQTT (mosquitto_rr)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
import pytest
from jarvis.mqtt.broker import find_free_port
from jarvis.plugins.memory import MemoryDB

from tests.test_demo import JARVIS, TopicWatcher, _rr

COMMIT_S = 1.0  # the demo's commit interval (the default)


class EventLog:
    """Every message on jarvis/event, with when it arrived."""

    def __init__(self, port: int) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe("jarvis/event", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.events.append((time.monotonic(), json.loads(msg.payload)))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def demo_with_memory(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`jarvis demo` with its memory in tmp_path; the test kills it, this fixture reaps what it left."""
    ports = {"mqtt": find_free_port(), "ws": find_free_port(), "http": find_free_port()}
    memory = tmp_path / "memory"
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        [JARVIS, "demo", "--mqtt-port", str(ports["mqtt"]), "--ws-port", str(ports["ws"]),
         "--http-port", str(ports["http"]), "--seed", "7", "--memory-dir", str(memory)],
        stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    children: list[psutil.Process] = []
    watcher = TopicWatcher(ports["mqtt"])
    try:
        watcher.connect(within_s=20)
        watcher.wait_for(lambda s: s.get("jarvis/cluster/state"), within_s=20)
        children = psutil.Process(proc.pid).children(recursive=True)  # the broker and the simulator
        yield {"proc": proc, "ports": ports, "memory": memory, "watcher": watcher, "log": tmp_path / "demo.log"}
    except BaseException:
        print((tmp_path / "demo.log").read_text())
        raise
    finally:
        watcher.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for child in children:  # orphaned by the kill -9: ours to stop
            if child.is_running():
                child.terminate()
        psutil.wait_procs(children, timeout=10)
        log.close()


def test_a_demo_run_is_in_memory_after_kill_9_and_memory_answers_over_mqtt(demo_with_memory: dict[str, Any]) -> None:
    port = demo_with_memory["ports"]["mqtt"]
    watcher: TopicWatcher = demo_with_memory["watcher"]
    deadline = time.monotonic() + 15
    while "Jarvis demo is running" not in (banner := demo_with_memory["log"].read_text()):
        assert time.monotonic() < deadline, banner
        time.sleep(0.1)
    assert f"memory        {demo_with_memory['memory']}" in banner
    events = EventLog(port)
    try:
        status = _rr(port, "jarvis/bridge/request/tool/proxmox.cluster_status", "{}")
        assert status["status"] == "ok"
        stopped = watcher.wait_for(lambda s: next(
            (v for t, v in s.items() if t.startswith("jarvis/guest/") and v and v.get("status") == "stopped"
             and not v.get("template")), None), within_s=10)
        subprocess.run(["mosquitto_pub", "-p", str(port), "-t", f"jarvis/guest/{stopped['vmid']}/action",
                        "-m", "start"], check=True, timeout=10)
        subprocess.run(["mosquitto_pub", "-p", str(port), "-t", "jarvis/node/pve2/action", "-m", "reboot"],
                       check=True, timeout=10)
        topic = f"jarvis/guest/{stopped['vmid']}/state"
        watcher.wait_for(lambda s: (s.get(topic) or {}).get("status") == "running", within_s=20)
        remembered = _rr(port, "jarvis/bridge/request/tool/memory.remember",
                         json.dumps({"args": {"text": "pve3 has a flaky NIC", "tier": "permanent"}}))
        assert remembered["status"] == "ok"
        time.sleep(0.5)

        recent = _rr(port, "jarvis/bridge/request/tool/memory.recent_events", json.dumps({"args": {"limit": 50}}))
        assert recent["status"] == "ok"
        summaries = [e["summary"] for e in recent["data"]["events"]]
        assert "proxmox.cluster_status by mqtt:anonymous: ok" in summaries  # the demo's anonymous local admin
        found = _rr(port, "jarvis/bridge/request/tool/memory.search",
                    json.dumps({"args": {"text": "flaky NIC", "tables": ["memories"]}}))
        assert [r["text"] for r in found["data"]["results"]] == ["pve3 has a flaky NIC"]
        audit = _rr(port, "jarvis/bridge/request/tool/memory.actions",
                    json.dumps({"args": {"target": f"guest:{stopped['vmid']}"}}))
        assert audit["data"]["actions"][0]["tool"] == "proxmox.guest_start"

        time.sleep(COMMIT_S + 1.5)  # every event so far is past a commit
        with events.lock:
            seen = list(events.events)
        demo_with_memory["proc"].send_signal(signal.SIGKILL)
        demo_with_memory["proc"].wait(10)
    finally:
        events.close()

    assert len(seen) >= 8
    with MemoryDB(demo_with_memory["memory"], readonly=True) as db:
        stored = {e["event_id"] for e in db.events.recent(limit=None)}
        calls = {a["call_id"] for a in db.actions.recent(limit=None)}
        memories = [m["text"] for m in db.memories.active()]
    missing = [e["summary"] for _, e in seen if e["id"] not in stored]
    assert not missing, f"events on MQTT but not in memory after kill -9: {missing}"
    for _, event in seen:
        if event["type"] == "action" and event["details"].get("call_id"):
            assert event["details"]["call_id"] in calls, event["summary"]
    tools = {e["details"].get("tool") for _, e in seen if e["type"] == "action"}
    assert {"proxmox.cluster_status", "proxmox.guest_start", "proxmox.node_reboot", "memory.remember",
            "memory.recent_events", "memory.search", "memory.actions"} <= tools
    assert memories == ["pve3 has a flaky NIC"]
