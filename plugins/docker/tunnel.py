"""An SSH tunnel from a local unix socket to a remote Docker socket (``ssh://user@host``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import asyncssh


class TunnelError(Exception):
    """The SSH connection or the socket forwarding could not be set up."""


class SshTunnel:
    """Keep one SSH connection forwarding ``local_path`` to the remote Docker socket.

    The local path stays the same across reconnects, so an HTTP client pointed at it keeps
    working after the tunnel is re-established by :meth:`ensure`.
    """

    def __init__(
        self,
        url: str,
        *,
        remote_socket: str = "/var/run/docker.sock",
        key_path: str | None = None,
        known_hosts: str | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "ssh" or not parts.hostname:
            raise ValueError(f"not an ssh://[user@]host[:port] URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 22
        self.username = parts.username
        self.remote_socket = remote_socket
        self.key_path = key_path
        self.known_hosts = known_hosts
        self.connect_timeout_s = connect_timeout_s
        # a private directory: anyone who can open the socket can drive the remote Docker
        self._dir = tempfile.mkdtemp(prefix="jarvis-docker-ssh-")
        os.chmod(self._dir, 0o700)
        self.local_path = str(Path(self._dir) / "docker.sock")
        self._conn: asyncssh.SSHClientConnection | None = None
        self._listener: asyncssh.SSHListener | None = None
        self._lock = asyncio.Lock()
        self._generation = 0

    @property
    def connected(self) -> bool:
        """Tell whether the SSH connection is up (the forwarding lives as long as it does)."""
        return self._conn is not None and not self._conn.is_closed()

    async def ensure(self) -> str:
        """Connect and forward if not already up; return the local socket path."""
        if self.connected:
            return self.local_path
        async with self._lock:
            if not self.connected:
                await self._connect()
        return self.local_path

    @property
    def generation(self) -> int:
        """How many times the tunnel has been (re)connected; identifies one connection."""
        return self._generation

    async def reconnect(self, generation: int) -> str:
        """Replace connection ``generation`` (it looks alive but is dead) with a new one.

        Concurrent callers that saw the same dead connection share one reconnect.
        """
        async with self._lock:
            if self._generation == generation or not self.connected:
                await self._connect()
        return self.local_path

    async def _connect(self) -> None:
        """Open the SSH connection and the unix socket forwarding (replacing stale ones)."""
        await self._drop()
        options: dict[str, object] = {
            "username": self.username,
            "connect_timeout": self.connect_timeout_s,
            "known_hosts": self.known_hosts if self.known_hosts else (),
        }
        if self.key_path:
            options["client_keys"] = [self.key_path]
        try:
            async with asyncio.timeout(self.connect_timeout_s + 1):
                conn = await asyncssh.connect(self.host, self.port, **options)  # type: ignore[arg-type]
        except TimeoutError as exc:
            raise TunnelError(f"ssh {self.host}:{self.port}: connect timed out") from exc
        except (OSError, asyncssh.Error) as exc:
            raise TunnelError(f"ssh {self.host}:{self.port}: {_describe(exc)}") from exc
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.local_path)  # left by a dropped connection; the listener needs it gone
        try:
            self._listener = await conn.forward_local_path(self.local_path, self.remote_socket)
        except (OSError, asyncssh.Error) as exc:
            conn.close()
            raise TunnelError(f"ssh {self.host}: forwarding failed: {_describe(exc)}") from exc
        self._conn = conn
        self._generation += 1

    async def _drop(self) -> None:
        """Close the current listener and connection, if any."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._conn is not None:
            self._conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.wait_closed(), 2)
            self._conn = None

    async def close(self) -> None:
        """Close the tunnel and remove the local socket directory."""
        await self._drop()
        shutil.rmtree(self._dir, ignore_errors=True)


def _describe(exc: BaseException) -> str:
    """A short, human-readable reason for an SSH failure."""
    if isinstance(exc, asyncssh.DisconnectError):
        return exc.reason or type(exc).__name__
    return str(exc) or type(exc).__name__
