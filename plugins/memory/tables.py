"""The segmented tables after the seed's schema: events, actions, conversations, cluster snapshots.

Every method returns top-level copies of the stored records (nested values are shared: treat
them as read-only). Queries run newest first and skip segments by their summaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson
from jarvis.plugins.memory.clock import TimeLike
from jarvis.plugins.memory.segment import Record, TableSpec
from jarvis.plugins.memory.segtable import SegmentedTable

if TYPE_CHECKING:
    from jarvis.plugins.memory.db import MemoryDB

Wanted = str | int | Iterable[str | int]


def _target(rec: Record) -> str | None:
    kind = rec.get("target_kind")
    return None if kind is None else f"{kind}:{rec.get('target_id')}"


def table_specs(tracked_types: Iterable[str]) -> dict[str, TableSpec]:
    """Return the specs of the segmented tables; events of ``tracked_types`` are indexed while open."""
    tracked = frozenset(tracked_types)

    def open_event(rec: Record) -> Record | None:
        # the open record itself: unresolved() reads no segment (open alerts are few)
        return rec if rec.get("type") in tracked and not rec.get("resolved") else None

    return {
        "events": TableSpec("events", "hour", ("node", "type", "severity", "source", "vmid"), open_info=open_event),
        "actions": TableSpec("actions", "day", ("tool", "status"), {"target": _target}),
        "conversations": TableSpec("conversations", "day", ("session",)),
        "snapshots": TableSpec("snapshots", "day"),
    }


def _where(**filters: Wanted | None) -> dict[str, set[Any]] | None:
    where = {}
    for name, value in filters.items():
        if value is not None:
            where[name] = {value} if isinstance(value, str | int) else set(value)
    return where or None


def _copies(records: Iterable[Record], limit: int | None) -> list[Record]:
    return [dict(rec) for rec in islice(records, limit)]


class _Table:
    def __init__(self, db: MemoryDB, table: SegmentedTable) -> None:
        self._db = db
        self._table = table

    def get(self, record_id: str) -> Record | None:
        """Return the record with this id, or None."""
        with self._db._lock:
            found = self._table.find(record_id)
            return dict(found[2]) if found else None

    def __len__(self) -> int:
        return self._table.total


class Events(_Table):
    """Every hub event; alerts stay open (indexed) until resolved."""

    def add(self, event: Mapping[str, Any] | Any = None, /, **fields: Any) -> str:
        """Store a hub event (an ``Event``, its ``to_dict()`` or keywords); return the record id.

        The hub's own event id is kept as ``event_id``; ``type`` and ``summary`` are required.
        """
        data = dict(event.to_dict() if hasattr(event, "to_dict") else (event or {}))
        data.update(fields)
        if not data.get("type") or "summary" not in data:
            raise ValueError("an event needs a type and a summary")
        record = {
            "type": data.pop("type"), "severity": data.pop("severity", "info"), "source": data.pop("source", "hub"),
            "node": data.pop("node", None), "vmid": data.pop("vmid", None), "summary": data.pop("summary"),
            "details": data.pop("details", None) or {}, "event_id": data.pop("id", None),
            "resolved": False, "resolved_at": None, "resolved_by": None,
        }  # fmt: skip
        ts = data.pop("ts", None)
        record.update(data)
        return self._db._add(self._table, record, ts)

    def resolve(self, record_id: str, by: str = "user") -> Record | None:
        """Mark an event resolved (by its record id, or the hub id of an open one); None if unknown.

        Resolving rewrites the segment holding the event at the next flush (a bounded file).
        """
        by = self._db._masked(by)
        with self._db._lock:
            self._db._check_writable()
            found = self._table.find(record_id)
            if found is None:
                open_ids = self._table.open_records()
                rid = next((rid for rid, info in open_ids.items() if info.get("event_id") == record_id), None)
                found = self._table.find(rid) if rid else None
            if found is None:
                return None
            seg, doc_id, rec = found
            if not rec.get("resolved"):
                rec = {**rec, "resolved": True, "resolved_at": self._db._now_ts(), "resolved_by": by}
                self._table.replace(seg, doc_id, rec)
            return dict(rec)

    def recent(
        self,
        *,
        node: Wanted | None = None,
        type: Wanted | None = None,
        severity: Wanted | None = None,
        source: Wanted | None = None,
        vmid: Wanted | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        limit: int | None = 50,
    ) -> list[Record]:
        """Return the newest events matching every given filter (a value or a collection of values)."""
        where = _where(node=node, type=type, severity=severity, source=source, vmid=vmid)
        scan = self._table.scan(since=self._db._ts(since), until=self._db._ts(until), where=where)
        return _copies(scan, limit)

    def unresolved(self, type: str = "alert", *, limit: int | None = 100) -> list[Record]:
        """Return open events of a tracked type (default alerts), newest first, from the summaries."""
        opened = [rec for rec in self._table.open_records().values() if rec.get("type") == type]
        opened.sort(key=lambda rec: rec["id"], reverse=True)
        return _copies(opened, limit)


class Actions(_Table):
    """The audit trail: every tool call, who asked, who approved, what it did and how long it took."""

    def add(
        self,
        *,
        tool: str,
        status: str,
        call_id: str | None = None,
        source: str | None = None,
        requested_by: str | None = None,
        approved_by: str | None = None,
        args: Mapping[str, Any] | None = None,
        result: Any = None,
        error: str | None = None,
        duration_ms: float | None = None,
        target_kind: str | None = None,
        target_id: str | int | None = None,
        risk: str | None = None,
        event_id: str | None = None,
        ts: TimeLike | None = None,
    ) -> str:
        """Store one tool call (``args`` already masked by the caller; the store masks again).

        ``event_id`` is the hub id of the ``action`` event it was recorded from.
        """
        record = {
            "call_id": call_id, "tool": tool, "source": source, "requested_by": requested_by,
            "approved_by": approved_by, "args": dict(args or {}), "status": status, "result": result,
            "error": error, "duration_ms": duration_ms, "target_kind": target_kind, "target_id": target_id,
            "risk": risk, "event_id": event_id,
        }  # fmt: skip
        return self._db._add(self._table, record, ts)

    def of_target(
        self, kind: str, target_id: str | int, *, since: TimeLike | None = None, limit: int | None = 50
    ) -> list[Record]:
        """Return the newest actions on one target (e.g. ``("guest", 105)``)."""
        scan = self._table.scan(since=self._db._ts(since), where={"target": {f"{kind}:{target_id}"}})
        return _copies(scan, limit)

    def by_call(self, call_id: str) -> Record | None:
        """Return the newest action of one tool call (its ``call_id``); files without it are skipped unread."""
        needle = orjson.dumps(call_id)
        scan = self._table.scan(prefilter=lambda raw: needle in raw, cache=False)
        found = next((rec for rec in scan if rec.get("call_id") == call_id), None)
        return None if found is None else dict(found)

    def taken(self, *, since: TimeLike | None = None, limit: int | None = 50) -> list[Record]:
        """Return the newest actions that could change something (risk other than ``read``)."""
        scan = self._table.scan(since=self._db._ts(since))
        return _copies((rec for rec in scan if rec.get("risk") != "read"), limit)

    def recent(
        self,
        *,
        tool: Wanted | None = None,
        status: Wanted | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        limit: int | None = 50,
    ) -> list[Record]:
        """Return the newest actions, optionally of some tools or statuses."""
        scan = self._table.scan(
            since=self._db._ts(since), until=self._db._ts(until), where=_where(tool=tool, status=status)
        )
        return _copies(scan, limit)


class Conversations(_Table):
    """Chat messages per session, with the backend, model, tokens and cost of each."""

    def add(
        self,
        session: str,
        role: str,
        content: str,
        *,
        backend: str | None = None,
        model: str | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        cost: float | None = None,
        tool_calls: list[Any] | None = None,
        ts: TimeLike | None = None,
    ) -> str:
        """Store one message of a session."""
        record = {
            "session": session, "role": role, "content": content, "backend": backend, "model": model,
            "tokens_in": tokens_in, "tokens_out": tokens_out, "cost": cost, "tool_calls": tool_calls or [],
        }  # fmt: skip
        return self._db._add(self._table, record, ts)

    def history(self, session: str, limit: int | None = None) -> list[Record]:
        """Return a session's last ``limit`` messages (all by default), oldest first."""
        newest = _copies(self._table.scan(where={"session": {session}}), limit)
        newest.reverse()
        return newest


class Snapshots(_Table):
    """Compact cluster snapshots (the hub takes one every 30 minutes)."""

    def add(self, snapshot: Mapping[str, Any], *, ts: TimeLike | None = None) -> str:
        """Store one compact snapshot."""
        return self._db._add(self._table, {"snapshot": dict(snapshot)}, ts)

    def latest(self, n: int = 1) -> list[Record]:
        """Return the newest ``n`` snapshots, newest first."""
        return _copies(self._table.scan(), n)

    def between(self, t0: TimeLike, t1: TimeLike) -> list[Record]:
        """Return the snapshots with ``t0 <= ts <= t1``, oldest first."""
        scan = self._table.scan(since=self._db._ts(t0), until=self._db._ts(t1), oldest_first=True)
        return _copies(scan, None)
