"""Replay recorded answers through the fast tier: decode, parse, entities, store, publisher.

    .venv/bin/python bench/record_resources.py 50 5000 7          # once: -> /tmp/jarvis-bodies.json
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.7 .venv/bin/python bench/replay_cycle.py 7
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.1 .venv/bin/python bench/replay_cycle.py 1

The instructions of N cycles minus those of 1 (start-up and the first, all-new cycle) are the
steady-state cost of N-1 cycles; run it with two checkouts' venvs to compare versions
(docs/performance.md). Broker I/O is left out: the publisher's output is counted, not sent.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from typing import Any

import orjson
from jarvis.core.api import Snapshot
from jarvis.core.state import StateStore
from jarvis.mqtt.publisher import StatePublisher
from jarvis.plugins.proxmox.entities import ClusterModel, all_entities
from jarvis.plugins.proxmox.models import parse_cluster_resources, parse_cluster_status
from jarvis.plugins.proxmox.resources import decode_resources

try:  # the publisher takes the plugin's kinds since the entity descriptions exist
    from jarvis.plugins.proxmox.kinds import KINDS

    OPTIONS: dict[str, Any] = {"kinds": KINDS}
except ImportError:
    OPTIONS = {}


async def replay(bodies: dict[str, Any], cycles: int) -> int:
    """Run ``cycles`` recorded answers through the tier; return the messages published."""
    status = parse_cluster_status(orjson.loads(bodies["status"])["data"])
    store = StateStore()
    sent: list[tuple[str, bytes]] = []

    async def count(messages: list[tuple[str, bytes]]) -> None:
        sent.extend(messages)

    publisher = StatePublisher("jarvis", count, **OPTIONS)
    store.subscribe(publisher.on_changes)
    model = ClusterModel()
    for body in bodies["resources"][:cycles]:
        model.resources = parse_cluster_resources(decode_resources(body.encode()), model.resources.guests)
        model.status = status
        model.has_data = True
        store.apply("proxmox:cluster", Snapshot(all_entities(model), complete=True))
        await publisher.flush()
    return len(sent)


if __name__ == "__main__":
    gc.set_threshold(50_000, 20, 100)  # as the hub does (tune_gc)
    with open("/tmp/jarvis-bodies.json", encoding="utf-8") as file:
        recorded = json.load(file)
    print("messages", asyncio.run(replay(recorded, int(sys.argv[1]) if len(sys.argv) > 1 else 7)))
