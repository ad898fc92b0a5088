"""Segments: files per table and period, flushes that touch only the newest, retention by whole files."""

from __future__ import annotations

from pathlib import Path

from jarvis.plugins.memory import MemoryDB, Retention

from tests.fixtures.memory import FakeClock, file_states, open_store, read_with_plain_tinydb

HOUR, DAY = 3600, 86400


def fill_hours(db: MemoryDB, clock: FakeClock, hours: int, per_hour: int) -> None:
    """Add ``per_hour`` events in each of ``hours`` hours, flushing once per hour."""
    for _ in range(hours):
        for i in range(per_hour):
            db.events.add(type="status", summary=f"tick {i}", node=f"pve{i % 3}")
        db.flush()
        clock.advance(HOUR)


def segment_files(root: Path, table: str = "events") -> list[str]:
    return sorted(p.name for p in (root / table).iterdir() if not p.name.endswith(".meta.json"))


def test_records_land_in_one_file_per_table_and_period(tmp_path: Path) -> None:
    clock = FakeClock("2026-12-01T20:15:00Z")
    with open_store(tmp_path, clock) as db:
        db.events.add(type="status", summary="at 20:15")
        db.actions.add(tool="guest.start", status="ok")
        clock.advance(HOUR)
        db.events.add(type="status", summary="at 21:15")

    assert segment_files(tmp_path) == ["2026-12-01T20.0.json", "2026-12-01T21.0.json"]
    assert segment_files(tmp_path, "actions") == ["2026-12-01.0.json"]
    assert read_with_plain_tinydb(tmp_path / "events" / "2026-12-01T21.0.json")["events"][0]["summary"] == "at 21:15"


def test_a_full_segment_continues_in_the_next_file_of_the_same_period(tmp_path: Path) -> None:
    with open_store(tmp_path, FakeClock(), segment_records=10) as db:
        for i in range(25):
            db.events.add(type="status", summary=f"n{i}")

    assert segment_files(tmp_path) == ["2026-12-01T00.0.json", "2026-12-01T00.1.json", "2026-12-01T00.2.json"]
    sizes = [len(read_with_plain_tinydb(tmp_path / "events" / name)["events"]) for name in segment_files(tmp_path)]
    assert sizes == [10, 10, 5]


