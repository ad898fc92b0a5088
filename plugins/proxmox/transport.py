"""The fast lane through proxmoxer: orjson decoding, and requests without its body dump.

A big cluster's /cluster/resources is megabytes of JSON on every fast cycle. proxmoxer decodes
it with the json module and, on every request, formats the whole body into a debug message
(an f-string, built even when debug logging is off). Both cost more CPU than the rest of a poll.
"""

from __future__ import annotations

from http import client as httplib
from typing import Any

import orjson
import requests
from proxmoxer.backends.https import JsonSerializer
from proxmoxer.core import ANYEVENT_HTTP_STATUS_CODES, ResourceException


class FastJsonSerializer(JsonSerializer):  # type: ignore[misc]
    """proxmoxer's JSON serializer, decoding with orjson."""

    def loads(self, response: requests.Response) -> Any:
        """Return the ``data`` of a PVE answer (or proxmoxer's errors shape)."""
        try:
            return orjson.loads(response.content)["data"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return {"errors": response.content}


def send(resource: Any, method: str, args: dict[str, Any]) -> Any:
    """Run a proxmoxer resource's request as its ``get``/``post`` would, minus the body dump.

    ``resource`` is ``api(path)``; errors raise proxmoxer's ResourceException as usual.
    """
    store = resource._store  # proxmoxer keeps session, URL and serializer here (stable in 2.x)
    args = {k: v for k, v in args.items() if v is not None}
    is_get = method.lower() == "get"
    response = store["session"].request(
        method.upper(), store["base_url"],
        data=None if is_get else args, params=args if is_get else None,
    )
    status = response.status_code
    if status >= 400:
        reason = httplib.responses.get(status, ANYEVENT_HTTP_STATUS_CODES.get(status))
        errors = store["serializer"].loads_errors(response)
        raise ResourceException(status, reason, response.reason, errors=errors)
    if 200 <= status <= 299:
        return store["serializer"].loads(response)
    return None
