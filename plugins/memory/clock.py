"""Time in the memory store: record ids, ``ts`` strings and the periods that name segment files.

An id is 16 hex digits: 11 of milliseconds since the epoch, 5 of a sequence within that
millisecond. Ids sort by arrival, are unique within a store, and tell which period (and so
which segment files) can hold their record.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_SEQ_MAX = 0xFFFFF
PERIOD_SECONDS = {"hour": 3600, "day": 86400}
_PERIOD_FORMAT = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d"}

TimeLike = str | datetime | float | int | timedelta


class IdClock:
    """Issues strictly increasing ids from a wall clock that may stand still or step back."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._ms = 0
        self._seq = 0

    def now_ms(self) -> int:
        """Return the wall clock in milliseconds."""
        return int(self._clock() * 1000)

    def next(self) -> tuple[str, int]:
        """Return a new id and the millisecond it carries."""
        ms = self.now_ms()
        if ms > self._ms:
            self._ms, self._seq = ms, 0
        elif self._seq < _SEQ_MAX:
            self._seq += 1
        else:
            self._ms, self._seq = self._ms + 1, 0
        return f"{self._ms:011x}{self._seq:05x}", self._ms

    def observe(self, record_id: str) -> None:
        """Make every later id sort after ``record_id`` (called with the newest id on disk)."""
        ms, seq = int(record_id[:11], 16), int(record_id[11:], 16)
        if (ms, seq) > (self._ms, self._seq):
            self._ms, self._seq = ms, seq


def id_ms(record_id: str) -> int:
    """Return the millisecond an id was issued at (raises ValueError for a foreign id)."""
    if len(record_id) != 16:
        raise ValueError(f"not a memory record id: {record_id!r}")
    return int(record_id[:11], 16)


def format_ts(seconds: float) -> str:
    """Format epoch seconds as ``jarvis.core.utcnow()`` does: ``2026-12-01T20:15:30Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def ts_seconds(ts: str) -> int:
    """Return the epoch seconds of a ``ts`` string in the store's format."""
    return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))


def normalize_ts(value: TimeLike, now: float | None = None) -> str:
    """Return ``value`` as a store ``ts`` string; a timedelta counts back from ``now``."""
    if isinstance(value, str):
        if TS_RE.fullmatch(value):
            return value
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return format_ts(parsed.timestamp())
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_ts(value.timestamp())
    if isinstance(value, timedelta):
        return format_ts((time.time() if now is None else now) - value.total_seconds())
    return format_ts(float(value))


def period_bounds(ms: int, period: str) -> tuple[str, int, int]:
    """Return the name, first and past-the-end millisecond of the period holding ``ms``."""
    size = PERIOD_SECONDS[period]
    start = ms // 1000 - (ms // 1000) % size
    return time.strftime(_PERIOD_FORMAT[period], time.gmtime(start)), start * 1000, (start + size) * 1000


def period_start_ms(name: str, period: str) -> int:
    """Return the first millisecond of a period from its name."""
    return calendar.timegm(time.strptime(name, _PERIOD_FORMAT[period])) * 1000
