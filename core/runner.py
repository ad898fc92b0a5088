"""Running the hub as a process: logging with secrets masked, garbage collection, signals."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from jarvis.core.redact import install_log_redaction

log = logging.getLogger("jarvis")
tasks_log = logging.getLogger("jarvis.tasks")
RESTART_DELAY_S = 1.0


async def supervised(factory: Callable[[], Any], name: str, delay_s: float = RESTART_DELAY_S) -> None:
    """Run a background loop forever: if it dies, log why and start it again (cancel stops it)."""
    while True:
        try:
            await factory()
            tasks_log.error("background task %s returned; restarting it", name)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a dead loop would silently stop a whole capability
            tasks_log.exception("background task %s died; restarting it in %.0f s", name, delay_s)
        await asyncio.sleep(delay_s)


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
