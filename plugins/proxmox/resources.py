"""/cluster/resources decoded straight into typed items, for the fast tier of big clusters.

Every fast cycle lists every guest. Decoding into a msgspec Struct skips the fields Jarvis does
not publish, checks the types in C, and lets an unchanged guest be recognised by one struct
comparison; a guest's row then reads attributes instead of probing a dict. A response of any
other shape (a string where PVE usually sends a number, say) takes the tolerant path instead:
plain JSON, converted item by item (``guests.to_item``) into the same typed items.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import orjson

log = logging.getLogger("jarvis.plugins.proxmox")


class ResourceItem(msgspec.Struct, gc=False):
    """One entry of /cluster/resources, with the fields Jarvis reads (guest, node, storage)."""

    type: str | None = None
    id: str | None = None
    node: str | None = None
    vmid: int | str | None = None
    name: str | None = None
    status: str | None = None
    cpu: float | None = None
    maxcpu: int | float | None = None  # an LXC cpulimit can be fractional
    mem: int | None = None
    maxmem: int | None = None
    disk: int | None = None
    maxdisk: int | None = None
    uptime: int | None = None
    netin: int | None = None
    netout: int | None = None
    tags: str | None = None
    template: int | None = None
    lock: str | None = None
    hastate: str | None = None
    pool: str | None = None
    storage: str | None = None
    plugintype: str | None = None
    content: str | None = None
    shared: int | None = None


class _Answer(msgspec.Struct, gc=False):
    data: list[ResourceItem] | None = None


_DECODER = msgspec.json.Decoder(_Answer)
_shape_noted = False


def decode_resources(body: bytes) -> list[ResourceItem] | list[dict[str, Any]]:
    """Decode a /cluster/resources answer: typed items, or plain dicts when the shape is odd."""
    global _shape_noted
    try:
        return _DECODER.decode(body).data or []
    except msgspec.ValidationError as error:
        if not _shape_noted:  # once per process: the tolerant path is correct, only slower
            _shape_noted = True
            log.info("cluster/resources has an unusual shape (%s); parsing it tolerantly", error)
    data = orjson.loads(body).get("data")
    return data if isinstance(data, list) else []


def as_mapping(item: ResourceItem) -> dict[str, Any]:
    """Return an item as the dict the tolerant parsers take (absent fields left out)."""
    return {k: v for k, v in msgspec.structs.asdict(item).items() if v is not None}
