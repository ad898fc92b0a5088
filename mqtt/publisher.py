"""The state publisher: retained messages for what changed, deadbands for noisy metrics.

It compares each new payload with the one last *published* (not last polled), so slow drift
still gets out once it adds up, and a field inside its deadband never causes a message.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import orjson
from jarvis.core import slugify
from jarvis.core.state import Change, Key

log = logging.getLogger("jarvis.mqtt.publisher")
Send = Callable[[str, bytes, bool], Awaitable[None]]

SEND_CHUNK = 64

# Absolute deadbands: change needed before a republish.
DEFAULT_DEADBANDS: dict[str, float] = {
    "cpu_pct": 2.0,
    "load": 0.1,
    "temperature_c": 1.0,
    "used_pct": 0.5,
    "uptime_s": 900.0,
    "rtt_ms": 5.0,
}
# Relative deadbands (fraction of the last published value) for byte counts and sizes.
DEFAULT_RELATIVE: dict[str, float] = {
    "mem_used": 0.02,
    "disk_used": 0.01,
    "used": 0.005,
    "netin": 0.10,
    "netout": 0.10,
}


def encode(data: Mapping[str, Any]) -> bytes:
    """Serialise a payload as compact UTF-8 JSON (orjson: thousands of payloads per cycle)."""
    try:
        return orjson.dumps(data, default=str)
    except TypeError:  # e.g. non-string keys, or integers beyond 64 bits
        return json.dumps(data, separators=(",", ":"), default=str, ensure_ascii=False).encode()


class StatePublisher:
    """Turns state changes into retained messages, coalescing bursts."""

    def __init__(
        self,
        base: str,
        send: Send,
        deadbands: Mapping[str, float] | None = None,
        relative: Mapping[str, float] | None = None,
    ) -> None:
        self.base = base
        self.send = send
        self.deadbands = {**DEFAULT_DEADBANDS, **(deadbands or {})}
        self.relative = {**DEFAULT_RELATIVE, **(relative or {})}
        self.published: dict[Key, Mapping[str, Any]] = {}
        self.pending: dict[Key, Mapping[str, Any] | None] = {}
        self.counters = {"state_messages": 0, "suppressed": 0, "cleared": 0}
        self._ready = asyncio.Event()
        self._topics: dict[Key, str] = {}

    def topic(self, key: Key) -> str:
        """Return the topic of an entity key."""
        topic = self._topics.get(key)
        if topic is None:
            topic = self._topics[key] = "/".join([self.base, *(slugify(part) for part in key)])
        return topic

    def on_changes(self, changes: Iterable[Change]) -> None:
        """Queue changes from the state store (latest wins for the same key)."""
        for change in changes:
            self.pending[change.key] = change.data
        self._ready.set()

    def differs(self, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
        """Return True when ``new`` is worth a message compared with ``old``."""
        if old is None or old.keys() != new.keys():
            return True
        for field, value in new.items():
            before = old[field]
            if value == before:
                continue
            numeric = isinstance(value, int | float) and isinstance(before, int | float)
            if not numeric or isinstance(value, bool) or isinstance(before, bool):
                return True
            band = self.deadbands.get(field)
            if band is not None:
                if abs(value - before) >= band:
                    return True
                continue
            fraction = self.relative.get(field)
            if fraction is not None:
                if abs(value - before) > fraction * max(abs(before), 1):
                    return True
                continue
            return True
        return False

    async def flush(self) -> int:
        """Publish everything pending; return how many messages went out."""
        pending, self.pending = self.pending, {}
        self._ready.clear()
        batch: list[tuple[str, bytes]] = []
        for key, data in pending.items():
            if data is None:
                if self.published.pop(key, None) is None:
                    continue
                batch.append((self.topic(key), b""))
                del self._topics[key]  # a vanished thing's topic is not needed again
                self.counters["cleared"] += 1
            elif self.differs(self.published.get(key), data):
                batch.append((self.topic(key), encode(data)))
                self.published[key] = data
            else:
                self.counters["suppressed"] += 1
        await self._send_all(batch)
        self.counters["state_messages"] += len(batch)
        return len(batch)

    async def republish_all(self, state: Mapping[Key, Mapping[str, Any]]) -> int:
        """Publish every current entity as it is (after a (re)connect)."""
        self.pending.clear()
        batch = [(self.topic(key), encode(data)) for key, data in state.items()]
        batch += [(self.topic(key), b"") for key in self.published if key not in state]
        self.published = dict(state)
        await self._send_all(batch)
        self.counters["state_messages"] += len(batch)
        return len(state)

    async def _send_all(self, batch: list[tuple[str, bytes]]) -> None:
        # Publishing a chunk concurrently is several times faster than one await per message;
        # a failure aborts the flush, and the next (re)connect republishes everything anyway.
        for start in range(0, len(batch), SEND_CHUNK):
            chunk = batch[start:start + SEND_CHUNK]
            await asyncio.gather(*(self.send(topic, payload, True) for topic, payload in chunk))

    async def run(self, connected: asyncio.Event) -> None:
        """Flush pending changes whenever some arrive and the link is up."""
        while True:
            await self._ready.wait()
            await connected.wait()
            try:
                await self.flush()
            except Exception as error:  # noqa: BLE001 - the link dropped mid-flush
                log.debug("flush interrupted: %s", error)
                await asyncio.sleep(0.5)
