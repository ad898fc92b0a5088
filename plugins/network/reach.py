"""Host reachability: ICMP echo without root where the OS allows it, else TCP connects.

Hub-free: knows nothing of jarvis.core. A probe never raises for an unreachable or
unresolvable host; it returns ``reachable=False`` with the method tried and why.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import icmplib
from jarvis.plugins.network.addr import is_ip

DEFAULT_TCP_PORTS = (22, 8006, 443, 80)  # ssh, Proxmox UI, https, http
_PING_INTERVAL_S = 0.2


@dataclass(slots=True)
class Probe:
    """The outcome of one reachability check."""

    address: str
    reachable: bool
    method: str  # "icmp", "tcp", "dns" (name did not resolve) or "none" (nothing to try)
    rtt_ms: float | None = None
    ip: str | None = None
    port: int | None = None  # the TCP port that answered
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the probe as a JSON object."""
        return asdict(self)


class Prober:
    """Checks hosts by ICMP echo, falling back to TCP connects when ICMP is not permitted.

    ICMP first tries the kernel's unprivileged ping sockets (needs the process's gid inside
    ``net.ipv4.ping_group_range``), then raw sockets (needs root or CAP_NET_RAW). The first
    mode that works is remembered; when neither does, ICMP is marked unavailable and every
    later probe goes straight to TCP. A host that ignores ICMP is also tried over TCP.
    """

    def __init__(
        self,
        timeout_s: float = 2.0,
        tcp_ports: Sequence[int] = DEFAULT_TCP_PORTS,
        icmp: bool = True,
    ) -> None:
        self.timeout_s = timeout_s
        self.tcp_ports = tuple(tcp_ports)
        self._icmp = icmp
        self._privileged: bool | None = None  # the ICMP mode that worked, once known
        self._icmp_unavailable = False

    @property
    def icmp_mode(self) -> str:
        """Return ``off``, ``unknown``, ``unprivileged``, ``privileged`` or ``unavailable``."""
        if not self._icmp:
            return "off"
        if self._icmp_unavailable:
            return "unavailable"
        if self._privileged is None:
            return "unknown"
        return "privileged" if self._privileged else "unprivileged"

    async def probe(self, address: str, count: int = 1, tcp_ports: Sequence[int] | None = None) -> Probe:
        """Check ``address`` (hostname or IP) with ``count`` echoes or one TCP round."""
        ports = self.tcp_ports if tcp_ports is None else tuple(tcp_ports)
        # A safety net over icmplib's per-packet timeouts and the TCP round.
        budget = (count + 2) * self.timeout_s + count * _PING_INTERVAL_S + 1.0
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the probe finishes, and then the hub cannot stop the poller.
        try:
            async with asyncio.timeout(budget):
                return await self._probe(address, count, ports)
        except TimeoutError:
            return Probe(address, False, "none", error=f"no answer within {budget:g} s")

    async def resolve(self, address: str) -> str | None:
        """Return the first IP ``address`` resolves to, or None when it does not resolve."""
        if is_ip(address):
            return address
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout_s):
                infos = await loop.getaddrinfo(address, None, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError, UnicodeError):
            return None
        return str(infos[0][4][0]) if infos else None

    async def _probe(self, address: str, count: int, ports: tuple[int, ...]) -> Probe:
        ip = await self.resolve(address)
        if ip is None:
            return Probe(address, False, "dns", error=f"cannot resolve {address}")
        result: Probe | None = None
        if self._icmp and not self._icmp_unavailable:
            result = await self._ping(address, ip, count)
            if result is not None and result.reachable:
                return result
        if ports:
            return await self._connect(address, ip, ports)
        return result or Probe(address, False, "none", ip=ip, error="ICMP off and no TCP ports")

    async def _ping(self, address: str, ip: str, count: int) -> Probe | None:
        """Echo ``ip``; return None when no ICMP mode is usable here."""
        modes = [self._privileged] if self._privileged is not None else [False, True]
        denied = 0
        for privileged in modes:
            try:
                host = await icmplib.async_ping(
                    ip,
                    count=count,
                    interval=_PING_INTERVAL_S,
                    timeout=self.timeout_s,
                    privileged=privileged,
                )
            except icmplib.SocketPermissionError:
                denied += 1
                continue
            except icmplib.ICMPLibError:
                continue  # e.g. no IPv6 ICMP socket: let TCP decide for this host
            self._privileged = privileged
            if host.is_alive:
                return Probe(address, True, "icmp", rtt_ms=round(host.avg_rtt, 3), ip=ip)
            return Probe(address, False, "icmp", ip=ip, error="no echo reply")
        if denied == len(modes):
            self._icmp_unavailable = True
        return None

    async def _connect(self, address: str, ip: str, ports: tuple[int, ...]) -> Probe:
        """Try all ``ports`` at once; the first completed handshake wins."""
        tasks = {asyncio.create_task(_connect_once(ip, port)): port for port in ports}
        errors: dict[int, str] = {}
        deadline = time.monotonic() + self.timeout_s
        try:
            pending = set(tasks)
            while pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                done, pending = await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    port = tasks[task]
                    error = task.exception()
                    if error is None:
                        rtt = round(task.result(), 3)
                        return Probe(address, True, "tcp", rtt_ms=rtt, ip=ip, port=port)
                    errors[port] = _describe(error)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for port in ports:
            errors.setdefault(port, "timed out")
        detail = ", ".join(f"tcp/{port} {errors[port]}" for port in ports)
        return Probe(address, False, "tcp", ip=ip, error=detail)


async def _connect_once(ip: str, port: int) -> float:
    """Open and close one TCP connection; return the handshake time in ms."""
    start = time.monotonic()
    _reader, writer = await asyncio.open_connection(ip, port)
    elapsed = (time.monotonic() - start) * 1000
    writer.close()
    return elapsed


def _describe(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return type(error).__name__
