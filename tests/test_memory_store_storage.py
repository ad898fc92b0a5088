"""AtomicJSONStorage: tinydb files written through a temp file, fsync and rename."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from jarvis.plugins.memory import AtomicJSONStorage, MemoryDB
from tinydb import Query, TinyDB

from tests.fixtures.memory import read_with_plain_tinydb


def test_a_file_it_writes_opens_with_plain_tinydb(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    storage = AtomicJSONStorage(path)
    storage.write({"events": {"1": {"summary": "pve3 down", "ts": "2026-12-01T20:00:00Z"}}})

    assert read_with_plain_tinydb(path) == {"events": [{"summary": "pve3 down", "ts": "2026-12-01T20:00:00Z"}]}


def test_tinydb_runs_on_it_and_the_result_is_ordinary_tinydb(tmp_path: Path) -> None:
    path = tmp_path / "prefs.json"
    with TinyDB(path, storage=AtomicJSONStorage) as db:
        db.insert({"key": "k3s_master", "value": "vm 105"})
        db.insert({"key": "nas", "value": "vm 200"})
        db.update({"value": "vm 106"}, Query().key == "k3s_master")
        db.remove(Query().key == "nas")

    with TinyDB(path, access_mode="r") as plain:
        assert plain.all() == [{"key": "k3s_master", "value": "vm 106"}]
    with TinyDB(path, storage=AtomicJSONStorage) as again:
        assert again.search(Query().key == "k3s_master")[0]["value"] == "vm 106"


def test_a_missing_file_reads_as_empty_and_is_not_created_by_reading(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"

    assert AtomicJSONStorage(path).read() is None
    with TinyDB(path, storage=AtomicJSONStorage) as db:
        assert db.all() == []
    assert not path.exists()


def test_create_dirs_makes_the_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "db.json"
    AtomicJSONStorage(path, create_dirs=True).write({"t": {}})

    assert read_with_plain_tinydb(path) == {"t": []}


def test_a_leftover_temp_file_from_a_crash_is_never_read_and_is_cleaned_up(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    AtomicJSONStorage(path).write({"t": {"1": {"n": 1}}})
    leftover = tmp_path / ".db.json.4242.7.tmp"
    leftover.write_bytes(b'{"t": {"1": {"n": 2')  # what kill -9 mid-write leaves

    storage = AtomicJSONStorage(path)

    assert not leftover.exists()
    assert storage.read() == {"t": {"1": {"n": 1}}}


def test_a_store_cleans_temp_files_in_every_table_directory(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    leftovers = [tmp_path / ".memories.json.1.0.tmp", tmp_path / "events" / ".2026-12-01T20.0.json.1.3.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"{")

    MemoryDB(tmp_path, autoflush=False).close()

    assert [p for p in leftovers if p.exists()] == []


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    storage = AtomicJSONStorage(path)
    storage.write({"t": {"1": {"n": 1}}})

    with pytest.raises(TypeError):
        storage.write({"t": {"1": {"n": object()}}})

    assert orjson.loads(path.read_bytes()) == {"t": {"1": {"n": 1}}}
    assert sorted(os.listdir(tmp_path)) == ["db.json"]


def test_files_are_private_to_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    AtomicJSONStorage(path).write({"t": {}})

    assert path.stat().st_mode & 0o777 == 0o600


def test_read_only_mode_refuses_to_write(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    AtomicJSONStorage(path).write({"t": {}})

    with pytest.raises(OSError, match="read-only"):
        AtomicJSONStorage(path, access_mode="r").write({"t": {"1": {}}})
