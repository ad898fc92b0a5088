"""Guests of /cluster/resources, kept as the payloads the plugin publishes (their *rows*).

A big cluster lists thousands of guests on every fast cycle, so there is one row builder,
``guest_row``, over a typed API item (``ResourceItem``, decoded straight from the answer); an
answer of any odd shape, or another endpoint's guest (``/nodes/{n}/qemu``, ``status/current``),
is first converted into a ``ResourceItem`` by ``to_item``, so both paths build the same rows.
Rows are immutable :class:`jarvis.core.Payload` objects with exactly the fields of the ``guest``
kind (``kinds.py``); the previous poll's row is reused when a guest's item is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from jarvis.core import Payload
from jarvis.plugins.proxmox.convert import as_bool, as_float, as_int, opt_str, parse_tags
from jarvis.plugins.proxmox.resources import ResourceItem

Row = Payload
_ABSENT = object()
# What a guest on an offline node publishes instead of its last live figures.
OFFLINE = {"status": "unknown", "cpu_pct": None, "mem_used": None, "disk_used": None,
           "uptime_s": None, "netin": None, "netout": None}


def item_vmid(item: Mapping[str, Any]) -> int | None:
    """Return the vmid of a guest item (``vmid``, else the tail of ``id``); None if absent."""
    vmid = as_int(item.get("vmid"))
    if vmid is None:
        ident = str(item.get("id", ""))
        vmid = as_int(ident.rpartition("/")[2]) if "/" in ident else None
    return vmid


def guest_row(item: ResourceItem, vmid: int, previous: tuple[ResourceItem, Row] | None = None) -> Row:
    """Return a guest's state payload (as published while its node is online).

    ``previous`` (the guest's last item and row) lets an unchanged tag string keep its list.
    """
    # This runs for every changed guest on every fast cycle: attribute reads, no converters.
    tags = item.tags
    if not tags:
        tag_list: list[str] = []
    elif previous is not None and previous[0].tags == tags:
        tag_list = previous[1]["tags"]
    else:
        tag_list = parse_tags(tags)
    cpu = item.cpu
    cores = item.maxcpu
    return Payload({
        "vmid": vmid,
        "type": item.type,
        "node": item.node or "",
        "name": item.name or None,
        "status": item.status or "unknown",
        "cpu_pct": None if cpu is None else round(cpu * 100.0, 2),
        "cpu_cores": cores if type(cores) is not float else as_int(cores),
        "mem_used": item.mem,
        "mem_total": item.maxmem,
        "disk_used": item.disk,
        "disk_total": item.maxdisk,
        "uptime_s": item.uptime,
        "netin": item.netin,
        "netout": item.netout,
        "tags": tag_list,
        "template": bool(item.template),
        "lock": item.lock or None,
        "ha_state": item.hastate or None,
        "pool": item.pool or None,
    })


def to_item(item: Mapping[str, Any], vmid: int, node: str | None = None) -> ResourceItem:
    """Convert a guest entry of any shape (strings for numbers, 0/1 flags...) into a typed item."""
    get = item.get
    kind = get("type")
    status = get("status")
    where = get("node") or node
    cores = get("maxcpu", _ABSENT)
    if cores is _ABSENT:
        cores = get("cpus")
    tags = get("tags")
    template = get("template")
    return ResourceItem(
        type=kind if type(kind) is str and kind else str(kind or str(get("id", "qemu/")).partition("/")[0] or "qemu"),
        id=opt_str(get("id")),
        node=where if type(where) is str else str(where or ""),
        vmid=vmid,
        name=opt_str(get("name")),
        status=status if type(status) is str and status else str(status or "unknown"),
        cpu=as_float(get("cpu")),
        maxcpu=as_int(cores),
        mem=as_int(get("mem")),
        maxmem=as_int(get("maxmem")),
        disk=as_int(get("disk")),
        maxdisk=as_int(get("maxdisk")),
        uptime=as_int(get("uptime")),
        netin=as_int(get("netin")),
        netout=as_int(get("netout")),
        tags=tags if tags is None or type(tags) is str else ";".join(parse_tags(tags)),
        template=template if type(template) is int else int(as_bool(template)),
        lock=opt_str(get("lock")),
        hastate=opt_str(get("hastate")),
        pool=opt_str(get("pool")),
    )


def parse_guest(item: Mapping[str, Any], *, node: str | None = None) -> Row | None:
    """Return the row of one guest entry of any endpoint (None without a vmid)."""
    vmid = item_vmid(item)
    return None if vmid is None else guest_row(to_item(item, vmid, node), vmid)


def published(row: Row, live: bool) -> Row:
    """Return what a guest publishes: its row, or ``unknown`` without metrics if not live."""
    return row if live else Payload({**row, **OFFLINE})


def count_row(tally: dict[str, list[int]], row: Mapping[str, Any]) -> None:
    """Count a guest into node -> [running, total, templates, running templates]."""
    count(tally, row["node"], row["status"] == "running", row["template"])


def count(tally: dict[str, list[int]], node: str, running: bool, template: bool) -> None:
    """Count one guest on ``node`` into the tally (the parse loop calls this with item fields)."""
    entry = tally.get(node)
    if entry is None:
        entry = tally[node] = [0, 0, 0, 0]
    if template:
        entry[2] += 1
        entry[3] += running
    else:
        entry[1] += 1
        entry[0] += running


class GuestTable(MutableMapping[int, Row]):
    """Guests by vmid: their immutable rows, and the API items they were built from.

    Assign a new row to change a guest (a row itself cannot be changed). ``raw`` keeps each
    guest's typed item, so the next poll can reuse the rows of guests whose item is the same.
    """

    def __init__(self) -> None:
        self._tally: dict[str, list[int]] | None = {}  # counted as rows are added; None = stale
        self.rows: dict[int, Row] = {}
        self.raw: dict[int, ResourceItem] = {}

    def add_item(self, item: Mapping[str, Any], previous: GuestTable | None = None) -> None:
        """Add a guest from a plain API item (the tolerant path)."""
        vmid = item_vmid(item)
        if vmid is not None:
            self.add_typed(to_item(item, vmid), previous, vmid)

    def add_typed(self, item: ResourceItem, previous: GuestTable | None = None, vmid: int | None = None) -> None:
        """Add a guest from a typed item, reusing ``previous``'s row when the item is the same."""
        if vmid is None:
            vmid = item.vmid if type(item.vmid) is int else item_vmid({"vmid": item.vmid, "id": item.id})
            if vmid is None:
                return
        before = previous.raw.get(vmid) if previous is not None else None
        if before is None:
            row = guest_row(item, vmid)
        elif before == item:
            row = previous.rows[vmid]  # type: ignore[union-attr]
        else:
            row = guest_row(item, vmid, (before, previous.rows[vmid]))  # type: ignore[union-attr]
        tally = self._tally
        if tally is not None:
            if vmid in self.rows:
                self._tally = None  # listed twice: count again from the rows when asked
            else:  # from the item: subscripting a row (a dict subclass) is slower
                count(tally, item.node or "", item.status == "running", bool(item.template))
        self.rows[vmid] = row
        self.raw[vmid] = item

    def tally(self) -> dict[str, list[int]]:
        """Return node -> [running, total, templates, running templates]."""
        if self._tally is None:
            self._tally = {}
            for row in self.rows.values():
                count_row(self._tally, row)
        return self._tally

    def __getitem__(self, vmid: int) -> Row:
        return self.rows[vmid]

    def __setitem__(self, vmid: int, row: Mapping[str, Any]) -> None:
        self.rows[vmid] = row if type(row) is Payload else Payload(row)
        self.raw.pop(vmid, None)  # the row no longer comes from that item
        self._tally = None

    def __delitem__(self, vmid: int) -> None:
        del self.rows[vmid]
        self._tally = None
        self.raw.pop(vmid, None)

    def __contains__(self, vmid: object) -> bool:
        return vmid in self.rows

    def __iter__(self) -> Iterator[int]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)
