"""Wake-on-LAN magic packets over UDP (hub-free client around the ``wakeonlan`` package)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import wakeonlan
from jarvis.plugins.network.addr import normalize_mac, validate_address

DEFAULT_BROADCAST = "255.255.255.255"
DEFAULT_PORT = 9
PACKET_BYTES = 102  # 6 x 0xFF, then the MAC 16 times


class WakeError(Exception):
    """The packet could not be sent (name not resolvable, no route, socket refused)."""


@dataclass(frozen=True, slots=True)
class WakeResult:
    """What was sent and where to."""

    mac: str
    broadcast: str
    port: int
    bytes: int = PACKET_BYTES

    def to_dict(self) -> dict[str, object]:
        """Return the result as a JSON object."""
        return {
            "mac": self.mac,
            "broadcast": self.broadcast,
            "port": self.port,
            "bytes": self.bytes,
        }


async def wake(
    mac: str, broadcast: str = DEFAULT_BROADCAST, port: int = DEFAULT_PORT, timeout_s: float = 5.0
) -> WakeResult:
    """Send one magic packet for ``mac`` to ``broadcast:port``; raise ValueError or WakeError.

    UDP gives no delivery receipt: success means the packet left this machine, not that the
    target woke. ``broadcast`` may be a directed broadcast, a unicast IP or a hostname.
    """
    normal = normalize_mac(mac)
    target = validate_address(broadcast)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {port}")
    # wakeonlan resolves and sends with blocking calls; keep them off the event loop.
    send = asyncio.to_thread(wakeonlan.wake, normal, host=target, port=port)
    try:
        async with asyncio.timeout(timeout_s):
            await send
    except socket.gaierror as exc:
        raise WakeError(f"cannot resolve {target}: {exc.strerror or exc}") from exc
    except TimeoutError as exc:
        raise WakeError(f"sending to {target}:{port} took over {timeout_s:g} s") from exc
    except OSError as exc:
        raise WakeError(f"cannot send to {target}:{port}: {exc.strerror or exc}") from exc
    return WakeResult(mac=normal, broadcast=target, port=port)
