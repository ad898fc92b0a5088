"""Running sources: each polls on its own schedule, backs off on failure, and feeds the store."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from jarvis.core.api import Entity, PluginContext, Snapshot, Source, UpdateFailed, utcnow
from jarvis.core.redact import redact
from jarvis.core.state import StateStore

log = logging.getLogger("jarvis.sources")
MAX_BACKOFF_S = 300.0


class SourceRunner:
    """One registered source: its poll loop, its lock, and its last metrics."""

    def __init__(self, ctx: PluginContext, source: Source, store: StateStore) -> None:
        self.ctx = ctx
        self.source = source
        self.store = store
        self.owner = f"{ctx.name}:{source.name}"
        self.failures = 0
        self.last_ok: str | None = None  # when the last poll succeeded (ISO-8601 UTC)
        self.metrics: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> bool:
        """Poll once now; return True on success. Concurrent callers share one poll."""
        if self._lock.locked():
            async with self._lock:
                return self.failures == 0
        async with self._lock:
            started_wall, started_cpu = time.perf_counter(), time.process_time()
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
                # arrives as the poll finishes, and stop() would then hang.
                async with asyncio.timeout(max(30.0, self.source.interval_s)):
                    snapshot = await self.source.poll()
                if not isinstance(snapshot, Snapshot):
                    raise TypeError(f"poll() returned {type(snapshot).__name__}, not a Snapshot")
            except Exception as error:  # noqa: BLE001 - a failing source degrades its plugin only
                self.failures += 1
                if isinstance(error, UpdateFailed):
                    reason = str(error)
                elif isinstance(error, TimeoutError):
                    reason = "poll timed out"
                else:
                    reason = f"{type(error).__name__}: {error}"
                reason = redact(reason)
                if self.ctx.source_errors.get(self.source.name) != reason:
                    log.warning("%s: source %s failed: %s", self.ctx.name, self.source.name, reason)
                self.ctx.source_errors[self.source.name] = reason
                self.metrics.update(last_error=reason, failures=self.failures)
                self._mark_stale()
                return False
            changes = self.store.apply(self.owner, snapshot)
            self.failures = 0
            self.last_ok = utcnow()
            if self.ctx.source_errors.pop(self.source.name, None) is not None:
                log.warning("%s: source %s recovered", self.ctx.name, self.source.name)
            self.metrics = {
                "duration_ms": round((time.perf_counter() - started_wall) * 1000, 1),
                "cpu_ms": round((time.process_time() - started_cpu) * 1000, 1),
                "entities": len(snapshot.entities),
                "changes": len(changes),
                **snapshot.metrics,
            }
            return True

    def _mark_stale(self) -> None:
        """Flag what this source published as ``stale`` (with ``as_of``), for kinds that describe it."""
        if self.last_ok is None:
            return
        index = self.ctx.hub.registrations.kind_index
        stale = []
        for key in self.store.owned(self.owner):
            data = self.store.get(key)
            kind = index.kind_of(key)
            if data is not None and kind is not None and kind.freshness and not data.get("stale"):
                stale.append(Entity(key, {**data, "stale": True, "as_of": self.last_ok}))
        if stale:
            self.store.apply(self.owner, Snapshot(stale, complete=False))

    def start(self) -> None:
        """Start the poll loop."""
        self._task = asyncio.create_task(self._loop(), name=f"source:{self.owner}")

    def wake(self) -> None:
        """Poll again now instead of waiting for the interval."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the poll loop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def next_delay(self) -> float:
        """Interval when healthy; doubling (capped) after consecutive failures."""
        interval = self.source.interval_s
        if not self.failures:
            return interval
        return min(max(interval, MAX_BACKOFF_S), min(interval, 5.0) * 2 ** min(self.failures, 10))

    async def _loop(self) -> None:
        while True:
            await self.run_once()
            self._wake.clear()
            try:
                async with asyncio.timeout(self.next_delay()):
                    await self._wake.wait()
            except TimeoutError:
                pass
