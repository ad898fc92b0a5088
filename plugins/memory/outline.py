"""Things in state, outlined from their kinds' descriptions (``bridge/schema``): names, lines, counts, tops.

Hub-free: a kind is the JSON object ``bridge/schema`` publishes for it (``EntityKind.describe()``),
so a third-party kind gets context lines and snapshot figures with no code here. A thing's
line shows its ``summary`` fields with their units; "notable" things are those whose status
is not a normal one (running, online, reachable...) or that an open alert names.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Key = tuple[str, ...]
Thing = tuple[Key, Mapping[str, Any]]
_PLACEHOLDER = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
NORMAL = frozenset({"running", "online", "ok", "up", "healthy", "active", "true"})
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


@dataclass(frozen=True)
class KindView:
    """One entity kind as ``bridge/schema`` describes it, with what outlining needs precomputed."""

    name: str
    segments: tuple[str, ...]
    description: str
    name_field: str | None
    fields: dict[str, Mapping[str, Any]]
    summary: tuple[str, ...]  # summary fields in order, the name and status fields apart
    status: str | None  # the field telling whether the thing is in a normal state
    numeric: tuple[str, ...]  # numeric summary fields: what "top" lists rank by
    literals: tuple[tuple[int, str], ...]  # (position, segment) of the topic's literal segments
    id_positions: tuple[int, ...]  # positions of its placeholders

    @classmethod
    def from_schema(cls, kind: Mapping[str, Any]) -> KindView:
        """Build a view of one kind of ``bridge/schema``."""
        fields = {f["name"]: f for f in kind.get("fields", ())}
        summary = [n for n, f in fields.items() if f.get("summary")]
        status = next((n for n in summary if n == "status"), None) or next(
            (n for n in summary if fields[n].get("type") == "boolean" or fields[n].get("values")), None)
        name_field = kind.get("name_field")
        numeric = tuple(n for n in summary if fields[n].get("type") in ("number", "integer") and n != status)
        segments = tuple(str(kind["topic"]).split("/"))
        return cls(
            name=str(kind["kind"]), segments=tuple(str(kind["topic"]).split("/")),
            description=str(kind.get("description", "")), name_field=name_field, fields=fields,
            summary=tuple(n for n in summary if n not in (name_field, status)), status=status, numeric=numeric,
            literals=tuple((i, s) for i, s in enumerate(segments) if not _PLACEHOLDER.match(s)),
            id_positions=tuple(i for i, s in enumerate(segments) if _PLACEHOLDER.match(s)),
        )

    @property
    def outlined(self) -> bool:
        """Whether things of this kind belong in a context (they have summary fields)."""
        return bool(self.summary or self.status)

    def matches(self, key: Key) -> bool:
        """Tell whether an entity key is of this kind."""
        return len(key) == len(self.segments) and all(key[i] == s for i, s in self.literals)

    def ids(self, key: Key) -> list[str]:
        """Return the placeholder values of a key, in order."""
        return [key[i] for i in self.id_positions]

    def label(self, name: str) -> str:
        """Return a field's short label (its ``label``, else its name in words)."""
        field = self.fields.get(name, {})
        return str(field.get("label") or name.removesuffix("_pct").replace("_", " "))


def kinds_from_schema(schema: Mapping[str, Any] | None) -> list[KindView]:
    """Return the views of every kind in a ``bridge/schema`` payload (none when absent)."""
    return [KindView.from_schema(k) for k in (schema or {}).get("kinds", ()) if k.get("kind") and k.get("topic")]


def group(state: Mapping[Key, Mapping[str, Any]], kinds: Sequence[KindView]) -> dict[str, list[Thing]]:
    """Return the things of each outlined kind, by kind name (kinds with no thing are left out)."""
    by_head: dict[tuple[int, str], list[KindView]] = {}
    for kind in kinds:
        if kind.outlined:
            by_head.setdefault((len(kind.segments), kind.segments[0]), []).append(kind)
    out: dict[str, list[Thing]] = {}
    for key, data in state.items():
        for kind in by_head.get((len(key), key[0]) if key else (0, ""), ()):
            if data is not None and kind.matches(key):
                out.setdefault(kind.name, []).append((key, data))
                break
    return out


