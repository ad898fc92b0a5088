"""What the Proxmox plugin publishes, described once: cluster, node, node availability, guest, storage.

The payload builders in ``guests.py`` and ``entities.py`` emit exactly these fields in this
order (the tests check every fixture against them); the schema, deadbands, Home Assistant
discovery, the dashboard and the assistant read them from here.
"""

from __future__ import annotations

from jarvis.core import EntityKind, StateField, Verb, fields

GUEST_VERBS = ("start", "shutdown", "stop", "reboot", "reset", "suspend", "resume")
DANGEROUS_GUEST_VERBS = ("stop", "reboot", "reset")
NODE_VERBS = {"wake": "node_wake", "reboot": "node_reboot", "shutdown": "node_shutdown"}

_NODE = StateField(name="node", type="string", nullable=False, description="the node it runs on")

CLUSTER = EntityKind(
    name="cluster",
    topic="cluster/state",
    description="The Proxmox cluster as a whole: quorum, node and guest counts, resource totals.",
    name_field="name",
    freshness=True,
    fields=(
        StateField(name="name", type="string", description="cluster name (the node's name on a standalone node)"),
        StateField(name="quorate", type="boolean", description="corosync has quorum", ha="binary_sensor",
                   summary=True),
        StateField(name="nodes_online", type="integer", nullable=False, description="nodes online",
                   state_class="measurement", ha="sensor", summary=True),
        StateField(name="nodes_total", type="integer", nullable=False, description="nodes in the cluster"),
        StateField(name="guests_running", type="integer", nullable=False,
                   description="guests running (templates apart)",
                   state_class="measurement", ha="sensor", summary=True),
        StateField(name="guests_total", type="integer", nullable=False, description="guests (templates apart)"),
        StateField(name="templates", type="integer", nullable=False, description="guest templates"),
        fields.CPU_CORES.with_(description="CPU cores of the online nodes"),
        fields.CPU_PCT.with_(description="CPU usage of the online nodes, percent of their cores"),
        fields.MEM_USED.with_(description="memory in use on the online nodes, bytes"),
        fields.MEM_TOTAL.with_(description="memory of the online nodes, bytes"),
        fields.DISK_USED.with_(description="root disk in use on the online nodes, bytes"),
        fields.DISK_TOTAL.with_(description="root disks of the online nodes, bytes"),
        StateField(name="storage_used", type="integer", unit="B", relative_deadband=0.005, nullable=False,
                   description="storage in use (shared storage counted once), bytes", device_class="data_size"),
        StateField(name="storage_total", type="integer", unit="B", nullable=False,
                   description="storage size (shared storage counted once), bytes", device_class="data_size"),
    ),
)

NODE = EntityKind(
    name="node",
    topic="node/{node}/state",
    description="A Proxmox node; live figures are null while it is offline.",
    name_field="name",
    freshness=True,
    fields=(
        StateField(name="name", type="string", nullable=False, description="node name"),
        StateField(name="status", type="string", nullable=False, values=("online", "offline"),
                   description="online when the cluster lists it and its own API answers", summary=True),
        fields.CPU_PCT,
        fields.CPU_CORES,
        fields.MEM_USED,
        fields.MEM_TOTAL,
        fields.DISK_USED.with_(description="root disk in use, bytes"),
        fields.DISK_TOTAL.with_(description="root disk size, bytes"),
        fields.UPTIME_S,
        fields.LOAD,
        StateField(name="iowait_pct", type="number", unit="%", deadband=2.0, state_class="measurement",
                   description="CPU time waiting for I/O, percent"),
        StateField(name="swap_used", type="integer", unit="B", relative_deadband=0.02, description="swap in use, bytes",
                   device_class="data_size"),
        StateField(name="swap_total", type="integer", unit="B",
                   description="swap size, bytes", device_class="data_size"),
        fields.TEMPERATURE_C,
        StateField(name="pve_version", type="string", description="pve-manager version, e.g. 8.2.4"),
        StateField(name="kernel", type="string", description="running kernel"),
        StateField(name="cpu_model", type="string", description="CPU model"),
        StateField(name="ip", type="string", description="the node's cluster address"),
        StateField(name="guests_running", type="integer", nullable=False, description="guests running on it",
                   state_class="measurement", ha="sensor"),
        StateField(name="guests_total", type="integer", nullable=False, description="guests on it (templates apart)"),
        StateField(name="offline_reason", type="string", description="why it is offline, while it is"),
    ),
    verbs=(
        Verb(topic="action", payloads=tuple(NODE_VERBS), description="wake (Wake-on-LAN), reboot or shut down the node",
             tools={verb: f"proxmox.{tool}" for verb, tool in NODE_VERBS.items()},
             dangerous=("reboot", "shutdown")),
    ),
)

