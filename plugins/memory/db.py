"""``MemoryDB``: the memory store's facade, hub-free.

Appends are O(1) and happen in memory under one lock; a flush (every ``commit_interval_s`` on
a background thread, or on ``flush()``/``close()``) writes what changed: the head segment of
each table that got records, segments whose records changed (a resolved event), the sidecar of
a segment that just sealed, and the small files. Files are replaced atomically, so ``kill -9``
loses at most what was added after the start of the last completed flush.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from jarvis.plugins.memory import search as _search
from jarvis.plugins.memory.clock import IdClock, TimeLike, format_ts, normalize_ts
from jarvis.plugins.memory.segment import Record, WriteJob
from jarvis.plugins.memory.segtable import SegmentedTable
from jarvis.plugins.memory.small import Memories, Preferences
from jarvis.plugins.memory.storage import clean_temp_files, fsync_dir
from jarvis.plugins.memory.tables import Actions, Conversations, Events, Snapshots, table_specs

log = logging.getLogger("jarvis.memory")

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Retention:
    """How long a table keeps records: whole segments go once past ``max_age_days`` or beyond ``max_records``."""

    max_age_days: float | None = None
    max_records: int | None = None


DEFAULT_RETENTION: dict[str, Retention] = {
    "events": Retention(max_age_days=90, max_records=2_000_000),
    "actions": Retention(max_age_days=365, max_records=1_000_000),
    "conversations": Retention(max_age_days=180, max_records=500_000),
    "snapshots": Retention(max_age_days=30, max_records=None),
}


@dataclass(frozen=True, slots=True)
class FlushStats:
    """What one flush did: files and bytes written, segment files deleted, wall seconds."""

    files: int = 0
    bytes: int = 0
    deleted: int = 0
    seconds: float = 0.0


class MemoryLocked(RuntimeError):
    """Another MemoryDB (in this or another process) has the directory open."""


class MemoryReadOnly(RuntimeError):
    """A change was asked of a store opened ``readonly``."""


class MemoryDB:
    """Jarvis's memory: events, actions, conversations, snapshots, preferences and memories.

    ``mask`` replaces secrets in a string (the hub passes ``jarvis.core.redact.redact``); it is
    applied to every string and key before anything is stored. It must act on substrings: a
    text it leaves unchanged has no part it would change.

    ``readonly`` opens a directory beside its writer (``jarvis memory`` while the hub runs): no
    lock is taken, no file is changed or removed, and every change raises ``MemoryReadOnly``.
    A reader sees what the writer had flushed when it opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        commit_interval_s: float = 1.0,
        retention: Mapping[str, Retention] | None = None,
        mask: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.time,
        autoflush: bool = True,
        segment_records: int = 2000,
        segment_bytes: int = 1 << 20,
        cache_segments: int = 8,
        tracked_types: Iterable[str] = ("alert",),
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            if not self.path.is_dir():
                raise FileNotFoundError(f"no memory directory at {self.path}")
        else:
            self.path.mkdir(parents=True, exist_ok=True)
        self.commit_interval_s = commit_interval_s
        unknown = set(retention or {}) - set(DEFAULT_RETENTION)
        if unknown:
            raise ValueError(f"no retention for {sorted(unknown)}; tables are {sorted(DEFAULT_RETENTION)}")
        self.retention = {**DEFAULT_RETENTION, **(retention or {})}
        self._lockfile = -1 if readonly else _lock_directory(self.path)
        self._lock = threading.RLock()
        self._flush_lock = threading.Lock()
        self._clock = clock
        self._ids = IdClock(clock)
        self._mask = mask
        self._closed = False
        self._stamp = (-1, "")  # the ts string of the latest second an id was issued in
        self.last_flush: FlushStats | None = None  # for health reports: what the latest flush did
        if not readonly:
            clean_temp_files(self.path)
        self._tables = {
            name: SegmentedTable(self.path, spec, self._lock, max_records=segment_records,
                                 max_bytes=segment_bytes, cache_segments=cache_segments, readonly=readonly)
            for name, spec in table_specs(tracked_types).items()
        }  # fmt: skip
        for table in self._tables.values():
            table.open()
            if last := table.last_id():
                self._ids.observe(last)
        self.events = Events(self, self._tables["events"])
        self.actions = Actions(self, self._tables["actions"])
        self.conversations = Conversations(self, self._tables["conversations"])
        self.snapshots = Snapshots(self, self._tables["snapshots"])
        self.preferences = Preferences(self, self.path / "preferences.json")
        self.memories = Memories(self, self.path / "memories.json")
        self.values = Preferences(self, self.path / "values.json", name="values")
        for memory in self.memories.file.table.all():
            self._ids.observe(memory["id"])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if autoflush and commit_interval_s > 0 and not readonly:
            self._thread = threading.Thread(target=self._autoflush, name="jarvis-memory-flush", daemon=True)
            self._thread.start()

    # -- queries across tables -----------------------------------------------------------------

    def search(
        self,
        text: str,
        *,
        tables: Iterable[str] = _search.SEARCH_DEFAULT,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        limit: int = 50,
    ) -> list[Record]:
        """Return records whose values contain every term of ``text`` (any case), newest first."""
        return _search.search(self, text, tables=tables, since=self._ts(since), until=self._ts(until), limit=limit)

    def export(
        self,
        *,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        tables: Iterable[str] = _search.ALL_TABLES,
    ) -> Iterator[bytes]:
        """Yield the records of a time range as JSON lines (``{"table": ..., **record}``)."""
        return _search.export(self, tables=tables, since=self._ts(since), until=self._ts(until))

    def stats(self) -> dict[str, dict[str, int]]:
        """Return per-table counts: records, segments, approximate bytes, cached segments."""
        out = {name: table.stats() for name, table in self._tables.items()}
        out["preferences"] = {"records": len(self.preferences.file.table)}
        out["memories"] = {"records": len(self.memories.file.table)}
        out["values"] = {"records": len(self.values.file.table)}
        return out

    # -- committing ----------------------------------------------------------------------------

    def flush(self) -> FlushStats:
        """Commit every change so far (blocking file I/O: call it off the event loop) and apply retention."""
        self._check_writable()
        with self._flush_lock:
            start = time.perf_counter()
            with self._lock:
                now_ms = self._ids.now_ms()
                self.memories.prune(format_ts(now_ms / 1000))
                dropped = [
                    seg for name, table in self._tables.items() for seg in table.expire(now_ms, *self._limits(name))
                ]
                jobs = [job for table in self._tables.values() for job in table.prepare_flush()]
                small = [(f, data) for f in (self.preferences.file, self.memories.file, self.values.file)
                         if (data := f.prepare())]
            done: list[WriteJob] = []
            written = 0
            try:
                for job in jobs:
                    job.run()
                    done.append(job)
                for file, data in small:
                    file.write(data)
                    written += 1
                for directory in {job.seg.path.parent for job in jobs} | ({self.path} if small else set()):
                    fsync_dir(directory)
            except BaseException:
                with self._lock:
                    for job in jobs:
                        job.table.finish_flush(job, ok=job in done)
                    for file, _ in small[written:]:
                        file.dirty = True
                raise
            with self._lock:
                for job in jobs:
                    job.table.finish_flush(job, ok=True)
            for seg in dropped:
                for file_path in (seg.path, seg.meta_path):
                    with contextlib.suppress(FileNotFoundError):
                        file_path.unlink()
            for directory in {seg.path.parent for seg in dropped}:
                fsync_dir(directory)
            self.last_flush = FlushStats(
                files=sum(job.files for job in jobs) + len(small),
                bytes=sum(job.bytes for job in jobs) + sum(len(data) for _, data in small),
                deleted=len(dropped),
                seconds=time.perf_counter() - start,
            )
            return self.last_flush

    def _limits(self, name: str) -> tuple[int | None, int | None]:
        rule = self.retention[name]
        age = None if rule.max_age_days is None else int(rule.max_age_days * DAY_MS)
        return age, rule.max_records

    def _autoflush(self) -> None:
        while not self._stop.wait(self.commit_interval_s):
            try:
                self.flush()
            except Exception:
                log.exception("memory: flush failed; the changes stay in memory and are retried")

    def close(self) -> None:
        """Stop the flush thread, commit everything and release the directory."""
        if self._closed:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.readonly:
            self._closed = True
            return
        self.flush()
        self._closed = True
        os.close(self._lockfile)

    def __enter__(self) -> MemoryDB:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- shared by the tables ------------------------------------------------------------------

    def _add(self, table: SegmentedTable, fields: Mapping[str, Any], ts: TimeLike | None) -> str:
        """Clean and mask ``fields`` (outside the lock), then give them an id and append them."""
        encoded = orjson.dumps(fields, default=str, option=orjson.OPT_NON_STR_KEYS)
        record = self._clean(fields, encoded)
        stamp = self._ts(ts)
        size = len(encoded) + 48  # + id and ts
        with self._lock:
            self._check_writable()
            record_id, ms = self._ids.next()
            if stamp is None:
                second = ms // 1000
                if second != self._stamp[0]:
                    self._stamp = (second, format_ts(second))
                stamp = self._stamp[1]
            stored = {"id": record_id, "ts": stamp, **record}
            table.append(stored, ms, size)
        return record_id

    def _clean(self, fields: Mapping[str, Any], encoded: bytes | None = None) -> dict[str, Any]:
        """Return ``fields`` as plain JSON values (a fresh copy), every string and key masked."""
        if encoded is None:
            encoded = orjson.dumps(fields, default=str, option=orjson.OPT_NON_STR_KEYS)
        data: dict[str, Any] = orjson.loads(encoded)
        mask = self._mask
        if mask is None:
            return data
        # Without backslashes the JSON holds every string verbatim, so a mask that changes no
        # part of the whole text has nothing to change in any string: one call, not one per string.
        if b"\\" not in encoded:
            text = encoded.decode()
            if mask(text) == text:
                return data
        return _mask_all(data, mask)

    def _check_writable(self) -> None:
        if self.readonly:
            raise MemoryReadOnly(f"{self.path} is open read-only here (the hub writes it)")
        if self._closed:
            raise RuntimeError("the memory store is closed")

    def _masked(self, text: str) -> str:
        return self._mask(text) if self._mask is not None else text

    def _ts(self, value: TimeLike | None) -> str | None:
        return None if value is None else normalize_ts(value, now=self._clock())

    def _now_ts(self) -> str:
        return format_ts(self._clock())


def _mask_all(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask(k): _mask_all(v, mask) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v, mask) for v in value]
    return value


def _lock_directory(path: Path) -> int:
    fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise MemoryLocked(f"{path} is open in another MemoryDB") from None
    return fd
