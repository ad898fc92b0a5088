"""One segment of a table: the tinydb file of one period's records, its summary and its writes.

A segment file is a plain tinydb database, ``{"<table>": {"1": record, "2": record, ...}}``.
A sealed segment also has a sidecar ``<period>.<seq>.meta.json`` (``{"meta": {"1": summary}}``)
stamped with the segment file's size and mtime, so a stale sidecar is recognised at open.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from jarvis.plugins.memory.storage import atomic_write

if TYPE_CHECKING:
    from jarvis.plugins.memory.segtable import SegmentedTable

SEGMENT_RE = re.compile(r"(\d{4}-\d\d-\d\d(?:T\d\d)?)\.(\d+)\.json")
META_RE = re.compile(r"(\d{4}-\d\d-\d\d(?:T\d\d)?)\.(\d+)\.meta\.json")
MAX_KEY_VALUES = 512  # beyond this many distinct values a key no longer lets queries skip

Record = dict[str, Any]
SegKey = tuple[str, int]


@dataclass(frozen=True)
class TableSpec:
    """A segmented table: its name, period, key fields summarised per segment, open records."""

    def key_of(self, name: str, rec: Record) -> Any:
        """Return the value of key ``name`` for a record."""
        compute = self.computed.get(name)
        return rec.get(name) if compute is None else compute(rec)

    name: str
    period: str = "hour"
    fields: tuple[str, ...] = ()  # record fields whose distinct values each segment's summary lists
    computed: Mapping[str, Callable[[Record], Any]] = field(default_factory=dict)  # derived keys
    open_info: Callable[[Record], Any] | None = None  # not None: the record is open (an unresolved alert)


class Summary:
    """What a segment holds, small enough to keep for every segment in memory."""

    __slots__ = ("bytes", "count", "first_id", "keys", "last_id", "max_ts", "min_ts", "open", "overflow")

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0
        self.first_id = self.last_id = self.min_ts = self.max_ts = ""
        self.keys: dict[str, set[Any]] = {}
        self.overflow: set[str] = set()
        self.open: dict[str, Any] = {}

    def add(self, rec: Record, size: int, spec: TableSpec) -> None:
        """Account for one appended record."""
        self.count += 1
        self.bytes += size
        rid, ts = rec["id"], rec["ts"]
        if not self.first_id:
            self.first_id = rid
        self.last_id = rid
        if not self.min_ts or ts < self.min_ts:
            self.min_ts = ts
        if ts > self.max_ts:
            self.max_ts = ts
        keys = self.keys
        for name in spec.fields:
            value = rec.get(name)
            seen = keys.get(name)
            if seen is None or value not in seen:  # most values were seen before: one lookup
                self._add_key(name, value)
        for name, compute in spec.computed.items():
            self._add_key(name, compute(rec))
        if spec.open_info is not None:
            self.set_open(rec, spec)

    def _add_key(self, name: str, value: Any) -> None:
        if name in self.overflow:
            return
        values = self.keys.setdefault(name, set())
        try:
            if value in values:
                return
            if len(values) < MAX_KEY_VALUES:
                values.add(value)
                return
        except TypeError:  # unhashable: this key cannot narrow queries any more
            pass
        self.overflow.add(name)
        del self.keys[name]

    def set_open(self, rec: Record, spec: TableSpec) -> None:
        """Track or untrack ``rec`` as open after it was added or changed."""
        info = spec.open_info(rec) if spec.open_info else None
        if info is None:
            self.open.pop(rec["id"], None)
        else:
            self.open[rec["id"]] = info

    def may_match(self, where: Mapping[str, set[Any]]) -> bool:
        """Tell whether some record here may have each key in its wanted set."""
        for name, wanted in where.items():
            values = self.keys.get(name)
            if values is None:
                if name in self.overflow:
                    continue
                return False
            if values.isdisjoint(wanted):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        """Return the summary as a JSON object (the sidecar's record)."""
        return {
            "count": self.count, "bytes": self.bytes, "first_id": self.first_id, "last_id": self.last_id,
            "min_ts": self.min_ts, "max_ts": self.max_ts, "keys": {k: list(v) for k, v in self.keys.items()},
            "overflow": sorted(self.overflow), "open": self.open,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Summary:
        """Rebuild a summary from its JSON object."""
        summary = cls()
        summary.count, summary.bytes = data["count"], data["bytes"]
        summary.first_id, summary.last_id = data["first_id"], data["last_id"]
        summary.min_ts, summary.max_ts = data["min_ts"], data["max_ts"]
        summary.keys = {k: set(v) for k, v in data["keys"].items()}
        summary.overflow = set(data["overflow"])
        summary.open = dict(data["open"])
        return summary


class Segment:
    """One segment file: its summary always, its records while loaded."""

    __slots__ = ("deleted", "dirty_data", "docs", "gen", "meta_path", "next_doc", "path", "period", "seq",
                 "start_ms", "end_ms", "summary", "writing")  # fmt: skip

    def __init__(self, directory: Path, period: str, seq: int, start_ms: int, end_ms: int) -> None:
        self.period, self.seq, self.start_ms, self.end_ms = period, seq, start_ms, end_ms
        self.path = directory / f"{period}.{seq}.json"
        self.meta_path = directory / f"{period}.{seq}.meta.json"
        self.summary = Summary()
        self.docs: dict[str, Record] | None = None
        self.next_doc = 1
        self.gen = 0  # bumped on every change in memory: a concurrent file read may be stale
        self.dirty_data = False
        self.writing = 0
        self.deleted = False

    @property
    def key(self) -> SegKey:
        """Return the sort key: period name, then sequence number."""
        return self.period, self.seq


@dataclass(slots=True)
class WriteJob:
    """One segment's share of a flush: its records and/or its sidecar, prepared under the lock."""

    table: SegmentedTable
    seg: Segment
    docs: dict[str, Record] | None
    meta: dict[str, Any] | None
    bytes: int = 0
    files: int = 0

    def run(self) -> None:
        """Write the records, then the sidecar stamped with the records file's size and mtime."""
        if self.docs is not None:
            data = orjson.dumps({self.table.spec.name: self.docs})
            atomic_write(self.seg.path, data, sync_dir=False)
            self.bytes, self.files = self.bytes + len(data), self.files + 1
        if self.meta is not None:
            stat = os.stat(self.seg.path)
            meta = {**self.meta, "seg_size": stat.st_size, "seg_mtime_ns": stat.st_mtime_ns}
            data = orjson.dumps({"meta": {"1": meta}})
            atomic_write(self.seg.meta_path, data, sync_dir=False)
            self.bytes, self.files = self.bytes + len(data), self.files + 1
