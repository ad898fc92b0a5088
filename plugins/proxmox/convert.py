"""Tolerant converters for PVE API values (ints as strings, 0/1 booleans, absent fields)."""

from __future__ import annotations

import re
from typing import Any

_TAG_SPLIT = re.compile(r"[;,\s]+")


def as_int(value: Any) -> int | None:
    """Return an int from an int, float or numeric string; None when absent or garbled."""
    if type(value) is int:  # the common case, thousands of times per poll: keep it cheap
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None


def as_float(value: Any) -> float | None:
    """Return a float from a number or numeric string; None when absent or garbled."""
    if type(value) is float:
        return value
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_bool(value: Any) -> bool:
    """Return PVE's 0/1 (or "0"/"1", true/false) as a bool; absent is False."""
    if type(value) is int:
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def pct(fraction: Any) -> float | None:
    """Turn PVE's 0..1 cpu fraction into a percentage with two decimals."""
    if type(fraction) is float or type(fraction) is int:
        return round(fraction * 100.0, 2)
    value = as_float(fraction)
    return None if value is None else round(value * 100.0, 2)


def used_pct(used: int | None, total: int | None) -> float | None:
    """Return used/total as a percentage, None when the total is unknown or zero."""
    if used is None or not total:
        return None
    return round(used * 100.0 / total, 2)


def parse_tags(value: Any) -> list[str]:
    """Split PVE's tag string (``a;b``; older versions also use ``,`` or spaces)."""
    if isinstance(value, list):
        return [str(v) for v in value if str(v)]
    if not value:
        return []
    return [t for t in _TAG_SPLIT.split(str(value)) if t]


def opt_str(value: Any) -> str | None:
    """Return a string, or None for an absent or empty value."""
    if type(value) is str:
        return value or None
    return None if value is None else str(value)
