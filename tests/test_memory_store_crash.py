"""kill -9 at random moments: every commit survives, exactly once, in files plain tinydb opens.

A writer process (tests/fixtures/memory_writer.py) appends numbered events, resolves alerts and
sets preferences, and prints each commit once ``flush()`` returned. The test SIGKILLs it at
random moments, over and over in one growing directory, and checks what is on disk each time.
"""

from __future__ import annotations

import collections
import random
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jarvis.plugins.memory import MemoryDB

from tests.fixtures.memory import file_states, read_with_plain_tinydb

WRITER = Path(__file__).parent / "fixtures" / "memory_writer.py"
KILLS = 110


def start_writer(path: Path, first: int, seed: int, *mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(first), str(seed), *mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str], timeout: float = 20.0) -> None:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    assert line == "ready\n", f"writer did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"


def kill(proc: subprocess.Popen[str]) -> list[list[str]]:
    """SIGKILL the writer (it must still be running) and return the complete lines it printed."""
    assert proc.poll() is None, f"the writer died on its own: {proc.stderr.read() if proc.stderr else ''}"
    proc.kill()
    out, _ = proc.communicate()
    return [line.split() for line in out.splitlines(keepends=True) if line.endswith("\n")]


def check_files_as_left(root: Path, seen: dict[str, tuple[int, int, int]]) -> None:
    """Every data file opens with plain tinydb; anything else is the lock or a temp file."""
    for name, state in file_states(root).items():
        base = Path(name).name
        if base.startswith(".") and base.endswith(".tmp") or base == ".lock":
            continue
        assert base.endswith(".json"), f"unexpected file {name}"
        if seen.get(name) != state:
            read_with_plain_tinydb(root / name)
            seen[name] = state


def stored_events(root: Path) -> list[dict[str, Any]]:
    with MemoryDB(root, autoflush=False) as db:
        return db.events.recent(limit=None)


def test_every_commit_survives_kill_9_at_random_moments_and_files_open_with_tinydb(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    committed, next_seq, commits = -1, 0, 0
    resolved: set[int] = set()
    seen: dict[str, tuple[int, int, int]] = {}
    for round_ in range(KILLS):
        proc = start_writer(tmp_path, next_seq, seed + round_)
        if round_ % 10 == 9:  # every tenth while it starts: opening, recovering, cleaning up
            time.sleep(rng.uniform(0.0, 0.2))
        else:
            wait_ready(proc)
            time.sleep(rng.uniform(0.0, 0.15))
        lines = kill(proc)
        commits += any(line[0] == "committed" for line in lines)
        for line in lines:
            if line[0] == "committed":
                committed = max(committed, int(line[1]))
                resolved.update(int(seq) for seq in line[2:])

        check_files_as_left(tmp_path, seen)
        events = stored_events(tmp_path)
        seqs = collections.Counter(event["details"]["seq"] for event in events)
        context = f"seed {seed}, round {round_}"
        assert [seq for seq, n in seqs.items() if n > 1] == [], f"duplicated events ({context})"
        assert [seq for seq in range(committed + 1) if seq not in seqs] == [], f"committed events lost ({context})"
        by_seq = {event["details"]["seq"]: event for event in events}
        assert [seq for seq in resolved if not by_seq[seq]["resolved"]] == [], f"resolutions lost ({context})"
        next_seq = max(seqs, default=-1) + 1
        assert not list(tmp_path.rglob("*.tmp")), "reopening cleans up temp files"

    print(f"seed {seed}: {commits} of {KILLS} rounds committed before the kill; {committed + 1} events committed")
    assert commits > KILLS // 2  # most kills landed while writing, not before the first commit
    assert committed > 1000  # the directory grew: recovery ran against real history
    with MemoryDB(tmp_path, autoflush=False) as db:
        assert db.stats()["events"]["segments"] > 20
    for name in file_states(tmp_path):
        if name.endswith(".json"):
            read_with_plain_tinydb(tmp_path / name)


def test_the_flush_thread_commits_within_the_commit_interval(tmp_path: Path) -> None:
    # The writer adds an event every ms; only the flush thread (every 0.1 s) writes. An event
    # added more than one interval plus a flush's duration before the kill must be on disk;
    # the slack is generous because a flush's fsyncs can stall on a busy disk.
    interval, slack = 0.1, 0.9
    next_seq = 0
    for round_ in range(4):
        proc = start_writer(tmp_path, next_seq, round_, "auto")
        wait_ready(proc)
        time.sleep(1.5)
        killed_at = time.monotonic()
        added = {int(line[1]): float(line[2]) for line in kill(proc) if line[0] == "added" and len(line) == 3}
        stored = collections.Counter(event["details"]["seq"] for event in stored_events(tmp_path))
        assert max(stored.values()) == 1
        must_have = [seq for seq, at in added.items() if at < killed_at - interval - slack]
        assert len(must_have) > 100
        assert [seq for seq in must_have if seq not in stored] == []
        next_seq = max(stored) + 1
