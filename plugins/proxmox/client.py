"""A hub-free Proxmox VE API client: proxmoxer over HTTPS, API token, pinning and failover."""

from __future__ import annotations

import contextvars
import hashlib
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from jarvis.plugins.proxmox import transport
from jarvis.plugins.proxmox.transport import send, session_of, use_fast_json
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import SSLError as Urllib3SSLError

DEFAULT_PORT = 8006
_NODE_PATH = re.compile(r"^/?nodes/([^/]+)(/|$)")
_PERM = re.compile(r"\(([^,()]+),\s*([^()]+)\)")
_CALLS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("pve_calls", default=None)


class PveError(Exception):
    """Any failure talking to Proxmox VE."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PveUnreachable(PveError):
    """No endpoint answered (connection refused, timeout, TLS failure)."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class PveTlsError(PveUnreachable):
    """The server certificate was not trusted (CA or pinned fingerprint mismatch)."""


class PveAuthError(PveError):
    """HTTP 401: the API token was rejected."""

    def __init__(self, message: str, token_id: str) -> None:
        super().__init__(message)
        self.token_id = token_id


class PvePermissionError(PveError):
    """HTTP 403: the token lacks a privilege; ``privilege`` is PVE's own text."""

    def __init__(self, message: str, token_id: str, privilege: str, path: str | None) -> None:
        super().__init__(message)
        self.token_id = token_id
        self.privilege = privilege
        self.path = path


class PveNodeOffline(PveError):
    """A node-scoped request failed because that node is down (HTTP 595 or a read timeout)."""

    def __init__(self, message: str, node: str) -> None:
        super().__init__(message)
        self.node = node


class PveUpstreamError(PveError):
    """Any other HTTP error from PVE (4xx parameter errors, 5xx failures)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One API endpoint (a cluster node's pveproxy)."""

    host: str
    port: int = DEFAULT_PORT

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """Accept ``host``, ``host:port``, ``[v6]:port`` or ``https://host:port[/...]``."""
        raw = text.strip()
        if not raw:
            raise ValueError("empty endpoint")
        parts = urlsplit(raw if "://" in raw else f"https://{raw}")
        if parts.scheme != "https":
            raise ValueError(f"endpoint {text!r}: the PVE API is served over https only")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise ValueError(f"endpoint {text!r}: invalid port") from None
        if not parts.hostname:
            raise ValueError(f"endpoint {text!r}: no host name")
        return cls(parts.hostname, port)

    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``https://pve1:8006``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"


def normalize_fingerprint(text: str) -> str:
    """Return a SHA-256 fingerprint as 64 lowercase hex digits; accept PVE's colon form."""
    digits = re.sub(r"[\s:]", "", text).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise ValueError(
            f"fingerprint {text!r} is not a SHA-256 fingerprint (32 hex bytes, "
            "e.g. 'AB:CD:...' as shown under node > System > Certificates)"
        )
    return digits


def cert_fingerprint(der: bytes) -> str:
    """Return the SHA-256 fingerprint of a DER certificate in PVE's colon-hex form."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2))


class _PinnedConnection(HTTPSConnection):
    """An HTTPS connection that accepts the peer only if its certificate is pinned."""

    pins: frozenset[str] = frozenset()

    def connect(self) -> None:
        """Connect, then compare the peer certificate's SHA-256 with the pinned set."""
        super().connect()
        sock = self.sock
        der = sock.getpeercert(binary_form=True) if hasattr(sock, "getpeercert") else None
        if not der:
            self.close()
            raise Urllib3SSLError("the server presented no certificate to check the pin against")
        seen = cert_fingerprint(der)
        if normalize_fingerprint(seen) not in self.pins:
            self.close()
            raise Urllib3SSLError(f"certificate fingerprint {seen} is not pinned")
        self.is_verified = True  # by the pin, so urllib3 need not warn


