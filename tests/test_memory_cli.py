"""`jarvis memory`: tail (and follow), search, show an action's audit entry, export a range, all
read-only beside the process that holds the directory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from jarvis.plugins.memory import MemoryDB

from tests.fixtures.memory import file_states

JARVIS = str(Path(sys.executable).with_name("jarvis"))


def jarvis_memory(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([JARVIS, "memory", *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def filled(path: Path) -> MemoryDB:
    """A writer holding the directory (as a running hub does), with a little history flushed."""
    db = MemoryDB(path, autoflush=False)
    db.events.add(type="alert", severity="error", node="pve2", vmid=105, summary="guest 105 crashed")
    db.events.add(type="status", summary="backup of nas finished")
    db.actions.add(tool="proxmox.guest_start", status="ok", call_id="c0ffee000001", source="mqtt",
                   requested_by="mqtt:alice", args={"vmid": 105}, duration_ms=812.5, target_kind="guest",
                   target_id="105", risk="write")
    db.events.add(type="action", source="mqtt", summary="proxmox.guest_start by mqtt: ok",
                  details={"call_id": "c0ffee000001", "tool": "proxmox.guest_start"})
    db.conversations.add("s1", "user", "why did 105 crash?")
    db.flush()
    return db


def test_tail_search_show_and_export_read_beside_the_writer_and_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    db = filled(path)
    try:
        tail = jarvis_memory("--dir", str(path), "tail", "-n", "2")
        assert tail.returncode == 0, tail.stderr
        lines = tail.stdout.splitlines()
        assert len(lines) == 2 and "backup of nas finished" in lines[0] and "proxmox.guest_start" in lines[1]

        found = jarvis_memory("--dir", str(path), "search", "105", "crash", "--json")
        tables = sorted(json.loads(line)["table"] for line in found.stdout.splitlines())
        assert tables == ["conversations", "events"]
        assert jarvis_memory("--dir", str(path), "search", "nothing-like-this").returncode == 1

        shown = jarvis_memory("--dir", str(path), "show", "c0ffee000001")
        assert shown.returncode == 0, shown.stderr
        entry = json.loads(shown.stdout.split("\n\nrelated events:")[0])
        assert entry["table"] == "actions" and entry["requested_by"] == "mqtt:alice"
        assert entry["args"] == {"vmid": 105} and entry["duration_ms"] == 812.5
        assert "proxmox.guest_start by mqtt: ok" in shown.stdout.split("related events:")[1]
        assert jarvis_memory("--dir", str(path), "show", "nope").returncode == 1

        out = tmp_path / "export.jsonl"
        exported = jarvis_memory("--dir", str(path), "export", "--since", "1h", "--table", "events",
                                 "--table", "actions", "-o", str(out))
        assert exported.returncode == 0, exported.stderr
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["table"] for r in rows] == ["events"] * 3 + ["actions"]
        assert jarvis_memory("--dir", str(path), "export", "--since", "2099-01-01T00:00:00Z").stdout == ""

        stats = json.loads(jarvis_memory("--dir", str(path), "stats").stdout)
        assert stats["events"]["records"] == 3
    finally:
        db.close()


def test_reading_changes_no_file_and_takes_no_lock(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    db = filled(path)
    temp = path / "events" / ".2026-12-01T00.0.json.999.0.tmp"
    temp.write_bytes(b"half written")
    before = file_states(path)
    try:
        assert jarvis_memory("--dir", str(path), "tail").returncode == 0
        assert jarvis_memory("--dir", str(path), "search", "crash").returncode == 0
        assert file_states(path) == before  # the writer's temp file is its own business
        db.events.add(type="status", summary="written while read")
        db.flush()  # the writer still holds its lock and writes
    finally:
        db.close()


def test_tail_follow_prints_what_the_writer_commits(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    db = filled(path)
    follower = subprocess.Popen([JARVIS, "memory", "--dir", str(path), "tail", "-n", "1", "-f"],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        assert "proxmox.guest_start" in follower.stdout.readline()
        time.sleep(0.3)
        db.events.add(type="alert", severity="critical", node="pve4", summary="pve4 is down")
        db.flush()
        assert "pve4 is down" in follower.stdout.readline()
    finally:
        follower.terminate()
        follower.wait(10)
        db.close()


def test_the_directory_comes_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "from-config"
    filled(path).close()
    (tmp_path / "config.yaml").write_text(f"plugins:\n  memory:\n    path: {path}\n")
    result = jarvis_memory("-c", str(tmp_path / "config.yaml"), "tail")
    assert result.returncode == 0 and "guest 105 crashed" in result.stdout
    missing = jarvis_memory("--dir", str(tmp_path / "none"), "tail")
    assert missing.returncode == 1 and "no memory at" in missing.stderr
