"""A hub-free SSH client: one pooled asyncssh connection per host, safe argv exec, PTYs.

Nothing here knows about Jarvis. Hosts are :class:`HostSpec` entries by name; every command is
an argv list quoted with :func:`shlex.quote`, run under the remote ``timeout`` (coreutils) so an
overdue command is really killed: OpenSSH ignores signal requests on root sessions, and closing
a channel without a PTY leaves the remote process running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
from jarvis.plugins.ssh.pty import PtySession

__all__ = [
    "AuthFailed",
    "CommandTimeout",
    "ExecResult",
    "HostKeyRejected",
    "HostSpec",
    "PtySession",
    "SshClient",
    "SshError",
    "UnknownHost",
    "Unreachable",
]

_TERM_TYPE = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# After the remote `timeout` sends TERM, it waits this long before KILL; the client waits a
# little longer still for the exit status before it gives up on the channel.
_KILL_AFTER_S = 2.0
_CLIENT_GRACE_S = 5.0
_TIMEOUT_EXITS = (124, 137)  # coreutils timeout: TERM worked / KILL was needed


class SshError(Exception):
    """Base of every error the client raises; ``code`` says what kind of failure it is."""

    code = "upstream_error"


class UnknownHost(SshError):
    """The host name is not configured."""

    code = "not_found"


class Unreachable(SshError):
    """The host could not be reached (refused, no route, no answer in time)."""

    code = "unreachable"


class HostKeyRejected(SshError):
    """The server's host key is not the one in known_hosts (or none is known)."""

    code = "denied"


class AuthFailed(SshError):
    """The server refused our key, or the key file could not be read."""

    code = "denied"


class CommandTimeout(SshError):
    """The command ran past its timeout and was killed."""

    code = "timeout"

    def __init__(self, message: str, stdout: str = "", stderr: str = "") -> None:
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


@dataclass(frozen=True)
class HostSpec:
    """How to reach one host."""

    host: str
    port: int = 22
    username: str = "root"
    key_file: str = "~/.ssh/id_ed25519"
    known_hosts: str = "~/.ssh/known_hosts"
    # Accept and record an unknown host key in `known_hosts`; a later mismatch is refused.
    trust_on_first_use: bool = False


