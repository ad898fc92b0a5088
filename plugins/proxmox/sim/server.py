"""The HTTPS server: pveproxy-like request handling for /api2/json and the /_sim admin API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from . import faults
from .actions import wake
from .api import Ctx, build_router, check_perm
from .auth import Identity, extract_auth_value
from .cert import write_certificates
from .errors import ApiError, AuthFailed, NodeUnreachable, ParamError, internal
from .router import Raw, Result, Router, verify
from .ssh import SshNodes
from .state import SimState

log = logging.getLogger(__name__)
BASE_RE = re.compile(r"^/api2/([a-z][a-z0-9]+)(/.*)?$")
JSON_CT = "application/json;charset=UTF-8"
HEADERS = {"Server": "pve-api-daemon/3.0", "Cache-Control": "max-age=0", "Pragma": "no-cache"}


def _reason(message: str) -> str:
    return message.split("\n", 1)[0] or "Error"


def _json(status: int, payload: Any, reason: str | None = None) -> web.Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return web.Response(
        status=status, reason=reason, body=body, content_type=None,
        headers={**HEADERS, "Content-Type": JSON_CT},
    )


def error_response(err: ApiError) -> web.Response:
    """PVE's error answer: reason phrase = first message line; body keeps the full text."""
    payload: dict[str, Any] = {"data": None, "message": err.message}
    if err.errors:
        payload["errors"] = err.errors
    return _json(err.status, payload, _reason(err.message))


def _bare(status: int, reason: str) -> web.Response:
    """A response with no body (pveproxy's 401 and its 595 when a node is unreachable)."""
    return web.Response(status=status, reason=_reason(reason), headers=HEADERS)


class Dispatcher:
    """Turns aiohttp requests into PVE answers using the simulator state."""

    def __init__(self, sim: SimState, router: Router) -> None:
        self.sim = sim
        self.router = router

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Entry point for every request."""
        if request.path.startswith("/_sim/"):
            return await self.admin(request)
        local = self.sim.cluster.nodes[self.sim.cluster.local]
        if not local.online:
            # The node we talk to is down: nothing answers, the connection just dies.
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)  # never sent: the transport is gone
        m = BASE_RE.match(request.path)
        if not m:
            return _bare(501, f"no such file '{request.path}'")
        if m.group(1) not in ("json", "extjs"):
            return _bare(501, f"no formatter for uri {m.group(2) or '/'}, {m.group(1)}")
        rel = m.group(2) or "/"
        try:
            return await self._api(request, rel)
        except ApiError as err:
            return error_response(err)
        except NodeUnreachable as err:
            return _bare(595, err.reason)
        except AuthFailed as err:
            if self.sim.settings.auth_fail_delay > 0:
                await asyncio.sleep(self.sim.settings.auth_fail_delay)
            return _bare(401, err.reason)

    async def _api(self, request: web.Request, rel: str) -> web.StreamResponse:
        method = request.method
        found = self.router.match(method, rel)
        self.sim.stats[found[0].key if found else f"{method} (not implemented)"] += 1
        public = found is not None and found[0].template == "/access/ticket"
        identity = None
        if not public:
            identity = self.sim.auth.authenticate(
                method, dict(request.headers), request.headers.get("Cookie")
            )
        path_params = found[1] if found else {}
        delay = faults.latency_seconds(self.sim, path_params.get("node"))
        if delay > 0:
            await asyncio.sleep(delay)
        injected = faults.injected_error(self.sim, rel)
        if injected is not None:
            raise injected
        if found is None:
            raise ApiError(501, f"Method '{method} {rel}' not implemented")
        route, path_params = found
        raw = await _raw_params(request)
        for key, value in path_params.items():
            raw[key] = value
        params = verify(route.params, raw)
        if route.proxyto:
            self._proxy_check(params["node"])
        if identity is not None:
            check_perm(route, params, identity)
        result = route.handler(self.sim, Ctx(params, identity or Identity("", "")))
        return self._ok(result)

    def _proxy_check(self, name: str) -> None:
        """pveproxy forwards node-scoped calls; unknown or unreachable nodes fail here."""
        node = self.sim.cluster.nodes.get(name)
        if node is None:
            raise internal(
                f"hostname lookup '{name}' failed - failed to get address info for: {name}: "
                "Name or service not known"
            )
        if not node.online:
            raise NodeUnreachable(node.unreachable or "No route to host")

    @staticmethod
    def _ok(result: Any) -> web.Response:
        total = None
        if isinstance(result, Result):
            result, total = result.data, result.total
        if isinstance(result, Raw):
            body = b'{"data":' + result.body + b"}"
        else:
            payload: dict[str, Any] = {"data": result}
            if total is not None:
                payload["total"] = total
            body = json.dumps(payload, separators=(",", ":")).encode()
        return web.Response(body=body, headers={**HEADERS, "Content-Type": JSON_CT})

    async def admin(self, request: web.Request) -> web.Response:
        """The /_sim/ admin API (auth: the initial API token, even after a rotation)."""
        value = extract_auth_value(request.headers.get("Authorization"), "PVEAPIToken") or ""
        secret = value.rsplit("=", 1)[-1] if "=" in value else ""
        if secret not in (self.sim.admin_secret, self.sim.token.secret):
            return web.json_response({"error": "admin API needs the simulator's API token"},
                                     status=401)
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                return web.json_response({"error": "body must be JSON"}, status=400)
            if not isinstance(body, dict):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
        try:
            data = faults.admin(self.sim, request.method, request.path[len("/_sim"):], body)
        except faults.AdminError as err:
            return web.json_response({"error": str(err)}, status=err.status)
        return web.json_response(data)


async def _raw_params(request: web.Request) -> dict[str, str]:
    """Merge body (form or JSON) and query parameters; query wins, as in pve-http-server."""
    raw: dict[str, str] = {}
    if request.method in ("POST", "PUT") and request.can_read_body:
        if request.content_type == "application/json":
            try:
                data = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ParamError({"body": "unable to parse JSON body"}) from exc
            if isinstance(data, dict):
                for key, value in data.items():
                    raw[key] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        else:
            form = await request.post()
            for key in form:
                raw[key] = str(form.getall(key)[-1])
    for key in request.query:
        raw[key] = request.query.getall(key)[-1]
    raw.pop("_dc", None)
    return raw


class WolProtocol(asyncio.DatagramProtocol):
    """Receives Wake-on-LAN magic packets and boots the node whose MAC they carry."""

    def __init__(self, sim: SimState) -> None:
        self.sim = sim

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """Parse a magic packet (6 x 0xFF + 16 x MAC) and wake the matching node."""
        if len(data) < 102 or data[:6] != b"\xff" * 6:
            return
        mac = data[6:12]
        if data[6:102] != mac * 16:
            return
        text = ":".join(f"{b:02X}" for b in mac)
        for node in self.sim.cluster.nodes.values():
            if node.mac.upper() == text:
                wake(self.sim, node)


@dataclass
class SimHandle:
    """A running simulator: where it listens and how to authenticate."""

    url: str
    host: str
    port: int
    token_id: str
    token_secret: str
    readonly_token_id: str
    readonly_token_secret: str
    password: str
    fingerprint: str
    ca_file: str
    seed: int
    wol_port: int
    state: SimState
    _runner: web.AppRunner
    _tick: asyncio.Task[None]
    _wol: asyncio.DatagramTransport
    _tmpdir: Path
    ssh: SshNodes | None = None
    _ssh_start: asyncio.Task[None] | None = None

    @property
    def ssh_hosts(self) -> dict[str, dict[str, Any]]:
        """Per node: host, port, username, key_file, known_hosts (empty without SSH)."""
        return self.ssh.info() if self.ssh else {}

    async def ssh_ready(self, within_s: float = 30.0) -> None:
        """Wait until every reachable node's SSH server answers (they start in the background)."""
        if self.ssh is not None:
            async with asyncio.timeout(within_s):
                await self.ssh.ready.wait()

    def info(self) -> dict[str, Any]:
        """JSON-able connection details (what the CLI prints with --json)."""
        return {
            "url": self.url, "host": self.host, "port": self.port,
            "token_id": self.token_id, "token_secret": self.token_secret,
            "readonly_token_id": self.readonly_token_id,
            "readonly_token_secret": self.readonly_token_secret,
            "user": "root@pam", "password": self.password,
            "fingerprint": self.fingerprint, "ca_file": self.ca_file,
            "seed": self.seed, "wol_port": self.wol_port,
            "nodes": list(self.state.cluster.nodes), "ssh": self.ssh_hosts,
        }

    async def stop(self) -> None:
        """Stop serving and remove the certificate and key directory."""
        self._tick.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._tick
        if self._ssh_start is not None:
            self._ssh_start.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ssh_start
        if self.ssh is not None:
            await self.ssh.stop()
        self._wol.close()
        await self._runner.cleanup()
        shutil.rmtree(self._tmpdir, ignore_errors=True)


