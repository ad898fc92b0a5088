"""Plain-English formatting of sizes, shares, durations and lists."""

from __future__ import annotations

from collections.abc import Sequence

_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]


def size(value: int | float | None) -> str:
    """Return bytes as "3.2 GiB" ("?" when unknown)."""
    if value is None:
        return "?"
    amount = float(value)
    for unit in _UNITS:
        if abs(amount) < 1024 or unit == _UNITS[-1]:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} PiB"  # pragma: no cover - the loop returns


def pct(value: float | None) -> str:
    """Return a percentage as "12.5%" ("?" when unknown)."""
    return "?" if value is None else f"{value:.1f}%"


def share(used: int | None, total: int | None) -> str:
    """Return "2.0 GiB of 8.0 GiB (25%)"."""
    if used is None:
        return "?"
    if not total:
        return size(used)
    return f"{size(used)} of {size(total)} ({100.0 * used / total:.0f}%)"


def duration(seconds: int | float | None) -> str:
    """Return seconds as "3 days 4 hours", "5 hours 2 minutes" or "40 seconds"."""
    if seconds is None:
        return "unknown"
    left = int(seconds)
    parts: list[tuple[int, str]] = []
    for span, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if left >= span:
            parts.append((left // span, unit))
            left %= span
    if not parts:
        return plural(left, "second")
    return " ".join(plural(count, unit) for count, unit in parts[:2])


def plural(count: int, noun: str, many: str | None = None) -> str:
    """Return "1 guest" or "3 guests"."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def join(items: Sequence[str], word: str = "and") -> str:
    """Return "a", "a and b", "a, b and c"."""
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def capped(items: Sequence[str], limit: int = 10) -> str:
    """Join at most ``limit`` items, then say how many more there are."""
    items = list(items)
    if len(items) <= limit:
        return join(items)
    return f"{', '.join(items[:limit])} and {len(items) - limit} more"