@dataclass
class ExecResult:
    """What a finished command returned."""

    exit_status: int | None
    stdout: str
    stderr: str
    duration_s: float
    exit_signal: str | None = None
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-able dict."""
        return {
            "exit_status": self.exit_status,
            "exit_signal": self.exit_signal,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "duration_s": round(self.duration_s, 3),
            "truncated": self.truncated,
        }


def build_command(
    argv: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None
) -> str:
    """Render argv as one remote command line: every argument quoted, run under ``timeout``."""
    if not argv or not argv[0]:
        raise ValueError("argv must name a program")
    if any("\0" in arg for arg in argv):
        raise ValueError("arguments cannot contain NUL bytes")
    parts: list[str] = []
    if env:
        parts.append("env")
        for name, value in env.items():
            if not _ENV_NAME.match(name):
                raise ValueError(f"invalid environment variable name {name!r}")
            parts.append(shlex.quote(f"{name}={value}"))
    parts += ["timeout", "-k", f"{_KILL_AFTER_S:g}", "--", f"{timeout_s:g}"]
    parts += [shlex.quote(arg) for arg in argv]
    return " ".join(parts)


@dataclass
class _Pooled:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    conn: asyncssh.SSHClientConnection | None = None


class SshClient:
    """Runs commands and PTYs on named hosts over one reused connection per host."""

    def __init__(
        self,
        hosts: Mapping[str, HostSpec],
        *,
        connect_timeout_s: float = 10.0,
        command_timeout_s: float = 30.0,
        long_command_timeout_s: float = 300.0,
        max_output_bytes: int = 1_000_000,
        keepalive_s: float = 30.0,
    ) -> None:
        self.hosts = dict(hosts)
        self.connect_timeout_s = connect_timeout_s
        self.command_timeout_s = command_timeout_s
        self.long_command_timeout_s = long_command_timeout_s
        self.max_output_bytes = max_output_bytes
        self.keepalive_s = keepalive_s
        self.connects: dict[str, int] = {}  # TCP connections opened per host, for health/tests
        self._pool: dict[str, _Pooled] = {}

    def spec(self, name: str) -> HostSpec:
        """Return the spec of a configured host or raise UnknownHost."""
        try:
            return self.hosts[name]
        except KeyError:
            raise UnknownHost(f"unknown host {name!r}") from None

    async def connection(self, name: str) -> asyncssh.SSHClientConnection:
        """Return the host's live pooled connection, opening it when needed (one at a time)."""
        spec = self.spec(name)
        pooled = self._pool.get(name)
        if pooled is None:
            pooled = self._pool[name] = _Pooled()
        async with pooled.lock:
            if pooled.conn is None or pooled.conn.is_closed():
                pooled.conn = await self._connect(name, spec)
            return pooled.conn

    def _discard(self, name: str, conn: asyncssh.SSHClientConnection) -> None:
        pooled = self._pool.get(name)
        if pooled is not None and pooled.conn is conn:
            pooled.conn = None
        conn.close()

    async def _connect(self, name: str, spec: HostSpec) -> asyncssh.SSHClientConnection:
        known_hosts, key_file = _expand(spec.known_hosts), _expand(spec.key_file)
        record = spec.trust_on_first_use and not _knows(known_hosts, spec.host, spec.port)
        options: dict[str, Any] = {
            "port": spec.port,
            "username": spec.username,
            "client_keys": [key_file],
            # Nothing to verify against yet under trust on first use: accept, record below.
            "known_hosts": None if record else known_hosts,
            "connect_timeout": self.connect_timeout_s,
            "keepalive_interval": self.keepalive_s,
            "keepalive_count_max": 3,
            "config": (),  # behave the same whatever ~/.ssh/config says
            "agent_path": None,
        }
        try:
            conn = await asyncio.wait_for(
                asyncssh.connect(spec.host, **options), self.connect_timeout_s + 1
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise HostKeyRejected(f"{name}: host key verification failed ({exc})") from None
        except asyncssh.PermissionDenied as exc:
            raise AuthFailed(f"{name}: authentication refused ({exc})") from None
        except (asyncssh.KeyImportError, FileNotFoundError, PermissionError) as exc:
            raise AuthFailed(f"{name}: cannot load key {spec.key_file} ({exc})") from None
        except (OSError, asyncssh.DisconnectError) as exc:
            # TimeoutError is an OSError: no answer within connect_timeout_s lands here too.
            reason = str(exc) or type(exc).__name__
            raise Unreachable(f"{name} ({spec.host}:{spec.port}): {reason}") from None
        if record:
            _record_host_key(Path(known_hosts), spec, conn)
        self.connects[name] = self.connects.get(name, 0) + 1
        return conn

    async def _open(self, name: str, **kwargs: Any) -> asyncssh.SSHClientProcess[Any]:
        """Open a channel on the pooled connection, reconnecting once if it had dropped."""
        for attempt in (1, 2):
            conn = await self.connection(name)
            try:
                return await conn.create_process(**kwargs)
            # A channel that never opened ran nothing, so retrying on a fresh connection is safe.
            except (asyncssh.ChannelOpenError, asyncssh.ConnectionLost, BrokenPipeError) as exc:
                self._discard(name, conn)
                if attempt == 2:
                    raise Unreachable(f"{name}: connection lost ({exc})") from None
        raise AssertionError("unreachable")

    async def exec(
        self,
        name: str,
        argv: Sequence[str],
        timeout_s: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run argv on a host and return its exit status and output (non-zero is not an error).

        Raises CommandTimeout when it runs longer than ``timeout_s`` (default: the command
        timeout); the remote process is killed.
        """
        limit = self.command_timeout_s if timeout_s is None else timeout_s
        if limit <= 0:
            raise ValueError("timeout must be positive")
        command = build_command(argv, limit, env)
        started = time.monotonic()
        proc = await self._open(name, command=command, encoding="utf-8", errors="replace")
        with contextlib.suppress(OSError):  # a command that already ended closed stdin
            proc.stdin.write_eof()
        reader = asyncio.gather(
            _drain(proc.stdout, self.max_output_bytes), _drain(proc.stderr, self.max_output_bytes)
        )
        try:
            (out, out_cut), (err, err_cut) = await asyncio.wait_for(
                reader, limit + _KILL_AFTER_S + _CLIENT_GRACE_S
            )
            await asyncio.wait_for(proc.wait_closed(), _CLIENT_GRACE_S)
        except TimeoutError:
            proc.close()  # the remote `timeout` did not end it: at least let go of the channel
            raise CommandTimeout(f"{name}: {argv[0]} ran over {limit:g} s and was killed") from None
        except asyncio.CancelledError:
            proc.close()
            raise
        except (asyncssh.Error, OSError) as exc:
            proc.close()
            raise Unreachable(f"{name}: connection lost while {argv[0]} ran ({exc})") from None
        if proc.exit_status is None and proc.exit_signal is None:
            # Streams ended without an exit status: the connection went away mid-command.
            raise Unreachable(f"{name}: connection lost while {argv[0]} ran")
        duration = time.monotonic() - started
        if proc.exit_status in _TIMEOUT_EXITS and duration >= limit:
            raise CommandTimeout(
                f"{name}: {argv[0]} ran over {limit:g} s and was killed", out, err
            )
        return ExecResult(
            exit_status=proc.exit_status,
            exit_signal=proc.exit_signal[0] if proc.exit_signal else None,
            stdout=out,
            stderr=err,
            duration_s=duration,
            truncated=out_cut or err_cut,
        )

    async def open_pty(
        self, name: str, term_type: str = "xterm-256color", cols: int = 80, rows: int = 24
    ) -> PtySession:
        """Start an interactive login shell on a PTY (on the pooled connection)."""
        if cols <= 0 or rows <= 0:
            raise ValueError("cols and rows must be positive")
        if not _TERM_TYPE.match(term_type):
            raise ValueError(f"invalid terminal type {term_type!r}")
        proc = await self._open(
            name, term_type=term_type, term_size=(cols, rows), encoding=None, stderr=asyncssh.STDOUT
        )
        return PtySession(proc, cols, rows)

    async def close(self) -> None:
        """Close every pooled connection (and with them any open PTY sessions)."""
        conns = [p.conn for p in self._pool.values() if p.conn is not None]
        self._pool.clear()
        for conn in conns:
            conn.close()
        for conn in conns:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 5)


async def _drain(stream: asyncssh.SSHReader[str], cap: int) -> tuple[str, bool]:
    """Read a stream to its end, keeping at most ``cap`` characters."""
    chunks: list[str] = []
    kept = 0
    cut = False
    while chunk := await stream.read(65536):
        if kept < cap:
            chunks.append(chunk[: cap - kept])
            cut = cut or len(chunk) > cap - kept
            kept += min(len(chunk), cap - kept)
        else:
            cut = True  # keep reading so the remote side is never blocked on a full window
    return "".join(chunks), cut


def _expand(path: str) -> str:
    return os.path.expanduser(path)


def _knows(path: str, host: str, port: int) -> bool:
    """Tell whether a known_hosts file holds any key for host:port."""
    if not os.path.exists(path):
        return False
    known = asyncssh.read_known_hosts(path)
    return bool(known.match(host, host, port)[0])


def _record_host_key(path: Path, spec: HostSpec, conn: asyncssh.SSHClientConnection) -> None:
    """Append the server's host key to our own known_hosts file (trust on first use)."""
    key = conn.get_server_host_key()
    if key is None:  # pragma: no cover - asyncssh always has one after the handshake
        return
    pattern = spec.host if spec.port == 22 else f"[{spec.host}]:{spec.port}"
    line = f"{pattern} {key.export_public_key('openssh').decode().strip()}\n"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.open("a") as out:
        out.write(line)
    path.chmod(0o600)
