"""Running the hub as a process: the hub, its MQTT bridge and the dashboard, until a signal."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from jarvis.core.config import Config
from jarvis.core.hub import Hub
from jarvis.core.runner import stop_event, tune_gc
from jarvis.mqtt.bridge import MqttBridge
from jarvis.web import WebServer, serve

log = logging.getLogger("jarvis")


@contextlib.asynccontextmanager
async def running_services(
    config: Config, *, web: bool = True, hub_factory: Callable[[Config], Hub] | None = None
) -> AsyncIterator[tuple[Hub, MqttBridge, WebServer | None]]:
    """Start hub, MQTT bridge and (optionally) the dashboard; stop them in reverse order."""
    hub = (hub_factory or Hub)(config)
    await hub.start()
    bridge = MqttBridge(hub)
    await bridge.start()
    server = None
    try:
        if web and config.web.enabled:
            with contextlib.suppress(TimeoutError):
                await bridge.wait_connected(3)
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
