"""Running the hub as a process: logging, signals, the MQTT bridge and the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from jarvis.core.config import Config
from jarvis.core.hub import Hub
from jarvis.core.redact import install_log_redaction

log = logging.getLogger("jarvis")


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with secrets masked."""
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("asyncssh", "aiohttp.access", "hypercorn.access", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_log_redaction()


def tune_gc() -> None:
    """Collect garbage less often: every poll allocates thousands of short-lived payloads.

    With CPython's default threshold (700) a big cluster's fast cycle triggers dozens of
    young-generation passes and the odd full one over the whole state; 50,000 keeps memory
    bounded and takes most of that off each cycle (see docs/performance.md).
    """
    gc.set_threshold(50_000, 20, 100)


def stop_event() -> asyncio.Event:
    """Return an event set by Ctrl-C or SIGTERM."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, event.set)
    return event


@contextlib.asynccontextmanager
async def running_services(
    config: Config, *, web: bool = True, hub_factory: Callable[[Config], Hub] | None = None
) -> AsyncIterator[tuple[Hub, Any, Any]]:
    """Start hub, MQTT bridge and (optionally) the dashboard; stop them in reverse order."""
    from jarvis.mqtt.bridge import MqttBridge

    hub = (hub_factory or Hub)(config)
    await hub.start()
    bridge = MqttBridge(hub)
    await bridge.start()
    server = None
    try:
        if web and config.web.enabled:
            # Importing the web stack blocks the loop for a moment: let the broker link come up first.
            with contextlib.suppress(TimeoutError):
                await bridge.wait_connected(3)
            from jarvis.web import serve

            server = await serve(hub, config.web.host, config.web.port)
        yield hub, bridge, server
    finally:
        if server is not None:
            await server.stop()
        await bridge.stop()
        await hub.stop()


async def run_forever(config: Config) -> int:
    """Run until a signal arrives; return the exit status."""
    tune_gc()
    stopping = stop_event()
    async with running_services(config) as (_hub, bridge, server):
        try:
            await bridge.wait_connected(10)
        except TimeoutError:
            log.warning("broker %s:%s not reachable yet; retrying in the background",
                        config.mqtt.host, config.mqtt.port)
        if server is not None:
            log.info("dashboard on %s", server.url)
        await stopping.wait()
        log.info("stopping")
    return 0
