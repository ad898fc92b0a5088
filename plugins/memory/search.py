"""Text search and export across the memory tables.

A search text is split on whitespace into terms; a record matches when every term occurs,
case-insensitively, as a substring of one of its values (strings and numbers, nested ones
included; not the record id). Segment files that cannot match are skipped on their raw bytes
(every ASCII term must occur in the lowercased file) before anything is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson
from jarvis.plugins.memory.segment import Record

if TYPE_CHECKING:
    from jarvis.plugins.memory.db import MemoryDB

SEGMENTED = ("events", "actions", "conversations", "snapshots")
SEARCH_DEFAULT = ("events", "actions", "conversations", "memories", "preferences")
ALL_TABLES = (*SEGMENTED, "memories", "preferences")


def terms_of(text: str) -> list[str]:
    """Return the lowercased terms of a search text."""
    return [term.lower() for term in text.split()]


def _collect(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, out)
    elif isinstance(value, list):
        for item in value:
            _collect(item, out)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out.append(str(value))


def matches(record: Record, terms: Iterable[str]) -> bool:
    """Tell whether every term occurs in some value of the record (case-insensitive)."""
    values: list[str] = []
    for key, value in record.items():
        if key != "id":
            _collect(value, values)
    haystack = "\n".join(values).lower()
    return all(term in haystack for term in terms)


def _byte_terms(terms: Iterable[str]) -> list[bytes]:
    # orjson escapes only '"', '\\' and control characters, and bytes.lower() folds only ASCII.
    return [t.encode() for t in terms if t.isascii() and t.isprintable() and '"' not in t and "\\" not in t]


def raw_prefilter(terms: Iterable[str]) -> Callable[[bytes], bool] | None:
    """Return a check on a segment's raw bytes that is False only when no record can match."""
    usable = _byte_terms(terms)
    if not usable:
        return None

    def may_match(raw: bytes) -> bool:
        low = raw.lower()
        return all(term in low for term in usable)

    return may_match


def record_matcher(terms: list[str]) -> Callable[[Record], bool]:
    """Return ``matches`` for ``terms``, behind a check of the record's JSON bytes (C speed)."""
    usable = _byte_terms(terms)

    def match(record: Record) -> bool:
        if usable:
            low = orjson.dumps(record).lower()
            if not all(term in low for term in usable):
                return False
        return matches(record, terms)

    return match


def search(
    db: MemoryDB,
    text: str,
    *,
    tables: Iterable[str] = SEARCH_DEFAULT,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
) -> list[Record]:
    """Return up to ``limit`` matching records of ``tables``, newest first, each with its ``table``."""
    terms = terms_of(text)
    if not terms:
        return []
    prefilter, match = raw_prefilter(terms), record_matcher(terms)
    found: list[Record] = []
    for name in tables:
        rows: Iterable[Record]
        if name in SEGMENTED:
            scan = db._tables[name].scan(since=since, until=until, prefilter=prefilter, cache=False)
            rows = (rec for rec in scan if match(rec))
        elif name == "memories":
            rows = (m for m in db.memories.active() if _within(m, since, until) and match(m))
        elif name == "preferences":
            rows = (p for p in db.preferences.records() if _within(p, since, until) and match(p))
        else:
            raise ValueError(f"unknown table {name!r}; tables are {', '.join(ALL_TABLES)}")
        found.extend({"table": name, **rec} for rec in islice(rows, limit))
    found.sort(key=lambda rec: (rec["ts"], rec.get("id", "")), reverse=True)
    return found[:limit]


def _within(record: Record, since: str | None, until: str | None) -> bool:
    return (not since or record["ts"] >= since) and (not until or record["ts"] <= until)


def export(
    db: MemoryDB, *, tables: Iterable[str] = ALL_TABLES, since: str | None = None, until: str | None = None
) -> Iterator[bytes]:
    """Yield the records of a time range as JSON lines, table by table, oldest first."""
    for name in tables:
        rows: Iterable[Record]
        if name in SEGMENTED:
            rows = db._tables[name].scan(since=since, until=until, cache=False, oldest_first=True)
        elif name == "memories":
            rows = reversed(db.memories.active())
        elif name == "preferences":
            rows = db.preferences.records()
        else:
            raise ValueError(f"unknown table {name!r}; tables are {', '.join(ALL_TABLES)}")
        for rec in rows:
            if _within(rec, since, until):
                yield orjson.dumps({"table": name, **rec}, option=orjson.OPT_APPEND_NEWLINE)
