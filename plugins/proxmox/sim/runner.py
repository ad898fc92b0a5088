"""Start the simulator in-process (async) or in a background thread (sync callers)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

from .server import SimHandle, start_server
from .state import Settings, SimState


async def start_simulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    nodes: int = 4,
    guests: int = 12,
    seed: int | None = None,
    task_seconds: float = 1.5,
    tick_seconds: float = 2.0,
    boot_seconds: float | None = None,
    auth_fail_delay: float = 0.0,
    wol_port: int = 0,
    ssh: bool = True,
    ssh_port: int = 0,
) -> SimHandle:
    """Start a simulated PVE cluster serving HTTPS on host:port (0 = a free port).

    With `ssh`, every node also serves a shell over SSH: on consecutive ports from `ssh_port`,
    or on free ports when it is 0 (see `SimHandle.ssh_hosts`).
    """
    if nodes < 1 or guests < 0:
        raise ValueError("need nodes >= 1 and guests >= 0")
    settings = Settings(
        task_seconds=task_seconds,
        boot_seconds=boot_seconds,
        tick_seconds=tick_seconds,
        auth_fail_delay=auth_fail_delay,
    )

    def factory(fingerprint: str) -> SimState:
        return SimState.create(
            nodes=nodes, guests=guests, seed=seed, settings=settings,
            local_fingerprint=fingerprint,
        )

    return await start_server(factory, host=host, port=port, wol_port=wol_port, ssh=ssh, ssh_port=ssh_port)


class ThreadedSimulator:
    """Runs a simulator on its own event loop in a daemon thread; use as a context manager."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.handle: SimHandle | None = None

    def start(self, timeout: float = 30.0) -> SimHandle:
        """Start the loop thread and the simulator; return its handle."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start_simulator(**self._kwargs), self._loop)
        self.handle = future.result(timeout)
        return self.handle

    def call(self, fn: Any, *args: Any, timeout: float = 10.0) -> Any:
        """Run `fn(*args)` on the simulator's loop (state is not thread-safe) and return it."""

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the simulator and its thread."""
        if self.handle is not None:
            future = asyncio.run_coroutine_threadsafe(self.handle.stop(), self._loop)
            with_timeout: concurrent.futures.Future[None] = future
            with_timeout.result(timeout)
            self.handle = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SimHandle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
