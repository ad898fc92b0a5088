"""SSH access to the simulated nodes: one port and one host key per node, one client key.

Start-up stays cheap: keys come from the seed (ed25519 through `cryptography`, already loaded
for the certificates), the listening sockets are bound at once, and the asyncssh server (whose
import alone costs ~0.4 s) is loaded in a thread and attached to those sockets afterwards; a
client that connects in between waits in the listen backlog. A node that is powered off or cut
off (node-offline) closes its port, so connecting is refused, and its sessions are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .model import Node
from .state import SimState

log = logging.getLogger(__name__)
USERNAME = "root"


def _key(rng: random.Random) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(rng.getrandbits(256).to_bytes(32, "big"))


def _openssh_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption())


def _openssh_public(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return raw.decode()


def client_address(bind_host: str) -> str:
    """The address a client on this machine uses for a listener bound to `bind_host`."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(bind_host, bind_host)


def _listen_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class Endpoint:
    """One node's SSH listener."""

    node: str
    port: int
    host_key: bytes  # OpenSSH private key (PEM)
    public_line: str
    sock: socket.socket | None = None  # bound, before the server is attached
    acceptor: Any = None  # asyncssh.SSHAcceptor while serving
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SshNodes:
    """The SSH servers of every node, following each node's reachability."""

    def __init__(self, sim: SimState, bind_host: str, directory: Path, base_port: int = 0) -> None:
        self.sim = sim
        self.bind_host = bind_host
        self.host = client_address(bind_host)
        self.directory = directory
        self.key_file = directory / "id_ed25519"
        self.known_hosts = directory / "known_hosts"
        self.endpoints: dict[str, Endpoint] = {}
        self.ready = asyncio.Event()
        self._module: ModuleType | None = None  # .sshd, once loaded
        self._client_public = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._prepare(base_port)
        sim.node_watchers.append(self._watch)

    def _prepare(self, base_port: int) -> None:
        """Derive the keys from the seed, bind the sockets, write key and known_hosts files."""
        rng = random.Random(self.sim.cluster.seed * 48271 + 11)
        client = _key(rng)
        self._client_public = _openssh_public(client)
        try:
            for index, name in enumerate(self.sim.cluster.nodes):
                key = _key(rng)
                sock = _listen_socket(self.bind_host, base_port + index if base_port else 0)
                port = sock.getsockname()[1]
                self.endpoints[name] = Endpoint(name, port, _openssh_private(key), _openssh_public(key), sock)
        except OSError:
            self._close_sockets()
            raise
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.key_file.write_bytes(_openssh_private(client))
        self.key_file.chmod(0o600)
        self.key_file.with_suffix(".pub").write_text(self._client_public + " jarvis-sim\n")
        lines = [f"[{self.host}]:{e.port} {e.public_line} {e.node}\n" for e in self.endpoints.values()]
        self.known_hosts.write_text("".join(lines))

    def _close_sockets(self) -> None:
        for endpoint in self.endpoints.values():
            if endpoint.sock is not None:
                endpoint.sock.close()
                endpoint.sock = None

    def info(self) -> dict[str, dict[str, Any]]:
        """Per node: what an SSH client (or the ssh plugin's `hosts` entry) needs."""
        return {
            name: {"host": self.host, "port": e.port, "username": USERNAME,
                   "key_file": str(self.key_file), "known_hosts": str(self.known_hosts)}
            for name, e in self.endpoints.items()
        }

    async def start(self) -> None:
        """Load the SSH server (off the event loop) and serve every reachable node."""
        try:
            self._module = await asyncio.to_thread(importlib.import_module, f"{__package__}.sshd")
            for name in self.endpoints:
                await self._sync(name)
        except Exception:
            # Refuse connections rather than leave them hanging in a backlog nobody serves.
            log.exception("the simulated nodes' SSH servers did not start")
            self._stopping = True
            self._close_sockets()
        finally:
            self.ready.set()

    def _watch(self, node: Node) -> None:
        if node.name in self.endpoints and not self._stopping:
            task = asyncio.get_running_loop().create_task(self._sync(node.name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _sync(self, name: str) -> None:
        """Make the node's listener match its state: serving while online, closed otherwise."""
        endpoint = self.endpoints[name]
        async with endpoint.lock:
            if self._stopping:
                return
            online = self.sim.cluster.nodes[name].online
            if not online:
                await self._close(endpoint)
                return
            if endpoint.sock is None and endpoint.acceptor is None:
                try:
                    endpoint.sock = _listen_socket(self.bind_host, endpoint.port)
                except OSError as exc:
                    log.warning("ssh for %s cannot listen on port %s again: %s", name, endpoint.port, exc)
                    return
            if self._module is not None and endpoint.acceptor is None:
                sock, endpoint.sock = endpoint.sock, None
                endpoint.acceptor = await self._module.serve(self.sim, name, sock, endpoint.host_key,
                                                      self._client_public, USERNAME)

    async def _close(self, endpoint: Endpoint) -> None:
        if endpoint.sock is not None:
            endpoint.sock.close()
            endpoint.sock = None
        if endpoint.acceptor is not None:
            acceptor, endpoint.acceptor = endpoint.acceptor, None
            assert self._module is not None
            await self._module.close(acceptor)

    async def stop(self) -> None:
        """Close every listener and session."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for endpoint in self.endpoints.values():
            await self._close(endpoint)
        with contextlib.suppress(ValueError):
            self.sim.node_watchers.remove(self._watch)