def test_sealed_segments_get_a_summary_sidecar_and_the_newest_does_not(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        fill_hours(db, clock, hours=3, per_hour=5)

    metas = sorted(p.name for p in (tmp_path / "events").glob("*.meta.json"))
    assert metas == ["2026-12-01T00.0.meta.json", "2026-12-01T01.0.meta.json"]
    meta = read_with_plain_tinydb(tmp_path / "events" / metas[0])["meta"][0]
    assert (meta["count"], sorted(meta["keys"]["node"])) == (5, ["pve0", "pve1", "pve2"])


def test_a_flush_with_a_long_history_rewrites_only_the_newest_segment(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        fill_hours(db, clock, hours=48, per_hour=100)
        for i in range(50):  # the current hour already holds 50 events
            db.events.add(type="status", summary=f"now {i}")
        db.flush()
        before = file_states(tmp_path)

        for i in range(10):
            db.events.add(type="status", summary=f"new {i}")
        stats = db.flush()
        after = file_states(tmp_path)

    changed = sorted(name for name in after if after[name] != before.get(name))
    assert changed == ["events/2026-12-03T00.0.json"]
    assert (stats.files, stats.bytes) == (1, after["events/2026-12-03T00.0.json"][2])


def test_flush_cost_depends_on_the_newest_segment_not_on_history(tmp_path: Path) -> None:
    def flush_bytes(root: Path, history_hours: int) -> int:
        clock = FakeClock()
        with open_store(root, clock) as db:
            fill_hours(db, clock, hours=history_hours, per_hour=100)
            for i in range(60):
                db.events.add(type="status", summary=f"now {i}", node="pve1")
            db.flush()
            for i in range(10):
                db.events.add(type="status", summary=f"new {i}", node="pve1")
            return db.flush().bytes

    assert flush_bytes(tmp_path / "long", history_hours=72) == flush_bytes(tmp_path / "short", history_hours=0)


def test_a_store_opens_without_reading_its_history(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        fill_hours(db, clock, hours=30, per_hour=20)
        db.events.add(type="status", summary="newest")

    with open_store(tmp_path, clock) as db:
        stats = db.stats()["events"]
        assert (stats["records"], stats["segments"], stats["cached_segments"]) == (601, 31, 1)
        assert db.events.recent(limit=1)[0]["summary"] == "newest"


def test_reading_history_keeps_only_a_bounded_number_of_segments_in_memory(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock, cache_segments=3) as db:
        fill_hours(db, clock, hours=20, per_hour=20)

        assert len(db.events.recent(limit=None)) == 400
        assert db.stats()["events"]["cached_segments"] <= 3 + 1  # the cache and the newest segment


def test_a_sidecar_left_stale_by_a_crash_is_rebuilt_from_its_segment(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock) as db:
        alert = db.events.add(type="alert", summary="disk full on pve2", node="pve2")
        fill_hours(db, clock, hours=3, per_hour=5)
    sidecar = tmp_path / "events" / "2026-12-01T00.0.meta.json"
    stale = sidecar.read_bytes()  # it lists the alert as open

    with open_store(tmp_path, clock) as db:
        db.events.resolve(alert, by="user")  # rewrites the segment, then its sidecar
    sidecar.write_bytes(stale)  # as if killed after the segment's rename, before the sidecar's

    with open_store(tmp_path, clock) as db:
        assert db.events.unresolved() == []
        assert db.events.get(alert)["resolved"] is True  # type: ignore[index]


def test_retention_by_age_deletes_whole_segment_files(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock, retention={"events": Retention(max_age_days=2)}) as db:
        fill_hours(db, clock, hours=24 * 5, per_hour=10)  # five days, hour by hour
        stats = db.flush()
        kept = db.events.recent(limit=None)

    files = segment_files(tmp_path)
    assert files[0] == "2026-12-04T00.0.json"  # its newest record is less than 2 days old
    assert len(files) == 48 and len(kept) == 480
    assert stats.deleted == 1  # at 12-06T00:00, the segment of 12-03T23 (its newest record at 23:00)
    assert sorted(p.name for p in (tmp_path / "events").glob("*.meta.json"))[0] == "2026-12-04T00.0.meta.json"


def test_retention_by_count_keeps_the_newest_records_in_whole_segments(tmp_path: Path) -> None:
    clock = FakeClock()
    retention = {"events": Retention(max_records=500)}
    with open_store(tmp_path, clock, retention=retention, segment_records=100) as db:
        for i in range(1234):
            db.events.add(type="status", summary=f"n{i}")
        db.flush()
        summaries = [event["summary"] for event in db.events.recent(limit=None)]

    # 13 segments of <= 100; the oldest go while the newer ones alone hold 500
    assert len(summaries) == 534
    assert summaries[-1] == "n700" and summaries[0] == "n1233"
    assert len(segment_files(tmp_path)) == 6


def test_retention_never_drops_the_newest_segment(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock, retention={"events": Retention(max_age_days=1)}) as db:
        db.events.add(type="status", summary="long ago")
        db.flush()
        clock.advance(30 * DAY)
        db.flush()
        assert [e["summary"] for e in db.events.recent()] == ["long ago"]


def test_tables_have_their_own_retention(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_store(tmp_path, clock, retention={"events": Retention(max_age_days=1)}) as db:
        db.events.add(type="status", summary="old event")
        db.actions.add(tool="guest.start", status="ok")
        db.flush()
        clock.advance(3 * DAY)
        db.events.add(type="status", summary="new event")
        db.actions.add(tool="guest.stop", status="ok")
        db.flush()

        assert [e["summary"] for e in db.events.recent()] == ["new event"]
        assert [a["tool"] for a in db.actions.recent()] == ["guest.stop", "guest.start"]
