"""Memory store: what happened, what Jarvis did and what it was told, in crash-safe tinydb files.

Hub-free library; see docs/memory.md. The plugin glue (hooks, tools, context) builds on it.
"""

from jarvis.plugins.memory.db import DEFAULT_RETENTION, FlushStats, MemoryDB, MemoryLocked, MemoryReadOnly, Retention
from jarvis.plugins.memory.small import TIERS
from jarvis.plugins.memory.storage import AtomicJSONStorage, atomic_write

__all__ = [
    "DEFAULT_RETENTION",
    "TIERS",
    "AtomicJSONStorage",
    "FlushStats",
    "MemoryDB",
    "MemoryLocked",
    "MemoryReadOnly",
    "Retention",
    "atomic_write",
]
