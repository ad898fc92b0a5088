"""Build a believable, seeded cluster: nodes pve1..pveN, guests from vmid 100, storages."""

from __future__ import annotations

import random

from .model import GIB, Cluster, Guest, Node, Storage, Usage

MIB = 1024**2

# (maxcpu, memory GiB, root disk GB, cpu model, MHz string)
HARDWARE = [
    (4, 16, 256, "Intel(R) N100", "806.400"),
    (8, 32, 512, "Intel(R) Core(TM) i5-8500T CPU @ 2.10GHz", "2100.000"),
    (12, 64, 1000, "AMD Ryzen 5 5600G with Radeon Graphics", "3900.000"),
    (16, 128, 2000, "AMD Ryzen 9 5950X 16-Core Processor", "3400.000"),
]

# Hand-picked guests that make the demo cluster (and each guest kind) always present:
# (name, kind, running, template, tags, agent, pool); agent "down" = configured, not running
DEMO_GUESTS: list[tuple[str, str, bool, bool, str, bool | str, str | None]] = [
    ("pihole", "lxc", True, False, "dns;infra", False, None),
    ("homeassistant", "qemu", True, False, "home", True, "prod"),
    ("nas", "qemu", True, False, "storage", True, None),
    ("jellyfin", "lxc", True, False, "media", False, None),
    ("docker-host", "qemu", True, False, "", "down", None),
    ("k3s-1", "qemu", True, False, "k8s", True, "lab"),
    ("k3s-2", "qemu", True, False, "k8s", False, "lab"),
    ("grafana", "lxc", True, False, "monitoring", False, None),
    ("win11", "qemu", False, False, "desktop", False, "lab"),
    ("debian-12-template", "qemu", False, True, "", False, None),
    ("ubuntu-2404-ct", "lxc", False, True, "template;ubuntu", False, None),
    ("backup-ct", "lxc", False, False, "", False, "lab"),
]

QEMU_NAMES = ["web", "db", "gitlab", "nextcloud", "opnsense", "k3s", "dev", "ci-runner", "win-srv"]
LXC_NAMES = ["nginx", "unifi", "vaultwarden", "mqtt", "adguard", "wireguard", "paperless", "kuma"]
TAGS = ["prod", "lab", "media", "infra", "k8s", "monitoring", "dev", "backup"]


def _mac(rng: random.Random, prefix: str) -> str:
    return prefix + ":" + ":".join(f"{rng.randrange(256):02X}" for _ in range(3))


def _ip(index: int, base: int) -> str:
    return f"192.168.{1 + (base + index) // 250}.{(base + index) % 250 + 2}"


def build_nodes(rng: random.Random, count: int, local_fingerprint: str) -> dict[str, Node]:
    """Create `count` nodes with hardware drawn from HARDWARE."""
    nodes: dict[str, Node] = {}
    for i in range(count):
        name = f"pve{i + 1}"
        cpu, mem_gib, disk_gb, model, mhz = HARDWARE[(i + rng.randrange(2)) % len(HARDWARE)]
        fingerprint = local_fingerprint if i == 0 else ":".join(
            f"{rng.randrange(256):02X}" for _ in range(32)
        )
        maxdisk = disk_gb * 1000**3 // 10  # root filesystem is a slice of the disk
        node = Node(
            name=name,
            nodeid=i + 1,
            ip=_ip(i, 8),
            mac=_mac(rng, "58:47:CA"),
            fingerprint=fingerprint,
            maxcpu=cpu,
            maxmem=mem_gib * GIB - rng.randrange(200, 600) * MIB,
            maxdisk=maxdisk,
            swaptotal=8 * GIB if i % 3 else 0,
            cpu_model=model,
            mhz=mhz,
            sockets=1,
            uptime=rng.randrange(3 * 86400, 90 * 86400),
            base_cpu=rng.uniform(0.005, 0.04),
            disk=int(maxdisk * rng.uniform(0.1, 0.4)),
            arcsize=int(mem_gib * GIB * rng.uniform(0.02, 0.08)),
            netin=rng.randrange(10**9, 10**12),
            netout=rng.randrange(10**9, 10**12),
        )
        node.swapused = int(node.swaptotal * rng.uniform(0, 0.1))
        nodes[name] = node
    return nodes


