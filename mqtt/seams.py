"""The private parts of aiomqtt and paho that the broker link uses for speed, each behind one
small function that knows the versions it was written for.

aiomqtt has no bulk publish and no way to drop a half-open connection; paho has both, privately.
Each seam below checks at import that the installed libraries are the major versions it was
written against (aiomqtt 2, paho-mqtt 2) and that the private members exist; otherwise it says
so and the link takes the public path (one message at a time; no explicit abandon), which is
slower but behaves the same. ``FAST_PATH`` is the switch tests use to force the public path.
"""

from __future__ import annotations

import contextlib
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import paho.mqtt.client as paho

log = logging.getLogger("jarvis.mqtt")
WRITTEN_FOR = {"aiomqtt": "2.", "paho-mqtt": "2."}


def _versions_match() -> bool:
    for package, major in WRITTEN_FOR.items():
        try:
            installed = version(package)
        except PackageNotFoundError:
            return False
        if not installed.startswith(major):
            log.info("%s %s is not the %sx the bulk publisher was written for: publishing one "
                     "message at a time", package, installed, major)
            return False
    return all(hasattr(paho.Client, name) for name in ("_packet_queue", "_mid_generate"))


FAST_PATH: bool = _versions_match()
"""True when the private members below are known to work; tests set it False."""


def paho_client(client: Any) -> paho.Client | None:
    """Return the paho client inside an ``aiomqtt.Client`` (None when it cannot be reached)."""
    inner = getattr(client, "_client", None)
    return inner if isinstance(inner, paho.Client) else None


def queue_packets(client: Any, stream: bytes) -> bool:
    """Queue pre-encoded QoS 0 PUBLISH packets on the connection as one write; False if unable.

    paho writes its outgoing queue in order, so a message published the ordinary way afterwards
    is written after this stream: awaiting it awaits the stream.
    """
    inner = paho_client(client) if FAST_PATH else None
    if inner is None or not inner.is_connected():
        return False
    # Its own message id, so aiomqtt can never mistake it for a pending QoS 1 publish.
    mid = inner._mid_generate()
    inner._packet_queue(paho.PUBLISH, stream, mid, 0, paho.MQTTMessageInfo(mid))
    return True


def abandon(client: Any) -> None:
    """Close the socket of a connection attempt that never got its CONNACK.

    aiomqtt leaves it open (and watched by the event loop) when the CONNACK times out, e.g. a
    3.1.1-only broker ignoring our MQTT 5 CONNECT: one leaked socket per attempt otherwise.
    """
    inner = paho_client(client)
    if inner is not None:
        with contextlib.suppress(Exception):
            inner.disconnect()
