"""The dashboard: a Quart app over the hub (the full MQTT-over-WebSocket UI comes later)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvis.core.hub import Hub
from quart import Quart, jsonify, render_template


def create_app(hub: Hub) -> Quart:
    """Build the dashboard app for one hub, with every plugin's registered blueprints."""
    here = Path(__file__).resolve().parent
    # Explicit paths: Flask's package lookup does not understand the `jarvis` namespace package.
    app = Quart(__name__, root_path=str(here), instance_path=str(here / "instance"))

    @app.get("/")
    async def index() -> str:
        """Show the cluster at a glance."""
        state = hub.state
        return await render_template(
            "index.html",
            info=hub.info(),
            nodes=sorted(state.items(("node",)).items()),
            guests=sorted(state.items(("guest",)).items(), key=lambda kv: int(kv[0][1]) if kv[0][1].isdigit() else 0),
            cluster=state.get(("cluster", "state")) or {},
            ws_url=hub.config.web.mqtt_ws_url,
            base=hub.config.mqtt.base_topic,
        )

    @app.get("/api/health")
    async def health() -> Any:
        """Return the hub's health as JSON."""
        return jsonify(hub.health())

    for blueprint in hub.web_routes:
        app.register_blueprint(blueprint)
    return app


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


async def serve(hub: Hub, host: str, port: int) -> WebServer:
    """Serve the dashboard with hypercorn on ``host:port`` (0 picks a free port)."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config as HyperConfig

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    sock.close()
    config = HyperConfig()
    config.bind = [f"{host}:{port}"]
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
    return WebServer(url=f"http://{host}:{port}/", port=port, task=task, shutdown=shutdown)
