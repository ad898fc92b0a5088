"""Polling tiers over one merged model: fast (cluster), node detail and storage detail."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from jarvis.core import Snapshot, UpdateFailed, utcnow
from jarvis.plugins.proxmox.client import (
    PveAuthError,
    PveClient,
    PveError,
    PveNodeOffline,
    PvePermissionError,
    PveUnreachable,
    count_calls,
)
from jarvis.plugins.proxmox.config import ProxmoxConfig
from jarvis.plugins.proxmox.entities import (
    ClusterModel,
    all_entities,
    guest_entities,
    node_entities,
    storage_entities,
)
from jarvis.plugins.proxmox.guests import Row
from jarvis.plugins.proxmox.models import (
    parse_cluster_resources,
    parse_cluster_status,
    parse_guest_status,
    parse_node_status,
    parse_storage_list,
)
from jarvis.plugins.proxmox.resources import decode_resources

T = TypeVar("T")
log = logging.getLogger("jarvis.plugins.proxmox")


class Coordinator:
    """Owns the client and the merged model; each tier's ``poll_*`` returns a Snapshot.

    The fast source owns every entity (its complete snapshot clears vanished guests); the
    slower tiers refresh their cache and re-emit the merged entities they touched as
    incomplete snapshots, so nothing they publish can outlive the fast source's view.
    """

    def __init__(self, client: PveClient | None, config: ProxmoxConfig) -> None:
        self.client = client
        self.config = config
        self.model = ClusterModel(cluster_name=config.cluster_name)
        self.fast_ok = False
        self.fast_error: str | None = None
        self.fast_polled_at = 0.0
        self.fast_as_of: str | None = None  # when the cluster view was last fetched (ISO-8601 UTC)
        self._sem = asyncio.Semaphore(config.max_parallel)
        self._fast_lock = asyncio.Lock()

    # -- plumbing ----------------------------------------------------------------------------

    def require_client(self) -> PveClient:
        """Return the client, or raise PveUnreachable when no endpoint is configured."""
        if self.client is None:
            raise PveUnreachable("no Proxmox endpoints configured (plugins.proxmox.endpoints)")
        return self.client

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking client call in a worker thread, bounded by max_parallel."""
        async with self._sem:
            return await asyncio.to_thread(fn, *args, **kwargs)

    async def get(self, path: str, **params: Any) -> Any:
        """GET an API path off the event loop."""
        return await self.call(self.require_client().get, path, **params)

    async def post(self, path: str, **data: Any) -> Any:
        """POST to an API path off the event loop."""
        return await self.call(self.require_client().post, path, **data)

    def close(self) -> None:
        """Close the HTTP sessions."""
        if self.client is not None:
            self.client.close()

    # -- fast tier ---------------------------------------------------------------------------

    async def poll_fast(self) -> Snapshot:
        """Poll /cluster/resources and /cluster/status (2 calls) and emit every entity."""
        async with self._fast_lock:
            return await self._poll_fast()

    async def _poll_fast(self) -> Snapshot:
        client = self.require_client()
        with count_calls() as calls:
            try:
                # Sequential on purpose: failover happens once, on the first call.
                resources = await self.call(client.get_decoded, "cluster/resources", decode_resources)
                status = await self.call(client.get, "cluster/status")
            except PveError as error:
                self.fast_ok = False
                self.fast_error = error.message
                raise UpdateFailed(error.message) from None
        started = time.process_time()
        was_member = {n: self.model.member_online(n) for n in self.model.unreachable}
        self.model.resources = parse_cluster_resources(resources, self.model.resources.guests)
        self.model.status = parse_cluster_status(status)
        for name, before in was_member.items():
            # The cluster saw the node leave and come back: its API failure is history.
            if not before and self.model.member_online(name):
                del self.model.unreachable[name]
        self.model.apply_overrides()
        self.model.has_data = True
        self.fast_ok, self.fast_error = True, None
        self.fast_polled_at = time.monotonic()
        self.fast_as_of = utcnow()
        entities = all_entities(self.model)
        return Snapshot(
            entities,
            complete=True,
            metrics={
                "api_calls": calls[0],
                "process_ms": round((time.process_time() - started) * 1000, 2),
                "nodes": len(self.model.resources.nodes),
                "guests": len(self.model.resources.guests),
                "endpoint": client.active_endpoint.url,
            },
        )

    async def ensure_model(self, max_age_s: float | None = None) -> ClusterModel:
        """Return the model, polling the cluster first when it is empty or too old."""
        def stale() -> bool:
            age = time.monotonic() - self.fast_polled_at
            return not self.model.has_data or (max_age_s is not None and age > max_age_s)

        if stale():
            async with self._fast_lock:
                if stale():  # a poll that was in flight may have filled it meanwhile
                    try:
                        await self._poll_fast()
                    except UpdateFailed as error:
                        if not self.model.has_data:
                            raise PveUnreachable(str(error)) from None
        return self.model

    async def _cluster_known(self) -> bool:
        """True when the fast tier has current data (polling it first at start-up)."""
        if not self.model.has_data:
            try:
                await self.ensure_model()
            except PveError:
                return False
        return self.fast_ok

    # -- detail tiers ------------------------------------------------------------------------

    async def poll_nodes(self) -> Snapshot:
        """Poll /nodes/{n}/status of every member node; a failing node is marked offline."""
        if not await self._cluster_known():
            return Snapshot([], complete=False, metrics={"api_calls": 0, "skipped": "no cluster"})
        names = self.model.node_names()
        members = [n for n in names if self.model.member_online(n)]
        client = self.require_client()
        with count_calls() as calls:
            results = await asyncio.gather(
                *(self.call(client.get, f"nodes/{n}/status") for n in members),
                return_exceptions=True,
            )
        before = {n: self.model.node_online(n) for n in names}
        denied: list[str] = []
        for name, result in zip(members, results, strict=True):
            if isinstance(result, PveNodeOffline):
                self.model.unreachable[name] = result.message
            elif isinstance(result, PveAuthError | PvePermissionError):
                denied.append(result.message)
            elif isinstance(result, PveError):
                log.debug("node %s status failed: %s", name, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                self.model.node_detail[name] = parse_node_status(result)
                self.model.unreachable.pop(name, None)
        for name in list(self.model.unreachable):
            if name not in names:
                del self.model.unreachable[name]
        if denied:
            raise UpdateFailed(denied[0])
        if not self.fast_ok:  # the cluster view failed meanwhile: what it published stays marked stale
            return Snapshot([], complete=False, metrics={"api_calls": calls[0], "skipped": "no cluster"})
        changed = {n for n in names if self.model.node_online(n) != before[n]}
        entities = node_entities(self.model, names)
        if changed:
            entities += guest_entities(self.model, changed) + storage_entities(self.model, changed)
        return Snapshot(entities, complete=False,
                        metrics={"api_calls": calls[0], "nodes_offline": sorted(
                            n for n in names if not self.model.node_online(n))})

    async def poll_storage(self) -> Snapshot:
        """Poll /nodes/{n}/storage of every online node and re-emit their storage entities."""
        if not await self._cluster_known():
            return Snapshot([], complete=False, metrics={"api_calls": 0, "skipped": "no cluster"})
        online = [n for n in self.model.node_names() if self.model.node_online(n)]
        client = self.require_client()
        with count_calls() as calls:
            results = await asyncio.gather(
                *(self.call(client.get, f"nodes/{n}/storage") for n in online),
                return_exceptions=True,
            )
        polled: set[str] = set()
        for name, result in zip(online, results, strict=True):
            if isinstance(result, PveAuthError | PvePermissionError):
                raise UpdateFailed(result.message)
            if isinstance(result, BaseException):
                if not isinstance(result, PveError):
                    raise result
                continue
            polled.add(name)
            for key in [k for k in self.model.storage_detail if k[0] == name]:
                del self.model.storage_detail[key]
            for item in parse_storage_list(result, name):
                self.model.storage_detail[(name, item.storage)] = item
        if not self.fast_ok:  # the cluster view failed meanwhile: what it published stays marked stale
            return Snapshot([], complete=False, metrics={"api_calls": calls[0], "skipped": "no cluster"})
        return Snapshot(storage_entities(self.model, polled), complete=False,
                        metrics={"api_calls": calls[0]})

    # -- after an action ---------------------------------------------------------------------

    async def refresh_guest(self, vmid: int, kind: str, node: str) -> Row | None:
        """Read one guest's live status into the model (the next snapshot carries it)."""
        data = await self.get(f"nodes/{node}/{kind}/{vmid}/status/current")
        guest = parse_guest_status(data, kind=kind, node=node)
        return None if guest is None else self.model.set_override(guest)
