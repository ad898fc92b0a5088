"""The simulator's whole runtime state, shared by the API, the admin API and the CLI."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .auth import Authenticator, Token
from .fastjson import JsonCache
from .generate import build_cluster
from .hostos import HostTicker, NodeHost, build_hosts
from .model import Cluster, Node
from .tasks import TaskManager, seed_history


@dataclass
class Settings:
    """Knobs that shape timing and auth behaviour."""

    task_seconds: float = 1.5
    boot_seconds: float | None = None  # default: 4 x task_seconds
    tick_seconds: float = 2.0
    auth_fail_delay: float = 0.0  # real pveproxy delays every 401 by 3 s

    @property
    def boot(self) -> float:
        """Seconds a woken or rebooting node needs until it is online."""
        return self.boot_seconds if self.boot_seconds is not None else 4 * self.task_seconds


@dataclass
class Fault:
    """An active fault as listed by GET /_sim/faults."""

    id: int
    kind: str
    spec: dict[str, Any]


@dataclass
class SimState:
    """Cluster, node OS state, tasks, auth, faults and request statistics of one simulator."""

    cluster: Cluster
    hosts: dict[str, NodeHost]
    tasks: TaskManager
    cache: JsonCache
    auth: Authenticator
    settings: Settings
    token: Token
    readonly_token: Token
    admin_secret: str
    faults: list[Fault] = field(default_factory=list)
    next_fault_id: int = 1
    stats: Counter[str] = field(default_factory=Counter)
    rng_faults: random.Random = field(default_factory=random.Random)
    host_ticker: HostTicker = field(default_factory=HostTicker)
    # Called with a node whose reachability may have changed (the SSH servers follow it).
    node_watchers: list[Callable[[Node], None]] = field(default_factory=list)

    def tick(self) -> None:
        """Advance metrics and node temperatures by one tick."""
        self.cluster.tick()
        self.host_ticker.tick(self.cluster, self.hosts)

    def node_changed(self, node: Node) -> None:
        """Tell the watchers that `node` was powered, cut off or brought back."""
        for watch in self.node_watchers:
            watch(node)

    @classmethod
    def create(
        cls,
        *,
        nodes: int,
        guests: int,
        seed: int | None,
        settings: Settings,
        local_fingerprint: str,
    ) -> SimState:
        """Build a fresh simulator state; `seed=None` picks a random seed."""
        if seed is None:
            seed = random.SystemRandom().randrange(1, 2**31)
        cluster = build_cluster(
            nodes=nodes,
            guests=guests,
            seed=seed,
            local_fingerprint=local_fingerprint,
            tick_seconds=settings.tick_seconds,
        )
        secret_rng = random.Random(seed * 31 + 7)
        token = Token("root@pam", "jarvis", _uuid(secret_rng))
        readonly = Token("root@pam", "monitor", _uuid(secret_rng), "PVEAuditor")
        password = f"sim-{secret_rng.getrandbits(48):012x}"
        tasks = TaskManager(cluster)
        seed_history(tasks, int(time.time()))
        return cls(
            cluster=cluster,
            hosts=build_hosts(cluster),
            tasks=tasks,
            cache=JsonCache(cluster),
            auth=Authenticator([token, readonly], password),
            settings=settings,
            token=token,
            readonly_token=readonly,
            admin_secret=token.secret,
            rng_faults=random.Random(seed * 13 + 5),
            host_ticker=HostTicker(random.Random(seed * 7207 + 3)),
        )


def _uuid(rng: random.Random) -> str:
    """A UUIDv4-shaped token secret (PVE token secrets are UUIDs) from a seeded stream."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