def display_name(kind: KindView, key: Key, data: Mapping[str, Any]) -> str:
    """Return a thing's name: its ids (``105``, ``pve1/local``), then its name when it differs."""
    ids = kind.ids(key)
    name = data.get(kind.name_field) if kind.name_field else None
    shown = "/".join(ids)
    if name not in (None, "") and str(name) not in ids:
        shown = f"{shown} {name}" if shown else str(name)
    return shown or kind.name


def format_value(field: Mapping[str, Any], value: Any) -> str:
    """Format one value with its field's unit (bytes as GiB, seconds as days, percent...)."""
    if value is None:
        return "?"
    if isinstance(value, bool):
        return "yes" if value else "no"
    unit = field.get("unit")
    if isinstance(value, int | float):
        if unit == "B":
            return human_bytes(value)
        if unit == "s":
            return human_seconds(value)
        text = f"{value:,.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"
        return f"{text} {unit}" if unit else text
    if isinstance(value, list | tuple):
        return ",".join(format_value({}, v) for v in value[:6]) + ("..." if len(value) > 6 else "")
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def human_bytes(value: float) -> str:
    """Return a byte count as ``1.5 GiB``."""
    size = float(value)
    for unit in _BYTE_UNITS:
        if abs(size) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"  # pragma: no cover - the loop always returns


def human_seconds(value: float) -> str:
    """Return a duration as ``3d 4h``, ``5h 10m`` or ``42s``."""
    seconds = int(value)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{secs}s"


def field_text(kind: KindView, name: str, data: Mapping[str, Any]) -> str:
    """Return ``label value`` for one field; ``x_used`` shows ``used/total`` when ``x_total`` exists."""
    field = kind.fields.get(name, {})
    value = data.get(name)
    if name.endswith("_used") and isinstance(value, int | float):
        total = data.get(name.removesuffix("_used") + "_total")
        if isinstance(total, int | float) and total and field.get("unit") == "B":
            return f"{kind.label(name)} {human_bytes(value).split()[0]}/{human_bytes(total)}"
    return f"{kind.label(name)} {format_value(field, value)}"


def status_text(kind: KindView, data: Mapping[str, Any]) -> str | None:
    """Return the status as shown (a boolean status shows its label: ``reachable``/``not reachable``)."""
    if kind.status is None:
        return None
    value = data.get(kind.status)
    if isinstance(value, bool):
        return kind.label(kind.status) if value else f"not {kind.label(kind.status)}"
    return None if value is None else str(value)


def line(kind: KindView, key: Key, data: Mapping[str, Any], extra: Iterable[str] = ()) -> str:
    """Return a thing's one-line view: name, status, then its summary fields (and ``extra`` ones)."""
    parts = [p for p in (status_text(kind, data),) if p]
    for name in (*kind.summary, *extra):
        if data.get(name) is not None and not (name.endswith("_total") and name.removesuffix("_total") + "_used"
                                               in kind.summary):
            parts.append(field_text(kind, name, data))
    if data.get("template") is True:
        parts.append("template")
    return f"{display_name(kind, key, data)}: {', '.join(parts)}" if parts else display_name(kind, key, data)


def is_normal(kind: KindView, data: Mapping[str, Any]) -> bool:
    """Tell whether a thing is in a normal state (templates always are)."""
    if data.get("template") is True or kind.status is None:
        return True
    value = data.get(kind.status)
    return str(value).lower() in NORMAL


def status_counts(kind: KindView, things: Sequence[Thing]) -> Counter[str]:
    """Count the things by status as shown (templates apart)."""
    counts: Counter[str] = Counter()
    for _, data in things:
        counts["template" if data.get("template") is True else (status_text(kind, data) or "?")] += 1
    return counts


def top(kind: KindView, things: Sequence[Thing], field: str, n: int) -> list[Thing]:
    """Return the ``n`` things with the highest value of ``field`` (things without one left out)."""
    ranked = [t for t in things if type(t[1].get(field)) in (int, float)]
    if n < len(ranked) // 4:
        return heapq.nlargest(n, ranked, key=lambda t: t[1][field])
    ranked.sort(key=lambda t: t[1][field], reverse=True)
    return ranked[:n]


def ranked_text(kind: KindView, ranked: Sequence[Thing], field: str) -> str:
    """Return ``name value, name value...`` for a top list."""
    info = kind.fields.get(field, {})
    return ", ".join(f"{display_name(kind, k, d)} {format_value(info, d.get(field))}" for k, d in ranked)
