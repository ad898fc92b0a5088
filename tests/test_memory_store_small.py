"""Preferences (key/value) and memories with tiers that expire: 7 days, 30 days, permanent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.memory import FakeClock, open_store, read_with_plain_tinydb

DAY = 86400


def texts(memories: list[dict]) -> list[str]:
    return [m["text"] for m in memories]


def test_preferences_set_get_delete_and_survive_reopening(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        db.preferences.set("k3s_master", "vm 105")
        db.preferences.set("quiet_hours", {"from": "22:00", "to": "07:00"})
        db.preferences.set("k3s_master", "vm 106")
        db.preferences.set("temp", 1)
        assert db.preferences.delete("temp") is True
        assert db.preferences.delete("temp") is False

    with open_store(tmp_path) as db:
        assert db.preferences.get("k3s_master") == "vm 106"
        assert db.preferences.get("missing", "default") == "default"
        assert db.preferences.all() == {"k3s_master": "vm 106", "quiet_hours": {"from": "22:00", "to": "07:00"}}
    stored = read_with_plain_tinydb(tmp_path / "preferences.json")["preferences"]
    assert sorted(p["key"] for p in stored) == ["k3s_master", "quiet_hours"]


def test_memories_expire_with_their_tier(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        db.memories.remember("the NAS reboots on sundays", tier="7d")
        db.memories.remember("pve3 has a flaky NIC", tier="30d", tags=["pve3", "hardware"])
        db.memories.remember("vm 105 is the k3s master", tier="permanent")
        assert texts(db.memories.active()) == [
            "vm 105 is the k3s master",
            "pve3 has a flaky NIC",
            "the NAS reboots on sundays",
        ]

        clock.advance(8 * DAY)
        assert texts(db.memories.active()) == ["vm 105 is the k3s master", "pve3 has a flaky NIC"]
        assert texts(db.memories.active(tag="hardware")) == ["pve3 has a flaky NIC"]

        clock.advance(400 * DAY)
        assert texts(db.memories.active()) == ["vm 105 is the k3s master"]


def test_expired_memories_leave_the_file_at_the_next_flush(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        db.memories.remember("short-lived", tier="7d")
        db.memories.remember("kept", tier="30d")
        db.flush()
        clock.advance(8 * DAY)
        db.flush()

    assert [m["text"] for m in read_with_plain_tinydb(tmp_path / "memories.json")["memories"]] == ["kept"]


def test_a_memory_can_be_forgotten(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        wrong = db.memories.remember("vm 105 is the NAS")
        db.memories.remember("vm 200 is the NAS")
        assert db.memories.forget(wrong) is True
        assert db.memories.forget(wrong) is False

    with open_store(tmp_path) as db:
        assert texts(db.memories.active()) == ["vm 200 is the NAS"]


def test_a_memory_record_says_when_it_expires(tmp_path: Path) -> None:
    with open_store(tmp_path, FakeClock("2026-12-01T20:00:00Z")) as db:
        db.memories.remember("x", tier="30d")
        db.memories.remember("y", tier="permanent")
        by_text = {m["text"]: m for m in db.memories.active()}

    assert (by_text["x"]["ts"], by_text["x"]["expires"]) == ("2026-12-01T20:00:00Z", "2026-12-31T20:00:00Z")
    assert by_text["y"]["expires"] is None


def test_an_unknown_tier_is_refused(tmp_path: Path) -> None:
    with open_store(tmp_path) as db, pytest.raises(ValueError, match="tier"):
        db.memories.remember("x", tier="forever")