class PinnedAdapter(HTTPAdapter):
    """A requests adapter whose HTTPS pools check the peer certificate fingerprint.

    CA verification is off for pinned connections (PVE's self-signed certificates fail it);
    the fingerprint comparison replaces it.
    """

    def __init__(self, fingerprints: Sequence[str], pool_maxsize: int = 10) -> None:
        pins = frozenset(normalize_fingerprint(f) for f in fingerprints)
        conn_cls = type("PinnedConnection", (_PinnedConnection,), {"pins": pins})
        self._pool_cls = type("PinnedPool", (HTTPSConnectionPool,), {"ConnectionCls": conn_cls})
        super().__init__(pool_maxsize=pool_maxsize, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Build the pool manager with our pinned HTTPS pool class."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": HTTPConnectionPool,
            "https": self._pool_cls,
        }

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        """Send with CA verification off: the pinned connection does the check."""
        return super().send(
            request, stream=stream, timeout=timeout, verify=False, cert=cert, proxies=proxies
        )


@contextmanager
def count_calls() -> Iterator[list[int]]:
    """Count the HTTP requests made in this context (threads started via to_thread included)."""
    counter = [0]
    token = _CALLS.set(counter)
    try:
        yield counter
    finally:
        _CALLS.reset(token)


class PveClient:
    """Synchronous PVE API client; call it from a worker thread (``asyncio.to_thread``)."""

    def __init__(
        self,
        endpoints: Sequence[str | Endpoint],
        token_id: str,
        token_secret: str,
        *,
        verify_ssl: bool = True,
        ca_file: str | Path | None = None,
        fingerprints: Sequence[str] = (),
        connect_timeout_s: float = 5.0,
        timeout_s: float = 15.0,
        pool_size: int = 10,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        user, sep, token_name = token_id.partition("!")
        if not sep or "@" not in user or not token_name:
            raise ValueError(f"token id {token_id!r} is not 'user@realm!tokenname'")
        self.token_id = token_id
        self.endpoints = [e if isinstance(e, Endpoint) else Endpoint.parse(e) for e in endpoints]
        if fingerprints:
            verify: bool | str = False  # the pinned adapter checks instead
        elif ca_file is not None:
            verify = str(ca_file)
        else:
            verify = verify_ssl
        self._apis = []
        for endpoint in self.endpoints:
            api = ProxmoxAPI(
                endpoint.host,
                port=endpoint.port,
                user=user,
                token_name=token_name,
                token_value=token_secret,
                verify_ssl=verify,
                timeout=(connect_timeout_s, timeout_s),
                backend="https",
                service="PVE",
            )
            if fingerprints:
                session_of(api).mount("https://", PinnedAdapter(fingerprints, pool_maxsize=pool_size))
            elif transport.FAST_PATH:
                session_of(api).mount("https://", HTTPAdapter(pool_maxsize=pool_size, max_retries=0))
            # /cluster/resources of a big cluster is megabytes of JSON every fast cycle:
            # decoding it with orjson instead of json is most of the plugin's CPU budget.
            use_fast_json(api)
            self._apis.append(api)
        self._active = 0
        self._lock = threading.Lock()
        self.total_calls = 0

    @property
    def active_endpoint(self) -> Endpoint:
        """Return the endpoint that answered last."""
        return self.endpoints[self._active]

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` (relative to /api2/json) and return its ``data``."""
        return self.request("get", path, **params)

    def get_decoded(self, path: str, decode: Callable[[bytes], Any], **params: Any) -> Any:
        """GET ``path`` and return ``decode(body)``: for answers worth a decoder of their own."""
        return self.request("get", path, decode, **params)

    def post(self, path: str, **data: Any) -> Any:
        """POST to ``path`` and return its ``data`` (usually a task UPID)."""
        return self.request("post", path, **data)

    def close(self) -> None:
        """Close every endpoint's HTTP session."""
        for api in self._apis:
            if transport.FAST_PATH:
                session_of(api).close()

    def request(
        self, method: str, path: str, decode: Callable[[bytes], Any] | None = None, /, **kwargs: Any
    ) -> Any:
        """Run one API request, failing over to the next endpoint when one is down."""
        node = _node_of(path)
        failures: list[str] = []
        timed_out = tls = False
        start = self._active
        count = len(self._apis)
        for step in range(count):
            index = (start + step) % count
            endpoint = self.endpoints[index]
            try:
                result = send(self._apis[index](path.strip("/")), method, kwargs, decode)
            except ResourceException as error:
                self._count()
                mapped = self._map_http_error(error, node, path)
                if mapped is not None:
                    raise mapped from None
                failures.append(f"{endpoint.url}: {error.status_code} {error.content}".strip())
                continue
            except requests.exceptions.SSLError as error:
                tls = True
                failures.append(f"{endpoint.url}: TLS: {_root_cause(error)}")
                continue
            except requests.exceptions.ReadTimeout:
                self._count()
                if node is not None:
                    raise PveNodeOffline(f"node {node} did not answer in time", node) from None
                if method != "get":
                    # The request may have reached PVE: never replay an action elsewhere.
                    raise PveUnreachable(f"{endpoint.url}: timed out", timeout=True) from None
                timed_out = True
                failures.append(f"{endpoint.url}: timed out")
                continue
            except requests.exceptions.ConnectTimeout:
                timed_out = True
                failures.append(f"{endpoint.url}: connect timed out")
                continue
            except requests.exceptions.ConnectionError as error:
                failures.append(f"{endpoint.url}: {_root_cause(error)}")
                continue
            self._count()
            if index != self._active:
                with self._lock:
                    self._active = index
            return result
        message = "Proxmox VE unreachable: " + "; ".join(failures)
        if tls:
            raise PveTlsError(message)
        raise PveUnreachable(message, timeout=timed_out and len(failures) == count)

    def _count(self) -> None:
        """Count one request that reached a server (failed connects are not API calls)."""
        with self._lock:
            self.total_calls += 1
        counter = _CALLS.get()
        if counter is not None:
            counter[0] += 1

    def _map_http_error(
        self, error: ResourceException, node: str | None, path: str
    ) -> PveError | None:
        """Return our exception for an HTTP error, or None when the next endpoint should try."""
        status = int(error.status_code)
        reason = str(error.content or error.status_message or "").strip()
        detail = f"{reason} ({error.errors})" if error.errors else reason
        if status == 401:
            return PveAuthError(
                f"API token {self.token_id} was rejected (HTTP 401 {reason}); check the token "
                "id and secret, and that the token is not expired",
                self.token_id,
            )
        if status == 403:
            match = _PERM.search(reason)
            privilege = match.group(2).strip() if match else reason
            acl_path = match.group(1).strip() if match else None
            where = f" on {acl_path}" if acl_path else ""
            return PvePermissionError(
                f"API token {self.token_id} lacks privilege {privilege}{where} "
                f"(HTTP 403 {reason}); grant it, or disable privilege separation",
                self.token_id,
                privilege,
                acl_path,
            )
        if status == 595:
            if node is not None:
                return PveNodeOffline(f"node {node} is offline ({reason or 'HTTP 595'})", node)
            return None  # the endpoint's own node cannot serve cluster data: fail over
        return PveUpstreamError(f"PVE {path}: HTTP {status} {detail}".strip(), status)


def _node_of(path: str) -> str | None:
    """Return the node a node-scoped path addresses (``nodes/<node>/...``)."""
    match = _NODE_PATH.match(path)
    return match.group(1) if match else None


def _root_cause(error: BaseException) -> str:
    """Return the innermost useful message of a requests/urllib3 exception chain."""
    current: BaseException = error
    seen: set[int] = set()
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "reason", None) or current.__cause__ or current.__context__
        if not isinstance(inner, BaseException):
            break
        current = inner
    return str(current) or type(current).__name__
