"""The dashboard server: hypercorn serving ``jarvis.web.app`` for one hub."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from jarvis.core.hub import Hub


@dataclass
class WebServer:
    """A running dashboard server."""

    url: str
    port: int
    task: asyncio.Task[None]
    shutdown: asyncio.Event

    async def stop(self) -> None:
        """Stop serving."""
        self.shutdown.set()
        await asyncio.gather(self.task, return_exceptions=True)


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a TCP socket on ``host:port`` (0 picks a free port), ready to hand to the server."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


async def serve(hub: Hub, host: str, port: int) -> WebServer:
    """Serve the dashboard with hypercorn on ``host:port`` (0 picks a free port).

    The socket is bound here and handed to hypercorn by file descriptor, so the port found is
    the port served: nothing can take it in between.
    """
    # Quart and hypercorn load here, after the hub is online on the broker: their imports
    # take a moment the broker link should not wait for.
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config as HyperConfig
    from jarvis.web.app import create_app

    sock = bind_socket(host, port)
    port = sock.getsockname()[1]
    config = HyperConfig()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) it from here
    config.accesslog = None
    config.errorlog = None
    shutdown = asyncio.Event()
    app = create_app(hub)
    task = asyncio.create_task(hypercorn_serve(app, config, shutdown_trigger=shutdown.wait))  # type: ignore[arg-type]
    for _ in range(100):
        try:
            _reader, writer = await asyncio.open_connection(host, port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    shown = f"[{host}]" if ":" in host else host
    return WebServer(url=f"http://{shown}:{port}/", port=port, task=task, shutdown=shutdown)
