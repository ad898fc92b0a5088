"""Text search across tables: every term, any case, any value; newest first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.memory import FakeClock, open_store

HOUR = 3600


def found(results: list[dict]) -> list[tuple[str, str]]:
    text_fields = ("summary", "content", "tool", "text", "value")
    return [(r["table"], next(r[k] for k in text_fields if k in r)) for r in results]


def test_search_matches_every_term_in_any_case_in_any_field(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        db.events.add(type="alert", summary="VM 105 stopped", node="pve2", details={"reason": "OOM killer"})
        db.events.add(type="alert", summary="vm 200 stopped", node="pve2")
        db.events.add(type="status", summary="pve2 back", details={"guests": [{"name": "K3S-master"}]})

        assert found(db.search("vm stopped")) == [("events", "vm 200 stopped"), ("events", "VM 105 stopped")]
        assert found(db.search("105 oom")) == [("events", "VM 105 stopped")]  # summary + nested details
        assert found(db.search("k3s-MASTER")) == [("events", "pve2 back")]  # inside a list of dicts
        assert found(db.search("vm 105 running")) == []
        assert db.search("   ") == []


def test_search_spans_tables_newest_first_and_can_be_narrowed(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        db.preferences.set("k3s_master", "vm 105")
        clock.advance(60)
        db.events.add(type="alert", summary="vm 105 down")
        clock.advance(60)
        db.actions.add(tool="guest.start", status="ok", target_kind="guest", target_id=105, args={"guest": "vm 105"})
        clock.advance(60)
        db.conversations.add("s1", "user", "why did vm 105 stop?")
        clock.advance(60)
        db.memories.remember("vm 105 runs the k3s control plane", tier="permanent")

        assert found(db.search("vm 105")) == [
            ("memories", "vm 105 runs the k3s control plane"),
            ("conversations", "why did vm 105 stop?"),
            ("actions", "guest.start"),
            ("events", "vm 105 down"),
            ("preferences", "vm 105"),
        ]
        assert found(db.search("vm 105", tables=["events", "actions"])) == [
            ("actions", "guest.start"),
            ("events", "vm 105 down"),
        ]
        assert len(db.search("vm 105", limit=2)) == 2
        assert found(db.search("vm 105", since="2026-12-01T00:03:00Z")) == [
            ("memories", "vm 105 runs the k3s control plane"),
            ("conversations", "why did vm 105 stop?"),
        ]
        with pytest.raises(ValueError, match="unknown table"):
            db.search("vm", tables=["nope"])


def test_search_reads_sealed_segments_from_disk(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        for hour in range(30):
            db.events.add(type="status", summary=f"hour {hour} heartbeat")
            if hour == 3:
                db.events.add(type="alert", summary="ZFS pool degraded on pve1")
            db.flush()
            clock.advance(HOUR)

    with open_store(tmp_path, clock, cache_segments=1) as db:
        assert found(db.search("zfs degraded")) == [("events", "ZFS pool degraded on pve1")]
        assert found(db.search("heartbeat", limit=3)) == [
            ("events", "hour 29 heartbeat"),
            ("events", "hour 28 heartbeat"),
            ("events", "hour 27 heartbeat"),
        ]
        assert db.stats()["events"]["cached_segments"] == 1  # a search does not fill the cache


def test_search_finds_non_ascii_text_and_terms_with_quotes(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        db.events.add(type="alert", summary="Überhitzung: CPU 92 °C", node="pve1")
        db.events.add(type="status", summary='ran "apt upgrade" on pve1')
        clock.advance(HOUR)
        db.events.add(type="status", summary="newest")
    with open_store(tmp_path, clock) as db:  # the first two are in a sealed segment, read from disk
        assert found(db.search("überhitzung °c")) == [("events", "Überhitzung: CPU 92 °C")]
        assert found(db.search('"apt')) == [("events", 'ran "apt upgrade" on pve1')]


def test_expired_memories_are_not_found(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        db.memories.remember("backup window is 02:00", tier="7d")
        clock.advance(8 * 86400)

        assert db.search("backup window") == []
