"""Compact cluster snapshots: counts, per-thing figures for small kinds, tops and flags for big ones.

Hub-free and generic over the kinds of ``bridge/schema``: a kind with few things (nodes,
storages of a small cluster, hosts) keeps each thing's summary fields; a kind with many (5,000
guests) keeps its count by status, its top things by each numeric summary field and the names
of those not running, so a snapshot stays a few kilobytes whatever the cluster's size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jarvis.plugins.memory import outline
from jarvis.plugins.memory.outline import Key, KindView

PER_THING_UPTO = 64  # kinds with at most this many things keep every thing's figures
TOP = 5
FLAGGED = 20


def compact_snapshot(
    state: Mapping[Key, Mapping[str, Any]], kinds: Sequence[KindView], *, top: int = TOP
) -> dict[str, Any]:
    """Return a compact snapshot of the current state (JSON)."""
    groups = outline.group(state, kinds)
    by_name = {k.name: k for k in kinds}
    snapshot: dict[str, Any] = {"counts": {name: len(things) for name, things in sorted(groups.items())}}
    for name, things in sorted(groups.items()):
        kind = by_name[name]
        fields = [f for f in (kind.status, *kind.summary) if f]
        if len(things) <= PER_THING_UPTO:
            snapshot[name] = {
                outline.display_name(kind, key, data): {f: data.get(f) for f in fields if data.get(f) is not None}
                for key, data in things
            }
            continue
        part: dict[str, Any] = {"by_status": dict(outline.status_counts(kind, things).most_common())}
        for field in kind.numeric:
            values = [d[field] for _, d in things if isinstance(d.get(field), int | float)]
            if values:
                part[f"total_{field}"] = round(sum(values), 2)
                part[f"top_{field}"] = [[outline.display_name(kind, k, d), d[field]]
                                        for k, d in outline.top(kind, things, field, top)]
        flagged = [outline.display_name(kind, k, d) for k, d in things if not outline.is_normal(kind, d)]
        if flagged:
            part["not_normal"] = flagged[:FLAGGED]
            part["not_normal_count"] = len(flagged)
        snapshot[name] = part
    return snapshot
