"""The small tables: preferences and remembered facts, each one tinydb file rewritten whole.

They hold what the user told Jarvis ("vm 105 is my k3s master"): hundreds of records, not
millions, so tinydb's own tables (in memory) serve them and a flush writes the file whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from jarvis.plugins.memory.clock import format_ts
from jarvis.plugins.memory.segment import Record
from jarvis.plugins.memory.storage import AtomicJSONStorage, atomic_write
from tinydb import Query, TinyDB
from tinydb.storages import MemoryStorage

if TYPE_CHECKING:
    from jarvis.plugins.memory.db import MemoryDB

TIERS: dict[str, int | None] = {"7d": 7 * 86400, "30d": 30 * 86400, "permanent": None}


class SmallFile:
    """A tinydb table kept in memory and written whole, atomically, by the store's flush."""

    def __init__(self, path: Path, name: str, *, readonly: bool = False) -> None:
        self.path = path
        self._db = TinyDB(storage=MemoryStorage)
        # A writer also removes this file's leftover temp files; a reader leaves them to the writer.
        data = AtomicJSONStorage(path, access_mode="r" if readonly else "r+").read()
        if data:
            self._db.storage.write(data)
        self.table = self._db.table(name, cache_size=0)
        self.dirty = False

    def prepare(self) -> bytes | None:
        """Return the file's new content if it changed since the last flush (hold the lock)."""
        if not self.dirty:
            return None
        self.dirty = False
        return orjson.dumps(self._db.storage.read() or {})

    def write(self, data: bytes) -> None:
        """Replace the file (the caller fsyncs the directory)."""
        atomic_write(self.path, data, sync_dir=False)


class Preferences:
    """Key/value facts the user set: ``set("k3s_master", "vm 105")``.

    The same class keeps ``values`` (``values.json``): small values the hub and plugins save
    across restarts (pending confirmations, when a host was last seen), never shown to an LLM.
    """

    def __init__(self, db: MemoryDB, path: Path, name: str = "preferences") -> None:
        self._db = db
        self.file = SmallFile(path, name, readonly=db.readonly)

    def set(self, key: str, value: Any) -> None:
        """Set a preference (masked like everything else)."""
        record = self._db._clean({"key": key, "value": value})
        with self._db._lock:
            self._db._check_writable()
            record["ts"] = self._db._now_ts()
            self.file.table.upsert(record, Query().key == record["key"])
            self.file.dirty = True

    def get(self, key: str, default: Any = None) -> Any:
        """Return a preference's value, or ``default``."""
        with self._db._lock:
            found = self.file.table.get(Query().key == key)
        return default if found is None else found["value"]

    def delete(self, key: str) -> bool:
        """Delete a preference; tell whether it existed."""
        with self._db._lock:
            self._db._check_writable()
            removed = self.file.table.remove(Query().key == key)
            self.file.dirty = self.file.dirty or bool(removed)
        return bool(removed)

    def all(self) -> dict[str, Any]:
        """Return every preference as a dict."""
        return {rec["key"]: rec["value"] for rec in self.records()}

    def records(self) -> list[Record]:
        """Return the preference records (key, value, ts)."""
        with self._db._lock:
            return [dict(doc) for doc in self.file.table.all()]


class Memories:
    """Facts Jarvis remembers for a while: tiers ``7d`` and ``30d`` expire by age, ``permanent`` stays."""

    def __init__(self, db: MemoryDB, path: Path) -> None:
        self._db = db
        self.file = SmallFile(path, "memories", readonly=db.readonly)

    def remember(self, text: str, tier: str = "30d", tags: Iterable[str] = ()) -> str:
        """Remember ``text`` for the tier's time; return its id."""
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {sorted(TIERS)}, not {tier!r}")
        record = self._db._clean({"text": text, "tier": tier, "tags": list(tags)})
        with self._db._lock:
            self._db._check_writable()
            record_id, ms = self._db._ids.next()
            life = TIERS[tier]
            expires = None if life is None else format_ts(ms / 1000 + life)
            self.file.table.insert({"id": record_id, "ts": format_ts(ms / 1000), **record, "expires": expires})
            self.file.dirty = True
        return record_id

    def forget(self, memory_id: str) -> bool:
        """Forget one memory; tell whether it existed."""
        with self._db._lock:
            self._db._check_writable()
            removed = self.file.table.remove(Query().id == memory_id)
            self.file.dirty = self.file.dirty or bool(removed)
        return bool(removed)

    def active(self, tag: str | None = None) -> list[Record]:
        """Return the unexpired memories (optionally with a tag), newest first."""
        now = self._db._now_ts()
        with self._db._lock:
            docs = [dict(doc) for doc in self.file.table.all()]
        alive = [m for m in docs if (m["expires"] is None or m["expires"] > now) and (tag is None or tag in m["tags"])]
        return sorted(alive, key=lambda m: m["id"], reverse=True)

    def prune(self, now_ts: str) -> int:
        """Delete expired memories from the file (hold the lock); return how many."""
        removed = self.file.table.remove(Query().expires.test(lambda exp: exp is not None and exp <= now_ts))
        if removed:
            self.file.dirty = True
        return len(removed)
