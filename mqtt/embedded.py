"""The demo's fallback broker: amqtt in this process, when mosquitto is not installed."""

from __future__ import annotations

import logging
from typing import Any

from jarvis.mqtt.broker import find_free_port

log = logging.getLogger("jarvis.mqtt.broker")


class EmbeddedBroker:
    """amqtt running in this process: MQTT 3.1.1 only, anonymous, loopback (demo fallback)."""

    def __init__(self, port: int = 0, ws_port: int = 0) -> None:
        self.host = "127.0.0.1"
        self.port = port or find_free_port()
        self.ws_port = ws_port or find_free_port()
        self.users: dict[str, tuple[str, str]] = {}
        self._broker: Any = None

    def config(self) -> dict[str, Any]:
        """Return the amqtt broker configuration (amqtt >= 0.11 `plugins` format)."""
        return {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{self.host}:{self.port}"},
                "ws": {"type": "ws", "bind": f"{self.host}:{self.ws_port}"},
            },
            # An explicit plugin map also leaves out the default $SYS and packet loggers.
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }

    async def start(self) -> EmbeddedBroker:
        """Start listening on both ports."""
        from amqtt.broker import Broker  # lazy: only the fallback needs amqtt

        self._broker = Broker(self.config())
        await self._broker.start()
        return self

    async def aclose(self) -> None:
        """Shut the broker down."""
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None


async def start_embedded_broker(port: int = 0, ws_port: int = 0) -> EmbeddedBroker:
    """Start amqtt in-process on loopback; use only when mosquitto is unavailable."""
    log.warning(
        "mosquitto not found: using the embedded amqtt broker (MQTT 3.1.1 only, "
        "anonymous, not for heavy traffic); install mosquitto for the full experience"
    )
    return await EmbeddedBroker(port, ws_port).start()
