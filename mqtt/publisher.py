"""The state publisher: retained messages for what changed, deadbands for noisy metrics.

It compares each new payload with the one last *published* (not last polled), so slow drift
still gets out once it adds up, and a field inside its deadband never causes a message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import orjson
from jarvis.core import EntityKind, fields, slugify
from jarvis.core.entities import deadband_rules
from jarvis.core.state import Change, Key

log = logging.getLogger("jarvis.mqtt.publisher")
# Publishes retained messages in order and returns once they are written.
Send = Callable[[list[tuple[str, bytes]]], Awaitable[None]]

SEND_CHUNK = 1000  # messages per send: the event loop gets a turn between chunks
_NUMBERS = frozenset((int, float))  # bool is not one: a flag flip is always news

_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(value: Any) -> Any:
    """Replace lone UTF-16 surrogates (not encodable as UTF-8) with U+FFFD, keys included."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {_valid_text(str(k)) if not isinstance(k, str) else _valid_text(k): _valid_text(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_valid_text(v) for v in value]
    return value


def encode(data: Mapping[str, Any]) -> bytes:
    """Serialise a payload as compact UTF-8 JSON (orjson: thousands of payloads per cycle).

    Never fails on text: a lone surrogate (which no UTF-8 encoder takes) becomes U+FFFD, so one
    odd string cannot stop a reply, an event or the audit trail.
    """
    try:
        return orjson.dumps(data, default=str)
    except TypeError:  # non-string keys, integers beyond 64 bits, or text that is not valid Unicode
        clean = _valid_text(data)
        return json.dumps(clean, separators=(",", ":"), default=str, ensure_ascii=False).encode(
            "utf-8", "replace")


class StatePublisher:
    """Turns state changes into retained messages, coalescing bursts."""

    def __init__(
        self,
        base: str,
        send: Send,
        deadbands: Mapping[str, float] | None = None,
        relative: Mapping[str, float] | None = None,
        kinds: Iterable[EntityKind] = (),
    ) -> None:
        self.base = base
        self.send = send
        # field -> (band, relative?), from the fields' descriptions (the shared ones and every
        # registered kind's), then config; one lookup per changed field on the hot path.
        self._rules: dict[str, tuple[float, bool]] = {
            **deadband_rules(kinds, fields.SHARED),
            **{field: (band, True) for field, band in (relative or {}).items()},
            **{field: (band, False) for field, band in (deadbands or {}).items()},
        }
        self.published: dict[Key, Mapping[str, Any]] = {}
        self.pending: dict[Key, Mapping[str, Any] | None] = {}
        self.counters = {"state_messages": 0, "suppressed": 0, "cleared": 0}
        self.last_flush: dict[str, float] = {}  # messages and CPU of the last flush, for health
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
        self.pending.update(changes)  # a Change is a (key, data) pair
        self._ready.set()

    def differs(self, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
        """Return True when ``new`` is worth a message compared with ``old``."""
        # Runs for every changed entity of every cycle (thousands in a big cluster): one pass,
        # subscripts rather than method calls, a rule lookup only for fields that moved.
        if old is None or len(old) != len(new):
            return True
        rules = self._rules
        try:
            for field, value in new.items():
                before = old[field]
                if value == before:
                    continue
                rule = rules.get(field)
                if rule is None or type(value) not in _NUMBERS or type(before) not in _NUMBERS:
                    return True  # a non-numeric change, or no deadband for this field
                change = value - before
                if change < 0:
                    change = -change
                band, relative = rule
                if relative:
                    scale = before if before >= 0 else -before
                    if change > band * (scale if scale > 1 else 1):
                        return True
                elif change >= band:
                    return True
        except KeyError:  # same size, different fields
            return True
        return False

    async def flush(self) -> int:
        """Publish everything pending; return how many messages went out."""
        started = time.thread_time()
        pending, self.pending = self.pending, {}
        self._ready.clear()
        batch: list[tuple[str, bytes]] = []
        published, differs, topic = self.published, self.differs, self.topic
        suppressed = 0
        for key, data in pending.items():
            if data is None:
                if published.pop(key, None) is None:
                    continue
                batch.append((topic(key), b""))
                del self._topics[key]  # a vanished thing's topic is not needed again
                self.counters["cleared"] += 1
            elif differs(published.get(key), data):
                batch.append((topic(key), encode(data)))
                # A plain copy to compare the next change against: reading a dict subclass
                # (the store's immutable Payload) field by field costs more than the copy.
                published[key] = dict(data)
            else:
                suppressed += 1
        self.counters["suppressed"] += suppressed
        await self._send_all(batch)
        self.counters["state_messages"] += len(batch)
        if pending:
            self.last_flush = {"changes": len(pending), "messages": len(batch),
                               "cpu_ms": round((time.thread_time() - started) * 1000, 1)}
        return len(batch)

    async def republish_all(self, state: Mapping[Key, Mapping[str, Any]]) -> int:
        """Publish every current entity as it is (after a (re)connect)."""
        self.pending.clear()
        batch = [(self.topic(key), encode(data)) for key, data in state.items()]
        batch += [(self.topic(key), b"") for key in self.published if key not in state]
        self.published = {key: dict(data) for key, data in state.items()}
        await self._send_all(batch)
        self.counters["state_messages"] += len(batch)
        return len(state)

    async def _send_all(self, batch: list[tuple[str, bytes]]) -> None:
        # A failure aborts the flush; the next (re)connect republishes everything anyway.
        for start in range(0, len(batch), SEND_CHUNK):
            await self.send(batch[start:start + SEND_CHUNK])

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
