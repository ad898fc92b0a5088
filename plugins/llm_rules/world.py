"""A typed, frozen snapshot of what the hub knows, with its names indexed once for the parser."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jarvis.plugins.llm_rules.entities import (
    Cluster,
    Container,
    Guest,
    Host,
    Node,
    Storage,
    cluster_of,
    container_of,
    guest_of,
    host_of,
    node_of,
    storage_of,
)
from jarvis.plugins.llm_rules.names import Fuzzy, NameIndex, Ref, compact, name_keys, stem_of

Key = tuple[str, ...]

GUEST, NODE, CONTAINER, HOST, STORAGE = "guest", "node", "container", "host", "storage"
DOCKER_HOST, SSH_HOST = "docker_host", "ssh_host"

_TRAILING_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class World:
    """Everything the parser may consult; build it with ``World.from_state``."""

    guests: tuple[Guest, ...] = ()
    nodes: tuple[Node, ...] = ()
    storages: tuple[Storage, ...] = ()
    containers: tuple[Container, ...] = ()
    hosts: tuple[Host, ...] = ()
    cluster: Cluster | None = None
    ssh_hosts: frozenset[str] = frozenset()
    _by_vmid: dict[int, Guest] = field(default_factory=dict, init=False, repr=False, compare=False)
    _by_ref: dict[Ref, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _index: NameIndex = field(default_factory=NameIndex, init=False, repr=False, compare=False)
    _node_numbers: dict[int, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _tags: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = NameIndex()
        by_ref: dict[Ref, Any] = {}

        def add(ref: Ref, name: str, thing: Any, *, stems: bool = True) -> None:
            by_ref[ref] = thing
            index.add(ref, name, stems=stems)

        for guest in self.guests:
            add(Ref(GUEST, str(guest.vmid)), guest.name, guest)
        for node in self.nodes:
            add(Ref(NODE, node.name), node.name, node)
        for container in self.containers:
            add(Ref(CONTAINER, f"{container.host}/{container.name}"), container.name, container)
        for host in self.hosts:
            add(Ref(HOST, host.name), host.name, host)
        for storage in self.storages:
            add(Ref(STORAGE, f"{storage.node}/{storage.storage}"), storage.storage, storage, stems=False)
        for docker_host in self.docker_hosts:
            add(Ref(DOCKER_HOST, docker_host), docker_host, docker_host)
        for ssh_host in sorted(self.ssh_hosts):
            add(Ref(SSH_HOST, ssh_host), ssh_host, ssh_host)
        index.freeze()
        numbers: dict[int, list[str]] = defaultdict(list)
        for node in self.nodes:
            match = _TRAILING_NUMBER.search(node.name)
            if match:
                numbers[int(match.group(1))].append(node.name)
        set_ = object.__setattr__
        set_(self, "_by_vmid", {g.vmid: g for g in self.guests})
        set_(self, "_by_ref", by_ref)
        set_(self, "_index", index)
        set_(self, "_node_numbers", {n: names_[0] for n, names_ in numbers.items() if len(names_) == 1})
        set_(self, "_tags", frozenset(tag.lower() for g in self.guests for tag in g.tags))

    @classmethod
    def from_state(
        cls, items: Mapping[Key, Mapping[str, Any] | None] | Iterable[tuple[Key, Mapping[str, Any] | None]],
        *, ssh_hosts: Iterable[str] = (),
    ) -> World:
        """Build a World from the hub's state mapping ``{key_tuple: payload}`` (unknown keys ignored)."""
        pairs = items.items() if isinstance(items, Mapping) else items
        guests: list[Guest] = []
        nodes: list[Node] = []
        storages: list[Storage] = []
        containers: list[Container] = []
        hosts: list[Host] = []
        cluster: Cluster | None = None
        for key, payload in pairs:
            if not payload or not key or key[-1] != "state":
                continue
            kind, ids = key[0], key[1:-1]
            if kind == "guest" and len(ids) == 1:
                guest = guest_of(ids[0], payload)
                if guest is not None:
                    guests.append(guest)
            elif kind == "node" and len(ids) == 1:
                nodes.append(node_of(ids[0], payload))
            elif kind == "storage" and len(ids) == 2:
                storages.append(storage_of(ids[0], ids[1], payload))
            elif kind == "docker" and len(ids) == 2:
                containers.append(container_of(ids[0], ids[1], payload))
            elif kind == "host" and len(ids) == 1:
                hosts.append(host_of(ids[0], payload))
            elif kind == "cluster" and not ids:
                cluster = cluster_of(payload)
        return cls(
            guests=tuple(sorted(guests, key=lambda g: g.vmid)),
            nodes=tuple(sorted(nodes, key=lambda n: _natural(n.name))),
            storages=tuple(sorted(storages, key=lambda s: (s.node, s.storage))),
            containers=tuple(sorted(containers, key=lambda c: (c.host, c.name))),
            hosts=tuple(sorted(hosts, key=lambda h: h.name)),
            cluster=cluster,
            ssh_hosts=frozenset(ssh_hosts),
        )

    # -- lookups -------------------------------------------------------------------------------

    @property
    def docker_hosts(self) -> tuple[str, ...]:
        """Return the Docker endpoints that report containers, sorted."""
        return tuple(sorted({c.host for c in self.containers}))

    @property
    def tags(self) -> frozenset[str]:
        """Return every guest tag, lowercased."""
        return self._tags

    def guest(self, vmid: int) -> Guest | None:
        """Return the guest with this vmid, or None."""
        return self._by_vmid.get(vmid)

    def node(self, name: str) -> Node | None:
        """Return the node of this name (case-insensitive), or None."""
        found = self._by_ref.get(Ref(NODE, name))
        if found is None:
            for ref in self._index.lookup(name):
                if ref.kind == NODE:
                    return self._by_ref[ref]  # type: ignore[no-any-return]
        return found  # type: ignore[no-any-return]

    def node_by_number(self, number: int) -> Node | None:
        """Return the only node whose name ends in ``number`` ("node 2" -> pve2), or None."""
        name = self._node_numbers.get(number)
        return self.node(name) if name else None

    def get(self, ref: Ref) -> Any:
        """Return the thing a Ref points at (Guest, Node, Container, Host, Storage or a host name)."""
        return self._by_ref.get(ref)

    def lookup(self, word: str) -> tuple[Ref, ...]:
        """Return what a spelling names exactly (case, separators and zero padding ignored)."""
        return self._index.lookup(word)

    def lookup_stem(self, word: str) -> tuple[Ref, ...]:
        """Return what shares the stem ``word`` ("web" -> web-01, web-02...)."""
        return self._index.lookup_stem(word)

    def ssh_targets(self) -> set[str]:
        """Return the names that may be SSH hosts: nodes, configured hosts, Docker hosts, SSH hosts."""
        return {n.name for n in self.nodes} | {h.name for h in self.hosts} | set(self.docker_hosts) | set(
            self.ssh_hosts
        )

    def fuzzy(self, word: str, *, cutoff: float = 0.6, limit: int = 5) -> list[Fuzzy]:
        """Return the closest indexed names to a misspelt ``word``, best first (difflib ratio)."""
        return self._index.fuzzy(word, cutoff=cutoff, limit=limit)

    def label(self, ref: Ref) -> str:
        """Return how to name a Ref to a person: "web-01 (101)", "pve1", "nginx on docker1"."""
        thing = self._by_ref.get(ref)
        if ref.kind == GUEST and thing is not None:
            return f"{thing.name} ({thing.vmid})"
        if ref.kind == CONTAINER and thing is not None:
            return f"{thing.name} on {thing.host}"
        if ref.kind == STORAGE and thing is not None:
            return f"{thing.storage} on {thing.node}"
        return ref.key


def _natural(name: str) -> tuple[str, int]:
    """Sort pve2 before pve10."""
    match = _TRAILING_NUMBER.search(name)
    return (name[: match.start()], int(match.group(1))) if match else (name, -1)


__all__ = ["CONTAINER", "DOCKER_HOST", "GUEST", "HOST", "NODE", "SSH_HOST", "STORAGE", "Fuzzy", "Ref", "World",
           "compact", "name_keys", "stem_of"]
