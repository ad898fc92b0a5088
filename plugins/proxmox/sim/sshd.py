"""The asyncssh server behind each simulated node's SSH port (loaded lazily by `ssh.py`).

Public-key login as root with the simulator's client key only. An exec request runs its
command line through `shell.run_line`; a session without a command gets a shell: with a PTY
it prints a banner and a `root@pveN:~# ` prompt (asyncssh's line editor echoes and edits the
line; Ctrl-C abandons it), without one it reads commands from stdin; `exit` or Ctrl-D ends it.
No forwarding, no SFTP, no agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import replace
from typing import Any

import asyncssh

from . import shell
from .model import KERNEL_RELEASE, KERNEL_VERSION
from .shellenv import Where
from .state import SimState

BANNER = ("Linux {name} {release} {version} x86_64\n\n"
          "A simulated Proxmox VE node (jarvis sim): no real shell, but the usual tools answer\n"
          "from the simulator's state. Type 'help' for the list, 'exit' to leave.\n\n")


class NodeServer(asyncssh.SSHServer):
    """Accepts root with the simulator's client key; remembers its connection to drop it."""

    def __init__(self, client_key: asyncssh.SSHKey, username: str, conns: set[Any]) -> None:
        self._client_key = client_key
        self._username = username
        self._conns = conns
        self._conn: Any = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Track the connection so a node going offline can drop it."""
        self._conn = conn
        self._conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection."""
        self._conns.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        """Every user must authenticate."""
        return True

    def public_key_auth_supported(self) -> bool:
        """Keys are the only way in."""
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Only the configured user with the simulator's client key."""
        return username == self._username and key.public_data == self._client_key.public_data


class Acceptor:
    """A node's listener and the connections it accepted."""

    def __init__(self, listener: asyncssh.SSHAcceptor, conns: set[Any]) -> None:
        self.listener = listener
        self.conns = conns


async def serve(sim: SimState, node: str, sock: socket.socket, host_key: bytes, client_public: str,
                username: str) -> Acceptor:
    """Serve `node`'s shell on an already listening socket."""
    conns: set[Any] = set()
    client_key = asyncssh.import_public_key(client_public)

    async def session(process: asyncssh.SSHServerProcess[str]) -> None:
        where = Where(sim, sim.cluster.nodes[node], sim.hosts[node])
        try:
            if process.command is None:
                status = await _shell(process, where)
            else:
                status = await _exec(process, where, process.command)
            process.exit(status)
        except (asyncssh.Error, OSError, BrokenPipeError):
            process.close()  # the client or the node went away

    listener = await asyncssh.listen(
        sock=sock,
        server_factory=lambda: NodeServer(client_key, username, conns),
        server_host_keys=[asyncssh.import_private_key(host_key)],
        process_factory=session,
        encoding="utf-8",
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
        login_timeout=30,
    )
    return Acceptor(listener, conns)


async def close(acceptor: Acceptor) -> None:
    """Stop listening and drop every open connection (the node went away)."""
    acceptor.listener.close()
    for conn in list(acceptor.conns):
        conn.abort()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(acceptor.listener.wait_closed(), 5)


async def _exec(process: asyncssh.SSHServerProcess[str], where: Where, command: str) -> int:
    result = shell.run_line(where, command)
    if result.delay:
        await asyncio.sleep(result.delay)
    process.stdout.write(result.out)
    process.stderr.write(result.err)
    return result.status


async def _read_line(process: asyncssh.SSHServerProcess[str]) -> str | None:
    """The next line typed: "" at the end of input, None when Ctrl-C abandoned it."""
    while True:
        try:
            return await process.stdin.readline()
        except asyncssh.TerminalSizeChanged:
            continue  # the terminal was resized: keep reading the same line
        except (asyncssh.BreakReceived, asyncssh.SignalReceived):
            return None


async def _pause(process: asyncssh.SSHServerProcess[str], seconds: float) -> tuple[bool, str | None]:
    """Let a command run for `seconds`; Ctrl-C ends it early. Returns (interrupted, typed-ahead line)."""
    deadline = asyncio.get_running_loop().time() + seconds
    reader = asyncio.ensure_future(_read_line(process))
    done, _ = await asyncio.wait({reader}, timeout=seconds)
    if not done:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        return False, None
    typed = reader.result()
    if typed is None:
        return True, None
    await asyncio.sleep(max(0.0, deadline - asyncio.get_running_loop().time()))
    return False, typed


async def _shell(process: asyncssh.SSHServerProcess[str], where: Where) -> int:
    """A login shell: prompt, read a line, run it, until exit or end of input."""
    interactive = process.get_terminal_type() is not None
    where = replace(where, interactive=interactive)
    prompt = f"root@{where.node.name}:~# " if interactive else ""
    if interactive:
        process.stdout.write(BANNER.format(name=where.node.name, release=KERNEL_RELEASE, version=KERNEL_VERSION))
    status = 0
    line: str | None = None  # typed ahead while a command ran
    while True:
        if line is None:
            process.stdout.write(prompt)
            line = await _read_line(process)
            if line is None:
                process.stdout.write("^C\n")
                continue
        if not line:  # Ctrl-D or end of input
            if interactive:
                process.stdout.write("logout\n")
            return status
        text, line = line.strip(), None
        if text == "clear":
            process.stdout.write("\x1b[H\x1b[2J")
            continue
        if text in ("exit", "logout") or text.startswith("exit "):
            code = text.split()[1] if len(text.split()) > 1 else str(status)
            return int(code) % 256 if code.isdigit() else 2
        if not text:
            continue
        result = shell.run_line(where, text, "login" if interactive else "bash")
        if result.delay:
            interrupted, line = await _pause(process, result.delay)
            if interrupted:
                process.stdout.write("^C\n")
                status = 130
                continue
        process.stdout.write(result.out)
        # One terminal: errors land among the output (without a PTY they keep their own stream).
        (process.stdout if interactive else process.stderr).write(result.err)
        status = result.status
