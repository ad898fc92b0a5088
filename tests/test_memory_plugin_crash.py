"""kill -9 of a real hub running the memory plugin, mid-write: every committed event and audit
entry is there after each kill, exactly once, and every file opens with plain tinydb."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

from jarvis.plugins.memory import MemoryDB

from tests.fixtures.memory import read_with_plain_tinydb

WRITER = Path(__file__).parent / "fixtures" / "memory_hub_writer.py"
ROUNDS = 12
ROUND_SEQS = 1_000_000


def run_and_kill(path: Path, first: int, seed: int, after_s: float) -> list[int]:
    """Start the writer, SIGKILL it ``after_s`` seconds after it is ready; return the seqs it committed."""
    errors = path.parent / f"writer-{first}.err"
    with errors.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, str(WRITER), str(path), str(first), str(seed)],
                                stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdout is not None
    committed: list[int] = []
    assert proc.stdout.readline().strip() == "ready", errors.read_text()
    killer = threading.Timer(after_s, proc.send_signal, (signal.SIGKILL,))
    killer.start()
    for line in proc.stdout:
        words = line.split()
        if line.endswith("\n") and len(words) == 2:  # the kill may cut the last line short: not reported
            committed.append(int(words[1]))
    proc.wait(10)
    killer.cancel()
    assert proc.returncode == -signal.SIGKILL, errors.read_text()
    return committed


def test_a_hub_killed_during_writes_keeps_every_commit(tmp_path: Path) -> None:
    rng = random.Random(11)
    path = tmp_path / "memory"
    committed: list[tuple[int, int]] = []  # (first, last committed) per round
    ticks_committed: set[int] = set()  # each commit follows one ticker.tick call with its last seq
    for round_no in range(ROUNDS):
        first = (round_no + 1) * ROUND_SEQS
        commits = run_and_kill(path, first, round_no, after_s=rng.uniform(0.05, 0.8))
        committed.append((first, commits[-1] if commits else first - 1))
        ticks_committed |= set(commits)
        for file in path.rglob("*.json"):
            read_with_plain_tinydb(file)  # raises on a torn file
        with MemoryDB(path, autoflush=False) as db:
            seqs = [e["details"]["seq"] for e in db.events.recent(type="status", limit=None)]
            ticks = {a["args"]["seq"] for a in db.actions.recent(tool="ticker.tick", limit=None)}
        assert len(seqs) == len(set(seqs)), "an event was stored twice"
        stored = set(seqs)
        for start, end in committed:
            missing = set(range(start, end + 1)) - stored
            assert not missing, f"round starting {start}: committed events lost: {sorted(missing)[:5]}"
        assert ticks_committed <= ticks, f"committed audit entries lost: {sorted(ticks_committed - ticks)[:5]}"
    assert sum(last - first + 1 for first, last in committed) > ROUNDS  # the kills fell during real work
