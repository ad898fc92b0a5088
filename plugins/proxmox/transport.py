"""The fast lane through proxmoxer, behind named seams that know the version they were written for.

A big cluster's /cluster/resources is megabytes of JSON on every fast cycle. proxmoxer decodes
it with the json module and, on every request, formats the whole body into a debug message
(an f-string, built even when debug logging is off). Both cost more CPU than the rest of a poll.
So the client sends requests itself through the session proxmoxer keeps in its private
``_store``, and swaps in an orjson serializer. Each use of ``_store`` is one function below;
``FAST_PATH`` says whether the installed proxmoxer is the 2.x these were written for, and
otherwise (or when a test turns it off) requests go through proxmoxer's public API, slower and
with the same results and errors. Certificate pinning needs the session (there is no public
way to mount an adapter) and says so when it cannot have it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import client as httplib
from typing import Any

import orjson
import proxmoxer
import requests
import urllib3
from proxmoxer.backends.https import JsonSerializer
from proxmoxer.core import ANYEVENT_HTTP_STATUS_CODES, ResourceException

log = logging.getLogger("jarvis.plugins.proxmox")
WRITTEN_FOR = "2."  # proxmoxer's major version whose _store layout these seams read


def _store_usable() -> bool:
    version = getattr(proxmoxer, "__version__", "")
    if not version.startswith(WRITTEN_FOR):
        log.info("proxmoxer %s is not the %sx the fast path was written for: using its public API",
                 version, WRITTEN_FOR)
        return False
    return True


FAST_PATH: bool = _store_usable()
"""True when proxmoxer's private ``_store`` is known to work; tests set it False."""


class FastJsonSerializer(JsonSerializer):  # type: ignore[misc]
    """proxmoxer's JSON serializer, decoding with orjson."""

    def loads(self, response: requests.Response) -> Any:
        """Return the ``data`` of a PVE answer (or proxmoxer's errors shape)."""
        try:
            return orjson.loads(response.content)["data"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return {"errors": response.content}


def session_of(api: Any) -> requests.Session:
    """Return the requests session of a ``ProxmoxAPI`` (to mount adapters on it)."""
    store = getattr(api, "_store", None)
    if not FAST_PATH or not isinstance(store, dict) or not isinstance(store.get("session"), requests.Session):
        raise RuntimeError(f"proxmoxer {getattr(proxmoxer, '__version__', '?')} does not expose its HTTP "
                           f"session; certificate pinning needs proxmoxer {WRITTEN_FOR}x (or use ca_file)")
    return store["session"]


def use_fast_json(api: Any) -> None:
    """Decode answers with orjson (a no-op on the public path)."""
    store = getattr(api, "_store", None)
    if FAST_PATH and isinstance(store, dict) and "serializer" in store:
        store["serializer"] = FastJsonSerializer()


def send(
    resource: Any, method: str, args: dict[str, Any], decode: Callable[[bytes], Any] | None = None
) -> Any:
    """Run a proxmoxer resource's request as its ``get``/``post`` would, minus the body dump.

    ``resource`` is ``api(path)``; errors raise proxmoxer's ResourceException as usual.
    ``decode``, when given, turns a successful answer's body into the result instead; that
    body is read in one call rather than requests' 10 KiB chunks (a third of the CPU for a
    megabyte answer).
    """
    args = {k: v for k, v in args.items() if v is not None}
    store = getattr(resource, "_store", None) if FAST_PATH else None
    if not isinstance(store, dict):
        return _send_public(resource, method, args, decode)
    is_get = method.lower() == "get"
    response = store["session"].request(
        method.upper(), store["base_url"],
        data=None if is_get else args, params=args if is_get else None, stream=decode is not None,
    )
    status = response.status_code
    if status >= 400:
        reason = httplib.responses.get(status, ANYEVENT_HTTP_STATUS_CODES.get(status))
        errors = store["serializer"].loads_errors(response)
        raise ResourceException(status, reason, response.reason, errors=errors)
    if decode is None:
        return store["serializer"].loads(response) if 200 <= status <= 299 else None
    try:
        body = response.raw.read(decode_content=True)
    except urllib3.exceptions.ReadTimeoutError as error:  # as requests would have raised them
        raise requests.exceptions.ReadTimeout(error, response=response) from None
    except urllib3.exceptions.HTTPError as error:
        raise requests.exceptions.ConnectionError(error, response=response) from None
    response.raw.release_conn()  # whole body read: the connection goes back to the pool
    return decode(body) if 200 <= status <= 299 else None


def _send_public(resource: Any, method: str, args: dict[str, Any], decode: Callable[[bytes], Any] | None) -> Any:
    """The same request through proxmoxer's public API (the answer is re-encoded for ``decode``)."""
    data = getattr(resource, method.lower())(**args)
    return data if decode is None else decode(orjson.dumps({"data": data}))
