"""The dashboard app: a Quart app over the hub (the full MQTT-over-WebSocket UI comes later)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jarvis.core.hub import Hub
from quart import Quart, jsonify, render_template


def create_app(hub: Hub) -> Quart:
    """Build the dashboard app for one hub, with every plugin's blueprints under /plugins/<name>/."""
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

    routes = hub.registrations.web_routes
    for name, blueprint in routes.items.items():
        app.register_blueprint(blueprint, url_prefix=f"/plugins/{routes.owner[name]}")  # type: ignore[arg-type]
    return app