async def _ticker(sim: SimState) -> None:
    while True:
        await asyncio.sleep(sim.settings.tick_seconds)
        sim.tick()
        sim.cache.warm()


async def start_server(
    state_factory: Any, *, host: str, port: int, wol_port: int, ssh: bool = True, ssh_port: int = 0
) -> SimHandle:
    """Create certificates and state, then serve HTTPS (and SSH per node); used by `start_simulator`."""
    tmpdir = Path(tempfile.mkdtemp(prefix="pve-sim-"))
    certs = await asyncio.to_thread(write_certificates, tmpdir, "pve1", host)
    sim: SimState = state_factory(certs.fingerprint)
    dispatcher = Dispatcher(sim, build_router())
    app = web.Application(client_max_size=64 * 1024)
    app.router.add_route("*", "/{tail:.*}", dispatcher.handle)
    ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ssl_ctx.load_cert_chain(certs.cert_file, certs.key_file)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_ctx, backlog=512)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    loop = asyncio.get_running_loop()
    wol, _ = await loop.create_datagram_endpoint(lambda: WolProtocol(sim), local_addr=(host, wol_port))
    try:
        nodes_ssh = await asyncio.to_thread(SshNodes, sim, host, tmpdir / "ssh", ssh_port) if ssh else None
    except OSError:
        wol.close()
        await runner.cleanup()
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    tick = asyncio.create_task(_ticker(sim))
    url_host = f"[{host}]" if ":" in host else host
    return SimHandle(
        url=f"https://{url_host}:{bound}", host=host, port=bound,
        token_id=sim.token.full_id, token_secret=sim.token.secret,
        readonly_token_id=sim.readonly_token.full_id,
        readonly_token_secret=sim.readonly_token.secret,
        password=sim.auth.password, fingerprint=certs.fingerprint, ca_file=str(certs.ca_file),
        seed=sim.cluster.seed, wol_port=wol.get_extra_info("sockname")[1], state=sim,
        _runner=runner, _tick=tick, _wol=wol, _tmpdir=tmpdir,
        ssh=nodes_ssh, _ssh_start=asyncio.create_task(nodes_ssh.start()) if nodes_ssh else None,
    )
