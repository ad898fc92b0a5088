"""Segmented tables: a table's records live in tinydb files per period, each bounded in size.

``<dir>/<table>/<period>.<seq>.json`` holds the records appended in one period (an hour or a
day) in arrival order, up to ``max_records`` / ``max_bytes``; the next one starts a new ``seq``.
Only the newest segment (the head) takes appends, so a flush rewrites the head and nothing
older. A sealed segment gets a sidecar ``<period>.<seq>.meta.json`` with its summary (count,
id and ts range, the distinct values of a few key fields, open records), so queries skip
segments without opening them and a store opens without reading its history. A sidecar whose
segment changed after it was written (a crash between the two renames) is rebuilt at open.

Locking: the caller (``MemoryDB``) holds its lock around every method that changes memory;
``records`` and ``scan`` take it briefly themselves and read files without it.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from threading import RLock
from typing import Any

import orjson
from jarvis.plugins.memory.clock import id_ms, period_bounds, period_start_ms
from jarvis.plugins.memory.segment import (
    META_RE,
    SEGMENT_RE,
    Record,
    SegKey,
    Segment,
    Summary,
    TableSpec,
    WriteJob,
)
from jarvis.plugins.memory.storage import clean_temp_files, read_bytes

log = logging.getLogger("jarvis.memory")


class SegmentedTable:
    """A table stored as segment files, oldest first, with the newest one in memory."""

    def __init__(
        self, root: Path, spec: TableSpec, lock: RLock, *, max_records: int, max_bytes: int, cache_segments: int,
        readonly: bool = False,
    ) -> None:
        self.spec = spec
        self.readonly = readonly  # a reader beside a running writer: it changes no file
        self.dir = root / spec.name
        self.lock = lock
        self.max_records, self.max_bytes, self.cache_segments = max_records, max_bytes, max(1, cache_segments)
        self.total = 0
        self._segments: list[Segment] = []
        self._by_period: dict[str, list[Segment]] = {}
        self._head: Segment | None = None
        self._dirty: dict[SegKey, Segment] = {}
        self._lru: OrderedDict[SegKey, Segment] = OrderedDict()

    # -- opening -------------------------------------------------------------------------------

    def open(self) -> None:
        """Scan the directory: drop temp files, read sidecars (rebuilding stale ones), load the head."""
        if self.readonly:
            if not self.dir.is_dir():
                return
        else:
            self.dir.mkdir(parents=True, exist_ok=True)
            clean_temp_files(self.dir)
        found: dict[SegKey, str] = {}
        metas: dict[SegKey, str] = {}
        for entry in os.scandir(self.dir):
            if match := SEGMENT_RE.fullmatch(entry.name):
                found[(match[1], int(match[2]))] = entry.path
            elif match := META_RE.fullmatch(entry.name):
                metas[(match[1], int(match[2]))] = entry.path
        for key in set(metas) - set(found):
            if not self.readonly:
                os.unlink(metas[key])  # its segment was dropped by retention just before a crash
        keys = sorted(found)
        while keys and self._head is None:
            self._open_head(keys.pop())
        for key in keys:
            seg = self._segment(*key)
            if not self._read_sidecar(seg) and not self._rebuild(seg):
                continue
            self._insert(seg)
        self._segments.sort(key=lambda s: s.key)

    def _segment(self, period: str, seq: int) -> Segment:
        _, start, end = period_bounds(period_start_ms(period, self.spec.period), self.spec.period)
        return Segment(self.dir, period, seq, start, end)

    def _insert(self, seg: Segment) -> None:
        self._segments.append(seg)
        self._by_period.setdefault(seg.period, []).append(seg)
        self.total += seg.summary.count

    def _decode(self, seg: Segment, raw: bytes) -> dict[str, Record] | None:
        try:
            docs: dict[str, Record] = orjson.loads(raw).get(self.spec.name, {})
            return docs
        except (orjson.JSONDecodeError, AttributeError):
            if self.readonly:
                log.error("memory: %s is not a tinydb file; skipped", seg.path)
                return None
            bad = seg.path.with_name(seg.path.name + ".corrupt")
            os.replace(seg.path, bad)
            log.error("memory: %s is not a tinydb file; moved aside to %s", seg.path, bad.name)
            return None

    def _open_head(self, key: SegKey) -> None:
        seg = self._segment(*key)
        raw = read_bytes(seg.path) or b"{}"
        docs = self._decode(seg, raw)
        if docs is None:
            return
        for rec in docs.values():
            seg.summary.add(rec, len(orjson.dumps(rec)), self.spec)
        seg.docs = docs
        seg.next_doc = max((int(k) for k in docs), default=0) + 1
        self._head = seg
        self._insert(seg)

    def _read_sidecar(self, seg: Segment) -> bool:
        raw = read_bytes(seg.meta_path)
        if not raw:
            return False
        try:
            meta = orjson.loads(raw)["meta"]["1"]
            stat = os.stat(seg.path)
            if (meta["seg_size"], meta["seg_mtime_ns"]) != (stat.st_size, stat.st_mtime_ns):
                return False
            seg.summary = Summary.from_json(meta)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return False
        return True

    def _rebuild(self, seg: Segment) -> bool:
        docs = self._decode(seg, read_bytes(seg.path) or b"{}")
        if docs is None:
            return False
        for rec in docs.values():
            seg.summary.add(rec, len(orjson.dumps(rec)), self.spec)
        if not self.readonly:
            self._dirty[seg.key] = seg  # its sidecar is written at the next flush
        return True

    # -- appending and changing ----------------------------------------------------------------

    def append(self, rec: Record, ms: int, size: int) -> None:
        """Append a record issued at ``ms`` (ids only grow, so it belongs to the head or a new one)."""
        head = self._head
        if (
            head is None
            or ms >= head.end_ms
            or head.summary.count >= self.max_records
            or head.summary.bytes + size > self.max_bytes
        ):
            head = self._new_head(ms)
        assert head.docs is not None
        head.docs[str(head.next_doc)] = rec
        head.next_doc += 1
        head.summary.add(rec, size, self.spec)
        head.gen += 1
        head.dirty_data = True
        self._dirty[head.key] = head
        self.total += 1

    def _new_head(self, ms: int) -> Segment:
        period, start, end = period_bounds(ms, self.spec.period)
        old = self._head
        seq = old.seq + 1 if old is not None and old.period == period else 0
        seg = Segment(self.dir, period, seq, start, end)
        seg.docs = {}
        if old is not None:
            self._dirty[old.key] = old  # sealed: its sidecar is due
        self._head = seg
        self._insert(seg)
        return seg

    def find(self, record_id: str) -> tuple[Segment, str, Record] | None:
        """Return the segment, doc id and record of ``record_id`` (loads its segment; hold the lock)."""
        try:
            ms = id_ms(record_id)
        except ValueError:
            return None
        period, _, _ = period_bounds(ms, self.spec.period)
        for seg in self._by_period.get(period, ()):
            if seg.summary.first_id <= record_id <= seg.summary.last_id:
                docs = self._load_locked(seg)
                for doc_id, rec in (docs or {}).items():
                    if rec["id"] == record_id:
                        return seg, doc_id, rec
        return None

    def replace(self, seg: Segment, doc_id: str, rec: Record) -> None:
        """Replace one record by a new dict (copy-on-write: readers keep a consistent view)."""
        assert seg.docs is not None
        seg.docs[doc_id] = rec
        seg.summary.set_open(rec, self.spec)
        seg.gen += 1
        seg.dirty_data = True
        self._dirty[seg.key] = seg
        self._lru.pop(seg.key, None)  # pinned until written

    # -- flushing and retention ----------------------------------------------------------------

    def prepare_flush(self) -> list[WriteJob]:
        """Take what must be written; sealed segments also get their sidecar (hold the lock)."""
        jobs = []
        for seg in self._dirty.values():
            docs = dict(seg.docs) if seg.dirty_data and seg.docs is not None else None
            meta = None if seg is self._head else seg.summary.to_json()
            seg.dirty_data = False
            seg.writing += 1
            jobs.append(WriteJob(self, seg, docs, meta))
        self._dirty.clear()
        return jobs

    def finish_flush(self, job: WriteJob, ok: bool) -> None:
        """Unpin a written segment (into the cache), or mark it dirty again if its write failed."""
        seg = job.seg
        seg.writing -= 1
        if not ok:
            seg.dirty_data = seg.dirty_data or job.docs is not None
            self._dirty[seg.key] = seg
        elif seg is not self._head and seg.key not in self._dirty and seg.docs is not None and not seg.writing:
            self._cache(seg)

    def expire(self, now_ms: int, max_age_ms: int | None, max_records: int | None) -> list[Segment]:
        """Drop the oldest segments past the age or beyond the newest ``max_records`` (hold the lock).

        Call it before ``prepare_flush``: a dropped segment that was never written is not written.
        """
        dropped = []
        while self._segments:
            seg = self._segments[0]
            if seg is self._head or seg.writing:
                break
            last_ms = id_ms(seg.summary.last_id) if seg.summary.last_id else 0
            too_old = max_age_ms is not None and last_ms < now_ms - max_age_ms
            too_many = max_records is not None and self.total - seg.summary.count >= max_records
            if not (too_old or too_many):
                break
            self._segments.pop(0)
            self._dirty.pop(seg.key, None)  # past retention: not worth writing
            self._by_period[seg.period].remove(seg)
            if not self._by_period[seg.period]:
                del self._by_period[seg.period]
            self._lru.pop(seg.key, None)
            seg.deleted, seg.docs = True, None
            self.total -= seg.summary.count
            dropped.append(seg)
        return dropped

    # -- reading -------------------------------------------------------------------------------

    def _cache(self, seg: Segment) -> None:
        self._lru[seg.key] = seg
        self._lru.move_to_end(seg.key)
        while len(self._lru) > self.cache_segments:
            _, old = self._lru.popitem(last=False)
            if old is not self._head and old.key not in self._dirty and not old.writing:
                old.docs = None

    def _load_locked(self, seg: Segment) -> dict[str, Record] | None:
        if seg.docs is None and not seg.deleted:
            docs = self._decode(seg, read_bytes(seg.path) or b"{}")
            if docs is None:
                return None
            seg.docs = docs
            self._cache(seg)
        return seg.docs

    def records(
        self, seg: Segment, *, cache: bool = True, prefilter: Callable[[bytes], bool] | None = None
    ) -> list[Record] | None:
        """Return a segment's records oldest first, from memory or its file (None: skipped or gone)."""
        while True:
            with self.lock:
                if seg.deleted:
                    return None
                if seg.docs is not None:
                    if seg.key in self._lru:
                        self._lru.move_to_end(seg.key)
                    return list(seg.docs.values())
                gen = seg.gen
            raw = read_bytes(seg.path)  # outside the lock: appends go on while we read
            if raw is None:
                return None
            if prefilter is not None and not prefilter(raw):
                with self.lock:
                    if seg.gen == gen:
                        return None
                continue
            try:
                docs = orjson.loads(raw).get(self.spec.name, {})
            except orjson.JSONDecodeError:
                log.error("memory: %s is not a tinydb file; skipped", seg.path)
                return None
            with self.lock:
                if seg.docs is None and seg.gen != gen:
                    continue  # changed, written and evicted while we read: read again
                if seg.docs is not None:
                    return list(seg.docs.values())
                if cache:
                    seg.docs = docs
                    self._cache(seg)
                return list(docs.values())

    def newest_first(self) -> list[Segment]:
        """Return the segments, newest first."""
        with self.lock:
            return self._segments[::-1]

    def scan(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        where: Mapping[str, set[Any]] | None = None,
        prefilter: Callable[[bytes], bool] | None = None,
        cache: bool = True,
        oldest_first: bool = False,
    ) -> Iterator[Record]:
        """Yield records newest first (or oldest first) with ``since <= ts <= until`` and keys in ``where``."""
        spec = self.spec
        segments = self.newest_first()
        if oldest_first:
            segments.reverse()
        for seg in segments:
            summary = seg.summary
            if (since and summary.max_ts < since) or (until and summary.min_ts > until):
                continue
            if where and not summary.may_match(where):
                continue
            records = self.records(seg, cache=cache, prefilter=prefilter)
            if not records:
                continue
            for rec in records if oldest_first else reversed(records):
                ts = rec["ts"]
                if (since and ts < since) or (until and ts > until):
                    continue
                if where and any(spec.key_of(name, rec) not in wanted for name, wanted in where.items()):
                    continue
                yield rec

    def last_id(self) -> str:
        """Return the newest record id of the table ("" when empty)."""
        with self.lock:
            return self._head.summary.last_id if self._head is not None else ""

    def open_records(self) -> dict[str, Any]:
        """Return the open records' ids and infos across all segments."""
        with self.lock:
            return {rid: info for seg in self._segments for rid, info in seg.summary.open.items()}

    def stats(self) -> dict[str, int]:
        """Return the record count, segment count and approximate bytes of the table."""
        with self.lock:
            return {
                "records": self.total,
                "segments": len(self._segments),
                "bytes": sum(s.summary.bytes for s in self._segments),
                "cached_segments": sum(1 for s in self._segments if s.docs is not None),
            }