NODE_AVAILABILITY = EntityKind(
    name="node_availability",
    topic="node/{node}/availability",
    description="Whether a node is reachable (never a guest's power state); Home Assistant's availability topic.",
    fields=(StateField(name="state", type="string", nullable=False, values=("online", "offline"),
                       description="online or offline"),),
)

GUEST = EntityKind(
    name="guest",
    topic="guest/{vmid}/state",
    description="A VM (qemu) or container (lxc); status is unknown and figures null while its node is offline.",
    name_field="name",
    freshness=True,
    fields=(
        StateField(name="vmid", type="integer", nullable=False, description="the guest's id"),
        StateField(name="type", type="string", nullable=False, values=("qemu", "lxc"),
                   description="qemu (a VM) or lxc (a container)"),
        _NODE,
        StateField(name="name", type="string", description="the guest's name", summary=True),
        StateField(name="status", type="string", nullable=False, description="running, stopped, paused or unknown",
                   ha="binary_sensor", ha_on="running", device_class="running", summary=True),
        fields.CPU_PCT,
        fields.CPU_CORES,
        fields.MEM_USED,
        fields.MEM_TOTAL,
        fields.DISK_USED,
        fields.DISK_TOTAL,
        fields.UPTIME_S,
        fields.NETIN,
        fields.NETOUT,
        StateField(name="tags", type="array", nullable=False, description="PVE tags"),
        StateField(name="template", type="boolean", nullable=False, description="a template (never runs)"),
        StateField(name="lock", type="string", description="a PVE lock (backup, migrate...) while one is held"),
        StateField(name="ha_state", type="string", description="the HA manager's state when the guest is HA-managed"),
        StateField(name="pool", type="string", description="the resource pool it belongs to"),
    ),
    verbs=(
        Verb(topic="action", payloads=GUEST_VERBS, description="power actions",
             tools={verb: f"proxmox.guest_{verb}" for verb in GUEST_VERBS}, dangerous=DANGEROUS_GUEST_VERBS),
        Verb(topic="set", payloads=("ON", "OFF"),
             description='ON/OFF or {"state": "running"|"stopped"}: start, or shut down gracefully',
             tools={"ON": "proxmox.guest_start", "OFF": "proxmox.guest_shutdown"}),
    ),
)

STORAGE = EntityKind(
    name="storage",
    topic="storage/{node}/{storage}/state",
    description="A storage as one node sees it (shared storage appears under every node).",
    name_field="storage",
    freshness=True,
    fields=(
        _NODE.with_(description="the node that sees it"),
        StateField(name="storage", type="string", nullable=False, description="storage id"),
        StateField(name="type", type="string", description="plugin type: dir, lvmthin, zfspool, nfs, cephfs, pbs..."),
        StateField(name="content", type="array", nullable=False, description="what it holds: images, rootdir, iso..."),
        StateField(name="shared", type="boolean", nullable=False, description="shared between nodes"),
        StateField(name="active", type="boolean", description="mounted and usable (null while the node is offline)"),
        StateField(name="enabled", type="boolean", description="enabled in the storage config"),
        fields.USED,
        StateField(name="total", type="integer", unit="B", description="size, bytes", device_class="data_size"),
        StateField(name="avail", type="integer", unit="B", relative_deadband=0.005, description="free space, bytes",
                   device_class="data_size"),
        fields.USED_PCT,
    ),
)

KINDS: tuple[EntityKind, ...] = (CLUSTER, NODE, NODE_AVAILABILITY, GUEST, STORAGE)
