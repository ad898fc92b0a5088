"""The memory plugin in a real hub: every event and tool call is recorded, the tools answer, the
store is chosen by name, a secret never reaches a file, a second hub reads beside the first."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
from jarvis.core import Event, MemoryStore
from jarvis.plugins.memory import MemoryDB

from tests.fixtures.bridge import ProbePlugin
from tests.fixtures.hub import running_hub

SECRET = "hunter2-memory-plugin-secret"


def memory_config(path: Path, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"mqtt": {"password": SECRET},
                              "plugins": {"memory": {"path": str(path), "commit_interval_s": 0.2}}}
    for key, value in extra.items():
        config.setdefault(key, {}).update(copy.deepcopy(value))
    return config


async def settle() -> None:
    """Let the background on_event deliveries run."""
    for _ in range(5):
        await asyncio.sleep(0.01)


async def test_every_event_and_tool_call_lands_in_memory_with_its_audit_entry(tmp_path: Path) -> None:
    probe = ProbePlugin()
    async with running_hub(memory_config(tmp_path / "m"), plugins=["memory"], extra_plugins={"probe": probe}) as hub:
        assert hub.plugin_statuses()["memory"]["status"] == "ok"
        ok = await hub.call_tool("probe.poke", {"kind": "guest", "id": "105", "verb": "start"}, source="mqtt")
        failed = await hub.call_tool("probe.boom", {}, source="cli")
        asked = await hub.call_tool("probe.destroy", {"vmid": 105}, source="mqtt")
        hub.emit(Event(type="alert", severity="warning", node="pve2", vmid=105, summary="guest 105 stopped"))
        await settle()
        assert ok["status"] == "ok" and failed["status"] == "error"
        assert asked["status"] == "confirmation_required"

        reply = await hub.call_tool("memory.actions", {"target": "guest:105"}, source="cli")
        actions = reply["data"]["actions"]
        assert [a["tool"] for a in actions] == ["probe.destroy", "probe.poke"]
        destroy, poke = actions
        assert destroy["status"] == "confirmation_required" and destroy["risk"] == "dangerous"
        assert poke["status"] == "ok" and poke["risk"] == "write" and poke["requested_by"] == "mqtt"
        assert poke["args"] == {"kind": "guest", "id": "105", "verb": "start"}
        assert poke["result"] == {"kind": "guest", "id": "105", "verb": "start"}
        assert poke["duration_ms"] is not None and poke["call_id"]
        one = await hub.call_tool("memory.actions", {"call_id": poke["call_id"]}, source="cli")
        assert one["data"]["actions"][0]["id"] == poke["id"]
        boom = (await hub.call_tool("memory.actions", {"tool": "probe.boom"}, source="cli"))["data"]["actions"][0]
        assert boom["status"] == "error" and "internal" in boom["error"]

        events = (await hub.call_tool("memory.recent_events", {"limit": 50}, source="cli"))["data"]["events"]
        types = [e["type"] for e in events]
        assert types.count("action") >= 4 and "alert" in types and "confirmation" in types
        alerts = await hub.call_tool("memory.recent_events", {"unresolved": True}, source="cli")
        assert [e["summary"] for e in alerts["data"]["events"]] == ["guest 105 stopped"]
        severe = await hub.call_tool("memory.recent_events", {"min_severity": "warning", "node": "pve2"},
                                     source="cli")
        assert [e["type"] for e in severe["data"]["events"]] == ["alert"]


async def test_an_event_naming_resolves_closes_the_alert_it_names(tmp_path: Path) -> None:
    async with running_hub(memory_config(tmp_path / "m"), plugins=["memory"]) as hub:
        alert = Event(type="alert", severity="error", node="pve3", summary="pve3 is not answering")
        hub.emit(alert)
        await settle()
        hub.emit(Event(type="status", source="monitor", node="pve3", summary="pve3 answers again",
                       details={"resolves": alert.id}))
        await settle()
        store = hub.memory()
        assert store is not None
        assert await store.recent_events(unresolved=True) == []
        resolved = (await store.recent_events(type="alert"))[0]
        assert resolved["resolved"] is True and resolved["resolved_by"] == "monitor"


async def test_search_remember_forget_and_preferences_through_the_tools(tmp_path: Path) -> None:
    async with running_hub(memory_config(tmp_path / "m"), plugins=["memory"]) as hub:
        store = hub.memory()
        assert isinstance(store, MemoryStore)
        store.add_message("s1", "user", "why is vm 105 slow?", backend="local", model="qwen", tokens_in=12)
        remembered = await hub.call_tool("memory.remember", {"text": "pve3 has a flaky NIC", "tier": "7d",
                                                             "tags": ["pve3"]}, source="cli")
        await hub.call_tool("memory.remember", {"key": "k3s_master", "text": "vm 105"}, source="cli")
        assert await store.preferences() == {"k3s_master": "vm 105"}
        await settle()

        found = await hub.call_tool("memory.search", {"text": "flaky NIC"}, source="cli")
        # the fact itself, and the audit trail of the call that remembered it
        assert {r["table"] for r in found["data"]["results"]} == {"memories", "actions", "events"}
        found = await hub.call_tool("memory.search", {"text": "flaky NIC", "tables": ["memories"]}, source="cli")
        assert [r["text"] for r in found["data"]["results"]] == ["pve3 has a flaky NIC"]
        found = await hub.call_tool("memory.search", {"text": "VM 105", "tables": ["conversations"]}, source="cli")
        assert found["data"]["results"][0]["content"] == "why is vm 105 slow?"
        assert (await store.history("s1"))[0]["model"] == "qwen"

        memory_id = remembered["data"]["id"]
        assert (await hub.call_tool("memory.forget", {"id": memory_id}, source="cli"))["status"] == "ok"
        assert (await hub.call_tool("memory.forget", {"id": "k3s_master"}, source="cli"))["status"] == "ok"
        again = await hub.call_tool("memory.forget", {"id": memory_id}, source="cli")
        assert again["error"]["code"] == "not_found"
        assert await store.memories() == [] and await store.preferences() == {}
        bad = await hub.call_tool("memory.remember", {"text": "x", "tier": "forever"}, source="cli")
        assert bad["error"]["code"] == "invalid_args"


async def test_a_configured_secret_never_reaches_a_memory_file(tmp_path: Path) -> None:
    probe = ProbePlugin()
    path = tmp_path / "m"
    async with running_hub(memory_config(path), plugins=["memory"], extra_plugins={"probe": probe}) as hub:
        await hub.call_tool("probe.echo", {"text": f"the password is {SECRET}"}, source="mqtt")
        hub.emit(Event(type="alert", summary=f"login failed with {SECRET}", details={SECRET: SECRET}))
        store = hub.memory()
        assert store is not None
        store.add_message("s1", "user", f"my password is {SECRET}")
        store.remember(f"remember {SECRET}")
        store.set_preference("pw", SECRET)
        await settle()
        context = await hub.call_tool("memory.context", {"budget": "large", "session": "s1"}, source="cli")
        assert SECRET not in str(context)
    files = [p for p in path.rglob("*") if p.is_file()]
    assert len(files) >= 6
    assert all(SECRET.encode() not in p.read_bytes() for p in files)
    assert any(b"the password is ***" in p.read_bytes() for p in files)


async def test_hub_memory_picks_the_store_off_disables_it_and_an_unknown_name_is_reported(tmp_path: Path) -> None:
    config = memory_config(tmp_path / "a", hub={"memory": "off"})
    async with running_hub(config, plugins=["memory"]) as hub:
        assert hub.memory() is None
        reply = await hub.call_tool("memory.recent_events", {}, source="cli")
        assert reply["error"]["code"] == "unreachable"
    config = memory_config(tmp_path / "b", hub={"memory": "sqlite"})
    async with running_hub(config, plugins=["memory"]) as hub:
        assert hub.memory() is None
        problem = hub.health()["memory"]["problem"]
        assert "hub.memory" in problem and "'sqlite'" in problem
    assert not (tmp_path / "b").exists()  # the tinydb store stays closed when another is named
    async with running_hub(memory_config(tmp_path / "c", hub={"memory": "tinydb"}), plugins=["memory"]) as hub:
        assert hub.memory() is hub.contexts["memory"].memory()
        assert hub.health()["memory"]["store"] == "tinydb"
        assert hub.health()["memory"]["path"] == str(tmp_path / "c")


async def test_a_second_hub_on_the_same_directory_reads_it_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "m"
    async with running_hub(memory_config(path), plugins=["memory"]) as first:
        first.emit(Event(type="status", summary="written by the first hub"))
        await settle()
        await asyncio.to_thread(first.memory().db.flush)  # type: ignore[union-attr]
        async with running_hub(memory_config(path), plugins=["memory"]) as second:
            status = second.plugin_statuses()["memory"]
            assert status["status"] == "degraded" and "read-only" in status["reason"]
            reply = await second.call_tool("memory.search", {"text": "first hub"}, source="cli")
            assert reply["data"]["results"][0]["summary"] == "written by the first hub"
            assert second.health()["memory"]["readonly"] is True
        first.emit(Event(type="status", summary="still writing"))
        await settle()
    with MemoryDB(path, autoflush=False) as db:
        assert [e["summary"] for e in db.events.recent()][:2] == ["still writing", "written by the first hub"]


async def test_an_unusable_path_fails_the_plugin_naming_the_key(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    async with running_hub(memory_config(blocker / "memory"), plugins=["memory"]) as hub:
        status = hub.plugin_statuses()["memory"]
        assert status["status"] == "failed" and "plugins.memory.path" in status["reason"]
        assert hub.memory() is None


async def test_a_compact_snapshot_is_taken_on_schedule(tmp_path: Path) -> None:
    probe = ProbePlugin()
    config = memory_config(tmp_path / "m")
    config["plugins"]["memory"]["snapshot_interval_s"] = 10
    async with running_hub(config, plugins=["memory"], extra_plugins={"probe": probe}) as hub:
        from jarvis.plugins.memory.plugin import take_snapshot

        await hub.refresh()
        runtime = hub.contexts["memory"].runtime
        # the probe's ad-hoc entities have no kind: only described kinds are summarised
        assert await take_snapshot(runtime) is None or runtime.store.db.snapshots.latest()
        assert [t.get_name() for t in runtime.tasks] == ["memory-snapshots"]


@pytest.mark.parametrize("bad", [{"commit_interval_s": 0}, {"retention": {"logs": {"max_age_days": 1}}},
                                 {"context": {"small": {"tokens": 5}}}, {"snapshot_interval_s": 1}])
async def test_bad_memory_config_is_refused_naming_the_key(tmp_path: Path, bad: dict[str, Any]) -> None:
    from jarvis.core.config import ConfigError

    config = memory_config(tmp_path / "m")
    config["plugins"]["memory"].update(bad)
    with pytest.raises(ConfigError) as error:
        async with running_hub(config, plugins=["memory"]):
            pass
    assert f"plugins.memory.{next(iter(bad))}" in str(error.value)
