"""Guests of /cluster/resources, kept as the payloads the plugin publishes.

A big cluster lists thousands of guests on every fast cycle. So the poll builds each guest's
``guest/<vmid>/state`` payload (its *row*) straight from the API item, reuses the previous row
when the item is unchanged, and builds a typed GuestResource only when a tool asks for one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from jarvis.plugins.proxmox.convert import as_bool, as_int, opt_str, parse_tags, pct
from jarvis.plugins.proxmox.resources import ResourceItem, typed_row

Row = dict[str, Any]
_ABSENT = object()
# What a guest on an offline node publishes instead of its last live figures.
OFFLINE = {"status": "unknown", "cpu_pct": None, "mem_used": None, "disk_used": None,
           "uptime_s": None, "netin": None, "netout": None}


@dataclass(slots=True)
class GuestResource:
    """A VM or container as listed by /cluster/resources."""

    vmid: int
    type: str
    node: str
    name: str | None
    status: str
    cpu_pct: float | None = None
    cpu_cores: int | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    disk_used: int | None = None
    disk_total: int | None = None
    uptime_s: int | None = None
    netin: int | None = None
    netout: int | None = None
    diskread: int | None = None
    diskwrite: int | None = None
    tags: list[str] = field(default_factory=list)
    template: bool = False
    lock: str | None = None
    ha_state: str | None = None
    pool: str | None = None


def item_vmid(item: Mapping[str, Any]) -> int | None:
    """Return the vmid of a guest item (``vmid``, else the tail of ``id``); None if absent."""
    vmid = as_int(item.get("vmid"))
    if vmid is None:
        ident = str(item.get("id", ""))
        vmid = as_int(ident.rpartition("/")[2]) if "/" in ident else None
    return vmid


def guest_row(
    item: Mapping[str, Any],
    vmid: int,
    node: str | None = None,
    previous: tuple[Mapping[str, Any], Row] | None = None,
) -> Row:
    """Return the guest's state payload as published while its node is online.

    ``previous`` (the guest's last item and row) lets an unchanged tag string keep its list.
    """
    # This runs for every changed guest on every fast cycle (thousands in a big cluster), so
    # the usual shapes (ints, floats, non-empty strings) are checked inline and only other
    # values go through the tolerant converters.
    get = item.get
    kind = get("type")
    name = get("name")
    status = get("status")
    tags = get("tags")
    where = get("node") or node
    cpu = get("cpu")
    cores = get("maxcpu", _ABSENT)
    if cores is _ABSENT:
        cores = get("cpus")
    mem = get("mem")
    mem_total = get("maxmem")
    disk = get("disk")
    disk_total = get("maxdisk")
    uptime = get("uptime")
    netin = get("netin")
    netout = get("netout")
    template = get("template")
    lock = get("lock")
    ha_state = get("hastate")
    pool = get("pool")
    if not tags:
        tag_list: list[str] = []
    elif previous is not None and previous[0].get("tags") == tags:
        tag_list = previous[1]["tags"]
    else:
        tag_list = parse_tags(tags)
    return {
        "vmid": vmid,
        "type": kind if type(kind) is str and kind
        else str(kind or str(get("id", "qemu/")).partition("/")[0] or "qemu"),
        "node": where if type(where) is str else str(where or ""),
        "name": name if type(name) is str and name else opt_str(name),
        "status": status if type(status) is str and status else str(status or "unknown"),
        "cpu_pct": round(cpu * 100.0, 2) if type(cpu) is float else pct(cpu),
        "cpu_cores": cores if type(cores) is int else as_int(cores),
        "mem_used": mem if type(mem) is int else as_int(mem),
        "mem_total": mem_total if type(mem_total) is int else as_int(mem_total),
        "disk_used": disk if type(disk) is int else as_int(disk),
        "disk_total": disk_total if type(disk_total) is int else as_int(disk_total),
        "uptime_s": uptime if type(uptime) is int else as_int(uptime),
        "netin": netin if type(netin) is int else as_int(netin),
        "netout": netout if type(netout) is int else as_int(netout),
        "tags": tag_list,
        "template": template != 0 if type(template) is int else as_bool(template),
        "lock": None if lock is None else opt_str(lock),
        "ha_state": None if ha_state is None else opt_str(ha_state),
        "pool": None if pool is None else opt_str(pool),
    }


def published(row: Row, live: bool) -> Row:
    """Return what a guest publishes: its row, or ``unknown`` without metrics if not live."""
    return row if live else {**row, **OFFLINE}


def row_of(guest: GuestResource) -> Row:
    """Return a GuestResource as a row."""
    return {
        "vmid": guest.vmid, "type": guest.type, "node": guest.node, "name": guest.name,
        "status": guest.status, "cpu_pct": guest.cpu_pct, "cpu_cores": guest.cpu_cores,
        "mem_used": guest.mem_used, "mem_total": guest.mem_total, "disk_used": guest.disk_used,
        "disk_total": guest.disk_total, "uptime_s": guest.uptime_s, "netin": guest.netin,
        "netout": guest.netout, "tags": list(guest.tags), "template": guest.template,
        "lock": guest.lock, "ha_state": guest.ha_state, "pool": guest.pool,
    }


def guest_of(row: Row) -> GuestResource:
    """Return a row as a new GuestResource (disk I/O counters are not kept in rows)."""
    return GuestResource(**{**row, "tags": list(row["tags"])})


def parse_guest(item: Mapping[str, Any], *, node: str | None = None) -> GuestResource | None:
    """Parse one guest entry (cluster/resources, /nodes/{n}/qemu or /lxc); None if no vmid."""
    vmid = item_vmid(item)
    if vmid is None:
        return None
    guest = guest_of(guest_row(item, vmid, node))
    guest.diskread = as_int(item.get("diskread"))
    guest.diskwrite = as_int(item.get("diskwrite"))
    return guest


def count_row(tally: dict[str, list[int]], row: Row) -> None:
    """Count a guest into node -> [running, total, templates, running templates]."""
    entry = tally.get(row["node"])
    if entry is None:
        entry = tally[row["node"]] = [0, 0, 0, 0]
    running = row["status"] == "running"
    if row["template"]:
        entry[2] += 1
        entry[3] += running
    else:
        entry[1] += 1
        entry[0] += running


# (item, vmid, (previous item, previous row) or None) -> row
RowBuilder = Callable[[Any, int, "tuple[Any, Row] | None"], Row]


def _plain_row(item: Mapping[str, Any], vmid: int, previous: tuple[Any, Row] | None) -> Row:
    """Build a row from a plain API item; a previous typed item cannot lend its tags."""
    return guest_row(item, vmid, None, previous if previous and isinstance(previous[0], Mapping) else None)


class GuestTable(MutableMapping[int, GuestResource]):
    """Guests by vmid. ``rows`` holds their payloads; reading an item returns a typed copy.

    Rows are published as they are, so nothing modifies one in place: assign a GuestResource
    (or a new row) to change a guest. ``raw`` and ``parsed`` keep each guest's API item and
    the row built from it, so the next poll can reuse the rows of guests whose item is the same.
    """

    def __init__(self) -> None:
        self._tally: dict[str, list[int]] | None = {}  # counted as rows are added; None = stale
        self.rows: dict[int, Row] = {}
        self.raw: dict[int, Mapping[str, Any] | ResourceItem] = {}
        self.parsed: dict[int, Row] = {}

    def add_item(self, item: Mapping[str, Any], previous: GuestTable | None = None) -> None:
        """Add a guest from an API item, reusing ``previous``'s row when the item is the same."""
        vmid = item.get("vmid")
        if type(vmid) is not int:
            vmid = item_vmid(item)
        if vmid is not None:
            self._add(vmid, item, previous, _plain_row)

    def add_typed(self, item: ResourceItem, previous: GuestTable | None = None) -> None:
        """Add a guest from a typed /cluster/resources item (see ``resources.py``)."""
        vmid = item.vmid
        if type(vmid) is not int:  # rare: read it as the tolerant path would
            vmid = item_vmid({"vmid": item.vmid, "id": item.id})
        if vmid is not None:
            self._add(vmid, item, previous, typed_row)

    def _add(self, vmid: int, item: Any, previous: GuestTable | None, build: RowBuilder) -> None:
        before = previous.raw.get(vmid) if previous is not None else None
        if before is None:
            row = build(item, vmid, None)
        elif before == item:
            row = previous.parsed[vmid]  # type: ignore[union-attr]
        else:
            row = build(item, vmid, (before, previous.parsed[vmid]))  # type: ignore[union-attr]
        tally = self._tally
        if tally is not None:
            if vmid in self.rows:
                self._tally = None  # listed twice: count again from the rows when asked
            else:
                count_row(tally, row)
        self.rows[vmid] = self.parsed[vmid] = row
        self.raw[vmid] = item

    def tally(self) -> dict[str, list[int]]:
        """Return node -> [running, total, templates, running templates]."""
        if self._tally is None:
            self._tally = {}
            for row in self.rows.values():
                count_row(self._tally, row)
        return self._tally

    def __getitem__(self, vmid: int) -> GuestResource:
        return guest_of(self.rows[vmid])

    def __setitem__(self, vmid: int, guest: GuestResource) -> None:
        self.rows[vmid] = row_of(guest)
        self._tally = None

    def __delitem__(self, vmid: int) -> None:
        del self.rows[vmid]
        self._tally = None
        self.raw.pop(vmid, None)
        self.parsed.pop(vmid, None)

    def __contains__(self, vmid: object) -> bool:
        return vmid in self.rows

    def __iter__(self) -> Iterator[int]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)