def build_guest(rng: random.Random, vmid: int, index: int, node: Node) -> Guest:
    """Create one guest: a DEMO_GUESTS entry for the first ones, random ones after."""
    pool = rng.choice(["prod", "lab"]) if rng.random() < 0.2 else None
    if index < len(DEMO_GUESTS):
        name, kind, running, template, tags, agent_mode, pool = DEMO_GUESTS[index]
        agent = bool(agent_mode)
    else:
        kind = "qemu" if rng.random() < 0.55 else "lxc"
        base = rng.choice(QEMU_NAMES if kind == "qemu" else LXC_NAMES)
        name = f"{base}-{vmid}"
        template = rng.random() < 0.03
        running = not template and rng.random() >= 0.25
        tags = ";".join(sorted(rng.sample(TAGS, rng.randrange(1, 3)))) if rng.random() < 0.5 else ""
        agent = kind == "qemu" and rng.random() < 0.7
        agent_mode = agent
    if kind == "qemu":
        cores = rng.choice([1, 2, 4, 8])
        maxmem = rng.choice([1, 2, 4, 8, 16]) * GIB
        maxdisk = rng.choice([16, 32, 64, 128]) * GIB
    else:
        cores = rng.choice([1, 2])
        maxmem = rng.choice([256, 512, 1024, 2048]) * MIB
        maxdisk = rng.choice([4, 8, 16]) * GIB
    guest = Guest(
        vmid=vmid,
        kind=kind,
        name=name,
        node=node.name,
        status="running" if running else "stopped",
        cores=cores,
        maxmem=maxmem,
        maxdisk=maxdisk,
        template=template,
        tags=tags,
        pool=pool,
        onboot=running and rng.random() < 0.8,
        agent=agent,
        maxswap=512 * MIB if kind == "lxc" else 0,
        ostype=("win11" if name.startswith("win") else "l26") if kind == "qemu" else "debian",
        mac=_mac(rng, "BC:24:11"),
        ip=_ip(index, 100),
        base_cpu=rng.uniform(0.002, 0.15),
        disk=int(maxdisk * rng.uniform(0.05, 0.5)) if kind == "lxc" else 0,
    )
    if running:
        guest.uptime = rng.randrange(600, min(node.uptime, 40 * 86400))
        guest.pid = rng.randrange(1000, 4_000_000)
        guest.mem = int(maxmem * rng.uniform(0.3, 0.7))
        guest.cpu = round(guest.base_cpu, 6)
        guest.agent_running = agent_mode is True
        scale = guest.uptime
        guest.netin = int(scale * rng.uniform(1_000, 50_000))
        guest.netout = int(scale * rng.uniform(500, 30_000))
        guest.diskread = int(scale * rng.uniform(1_000, 100_000))
        guest.diskwrite = int(scale * rng.uniform(1_000, 200_000))
    return guest


def build_storages(node_names: list[str]) -> list[Storage]:
    """storage.cfg: per-node `local` (dir) and `local-lvm` (lvmthin), a shared NFS `nas`."""
    return [
        Storage("local", "dir", "iso,vztmpl,backup", extra={"path": "/var/lib/vz"}),
        Storage(
            "local-lvm", "lvmthin", "rootdir,images", extra={"thinpool": "data", "vgname": "pve"}
        ),
        Storage(
            "nas",
            "nfs",
            "backup,iso,images",
            shared=True,
            nodes=list(node_names),
            extra={
                "path": "/mnt/pve/nas",
                "server": "192.168.1.5",
                "export": "/volume1/proxmox",
                "options": "vers=4.2",
                "prune-backups": "keep-daily=7,keep-weekly=4",
            },
        ),
    ]


def build_cluster(
    *, nodes: int, guests: int, seed: int, local_fingerprint: str, tick_seconds: float
) -> Cluster:
    """Create the whole cluster deterministically from `seed`."""
    if nodes < 1:
        raise ValueError("a cluster needs at least one node")
    rng = random.Random(seed)
    node_map = build_nodes(rng, nodes, local_fingerprint)
    node_list = list(node_map.values())
    guest_map: dict[int, Guest] = {}
    for index in range(guests):
        node = node_list[index % nodes] if index < len(DEMO_GUESTS) else rng.choice(node_list)
        guest = build_guest(rng, 100 + index, index, node)
        guest_map[guest.vmid] = guest
    storages = build_storages(list(node_map))
    usage: dict[tuple[str, str], Usage] = {}
    for node in node_list:
        usage[(node.name, "local")] = Usage(node.maxdisk, node.disk)
        thin = node.maxdisk * 6
        used = sum(g.maxdisk for g in guest_map.values() if g.node == node.name) // 3
        usage[(node.name, "local-lvm")] = Usage(thin, min(used, int(thin * 0.9)))
    usage[("*", "nas")] = Usage(8 * 1000**4, int(8 * 1000**4 * rng.uniform(0.3, 0.6)))
    for node in node_list:
        running = [g for g in guest_map.values() if g.node == node.name and g.running]
        node.mem = int(node.maxmem * 0.08) + sum(g.mem for g in running) + node.arcsize
        node.mem = min(node.mem, int(node.maxmem * 0.96))
        node.cpu = min(0.99, node.base_cpu + sum(g.cpu * g.cores for g in running) / node.maxcpu)
    return Cluster(
        name="homelab",
        local=node_list[0].name,
        nodes=node_map,
        guests=guest_map,
        storages=storages,
        usage=usage,
        seed=seed,
        tick_seconds=tick_seconds,
        rng_metrics=random.Random(seed * 7919 + 1),
        rng_events=random.Random(seed * 104729 + 2),
    )
