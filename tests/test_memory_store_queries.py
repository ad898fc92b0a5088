"""Queries: recent events by node/type/severity/time, unresolved alerts, resolve, actions of a
target, a conversation's history, snapshots, export."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from jarvis.core import Event, utcnow
from jarvis.plugins.memory import MemoryDB

from tests.fixtures.memory import FakeClock, file_states, open_store

HOUR = 3600


def summaries(records: list[dict]) -> list[str]:
    return [r["summary"] for r in records]


def test_events_come_back_newest_first_with_an_id_and_a_utc_timestamp(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        first = db.events.add(type="status", summary="first")
        second = db.events.add(type="status", summary="second")
        recent = db.events.recent()

    assert summaries(recent) == ["second", "first"]
    assert first < second and re.fullmatch(r"[0-9a-f]{16}", first)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", recent[0]["ts"])
    assert len(recent[0]["ts"]) == len(utcnow())


def test_a_hub_event_is_stored_with_its_fields_and_keeps_the_hub_id(tmp_path: Path) -> None:
    event = Event(type="alert", summary="pve2 unreachable", severity="critical", source="monitor", node="pve2")
    with open_store(tmp_path) as db:
        record_id = db.events.add(event)
        stored = db.events.get(record_id)

    assert stored is not None
    assert stored["event_id"] == event.id and stored["ts"] == event.ts
    assert (stored["type"], stored["severity"], stored["node"], stored["resolved"]) == (
        "alert",
        "critical",
        "pve2",
        False,
    )


def test_recent_filters_by_node_type_severity_and_vmid(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        db.events.add(type="status", summary="pve1 ok", node="pve1")
        db.events.add(type="alert", summary="pve2 hot", node="pve2", severity="warning")
        db.events.add(type="alert", summary="vm 105 down", node="pve1", severity="critical", vmid=105)
        db.events.add(type="task", summary="backup done", node="pve2")

        assert summaries(db.events.recent(node="pve1")) == ["vm 105 down", "pve1 ok"]
        assert summaries(db.events.recent(type="alert")) == ["vm 105 down", "pve2 hot"]
        assert summaries(db.events.recent(severity=["warning", "critical"], node="pve2")) == ["pve2 hot"]
        assert summaries(db.events.recent(vmid=105)) == ["vm 105 down"]
        assert summaries(db.events.recent(node="pve9")) == []
        assert summaries(db.events.recent(limit=2)) == ["backup done", "vm 105 down"]


def test_recent_filters_by_time_within_and_across_segments(tmp_path: Path) -> None:
    clock = FakeClock("2026-12-01T10:00:00Z")
    with open_store(tmp_path, clock) as db:
        for _ in range(6):  # every 30 minutes: two events in each hourly segment
            db.events.add(type="status", summary=f"at {clock.now % 86400 / 3600:g}h")
            db.flush()
            clock.advance(1800)

        assert summaries(db.events.recent(since="2026-12-01T11:30:00Z")) == ["at 12.5h", "at 12h", "at 11.5h"]
        assert summaries(db.events.recent(until="2026-12-01T10:30:00Z")) == ["at 10.5h", "at 10h"]
        window = db.events.recent(since=datetime(2026, 12, 1, 10, 15, tzinfo=UTC), until="2026-12-01T11:15:00Z")
        assert summaries(window) == ["at 11h", "at 10.5h"]
        assert summaries(db.events.recent(since=timedelta(hours=1))) == ["at 12.5h", "at 12h"]  # now is 13:00


def test_an_alert_stays_unresolved_until_resolved_by_its_id_or_hub_id(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        disk = db.events.add(type="alert", summary="disk full", node="pve1")
        db.events.add({"id": "hub-ev-1", "type": "alert", "summary": "pve2 down", "node": "pve2"})
        db.events.add(type="status", summary="pve3 ok")

        assert summaries(db.events.unresolved()) == ["pve2 down", "disk full"]
        resolved = db.events.resolve(disk, by="jarvis")
        assert resolved is not None and (resolved["resolved"], resolved["resolved_by"]) == (True, "jarvis")
        assert resolved["resolved_at"] is not None
        db.events.resolve("hub-ev-1", by="user")
        assert db.events.unresolved() == []
        assert db.events.resolve("0000000000000000") is None
        assert db.events.resolve("no-such-hub-id") is None


def test_resolving_again_keeps_the_first_resolution(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        alert = db.events.add(type="alert", summary="disk full")
        db.events.resolve(alert, by="jarvis")
        clock.advance(60)
        again = db.events.resolve(alert, by="user")

    assert again is not None and again["resolved_by"] == "jarvis"


def test_resolving_an_old_event_rewrites_only_its_segment_and_survives_reopening(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        alert = db.events.add(type="alert", summary="pve2 down", node="pve2")
        for _ in range(5):
            clock.advance(HOUR)
            db.events.add(type="status", summary="tick")
            db.flush()
        before = file_states(tmp_path)

        db.events.resolve(alert, by="user")
        db.flush()
        after = file_states(tmp_path)

    changed = sorted(name for name in after if after[name] != before[name])
    assert changed == ["events/2026-12-01T00.0.json", "events/2026-12-01T00.0.meta.json"]
    with open_store(tmp_path, clock) as db:
        assert db.events.unresolved() == []
        assert db.events.recent(type="alert")[0]["resolved_by"] == "user"


def test_unresolved_alerts_survive_reopening(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        db.events.add(type="alert", summary="old alert")
        clock.advance(3 * HOUR)
        db.events.add(type="alert", summary="new alert")

    with open_store(tmp_path, clock) as db:
        assert summaries(db.events.unresolved()) == ["new alert", "old alert"]
        assert summaries(db.events.unresolved(limit=1)) == ["new alert"]


def test_actions_of_a_target_newest_first(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        db.actions.add(tool="guest.start", status="ok", target_kind="guest", target_id=105, duration_ms=812.5,
                       requested_by="llm:claude", approved_by="user", args={"vmid": 105}, call_id="c1")  # fmt: skip
        db.actions.add(tool="guest.start", status="ok", target_kind="guest", target_id=200)
        db.actions.add(tool="guest.stop", status="error", target_kind="guest", target_id="105", error="locked")

        on_105 = db.actions.of_target("guest", 105)
        assert [(a["tool"], a["status"]) for a in on_105] == [("guest.stop", "error"), ("guest.start", "ok")]
        assert (on_105[1]["requested_by"], on_105[1]["approved_by"], on_105[1]["duration_ms"]) == (
            "llm:claude",
            "user",
            812.5,
        )
        assert db.actions.of_target("node", "pve1") == []
        assert [a["target_id"] for a in db.actions.recent(status="ok")] == [200, 105]


def test_a_conversation_history_is_oldest_first_and_limited_to_the_last_messages(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        db.conversations.add("s1", "user", "is vm 105 up?")
        db.conversations.add("s2", "user", "other session")
        db.conversations.add("s1", "assistant", "yes, for 3 days", backend="claude", model="sonnet",
                             tokens_in=812, tokens_out=40, cost=0.0031,
                             tool_calls=[{"tool": "guest.status", "args": {"vmid": 105}}])  # fmt: skip
        db.conversations.add("s1", "user", "thanks")

        history = db.conversations.history("s1")
        assert [m["content"] for m in history] == ["is vm 105 up?", "yes, for 3 days", "thanks"]
        assert [m["content"] for m in db.conversations.history("s1", limit=2)] == ["yes, for 3 days", "thanks"]
        assert (history[1]["model"], history[1]["tokens_in"], history[1]["tool_calls"][0]["tool"]) == (
            "sonnet",
            812,
            "guest.status",
        )
        assert db.conversations.history("nobody") == []


def test_snapshots_latest_and_between(tmp_path: Path) -> None:
    clock = FakeClock("2026-12-01T10:00:00Z")
    with open_store(tmp_path, clock) as db:
        for i in range(6):  # every 30 minutes
            db.snapshots.add({"nodes_online": i})
            clock.advance(1800)

        assert [s["snapshot"]["nodes_online"] for s in db.snapshots.latest(2)] == [5, 4]
        between = db.snapshots.between("2026-12-01T10:30:00Z", "2026-12-01T11:30:00Z")
        assert [s["snapshot"]["nodes_online"] for s in between] == [1, 2, 3]


def test_export_writes_a_time_range_as_json_lines(tmp_path: Path) -> None:
    clock = FakeClock("2026-12-01T10:00:00Z")
    with open_store(tmp_path, clock) as db:
        db.events.add(type="status", summary="before")
        clock.advance(HOUR)
        db.events.add(type="alert", summary="inside")
        db.actions.add(tool="guest.start", status="ok")
        clock.advance(HOUR)
        db.events.add(type="status", summary="after")

        lines = list(db.export(since="2026-12-01T10:30:00Z", until="2026-12-01T11:30:00Z"))

    rows = [orjson.loads(line) for line in lines]
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert [(r["table"], r.get("summary", r.get("tool"))) for r in rows] == [
        ("events", "inside"),
        ("actions", "guest.start"),
    ]


def test_records_returned_are_copies(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        alert = db.events.add(type="alert", summary="disk full")
        db.events.recent()[0]["resolved"] = True

        assert db.events.get(alert)["resolved"] is False  # type: ignore[index]


def test_the_flush_thread_commits_without_being_asked(tmp_path: Path) -> None:
    db = MemoryDB(tmp_path, commit_interval_s=0.05)
    try:
        db.events.add(type="status", summary="soon on disk")
        deadline = time.monotonic() + 10
        while not list((tmp_path / "events").glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.01)
        files = list((tmp_path / "events").glob("*.json"))
        assert len(files) == 1 and b"soon on disk" in files[0].read_bytes()
    finally:
        db.close()
