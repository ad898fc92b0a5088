"""Guest detail views: qemu/lxc `status/current` (with qemu runtime data) and `config`."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from .model import GIB, Guest
from .views import common_status


def guest_current(guest: Guest) -> dict[str, Any]:
    """GET /nodes/{node}/{qemu|lxc}/{vmid}/status/current."""
    data = common_status(guest)
    data["ha"] = {"managed": 0}
    if guest.kind == "lxc":
        return data
    if guest.agent:
        data["agent"] = 1
    data["qmpstatus"] = ("paused" if guest.paused else "running") if guest.running else "stopped"
    if not guest.running:
        return data
    if guest.agent:
        data["spice"] = 1
    data.update(_qemu_runtime(guest))
    return data


def _qemu_runtime(guest: Guest) -> dict[str, Any]:
    free = max(0, guest.maxmem - guest.mem)
    blockstat = {
        "scsi0": _blockstat(guest.diskread, guest.diskwrite, guest.uptime),
        "ide2": _blockstat(344_348, 0, guest.uptime),
    }
    return {
        "shares": 1000,
        "balloon": guest.maxmem,
        "balloon_min": guest.maxmem,
        "freemem": free,
        "ballooninfo": {
            "actual": guest.maxmem,
            "max_mem": guest.maxmem,
            "free_mem": free,
            "total_mem": guest.maxmem - 80 * 1024 * 1024,
            "major_page_faults": guest.uptime // 100,
            "minor_page_faults": guest.uptime * 20,
            "mem_swapped_in": 0,
            "mem_swapped_out": 0,
            "last_update": int(time.time()),
        },
        "blockstat": blockstat,
        "nics": {f"tap{guest.vmid}i0": {"netin": guest.netin, "netout": guest.netout}},
        "proxmox-support": {
            "backup-fleecing": True,
            "backup-max-workers": True,
            "pbs-dirty-bitmap": True,
            "pbs-dirty-bitmap-migration": True,
            "pbs-dirty-bitmap-savevm": True,
            "pbs-library-version": "1.5.2 (UNKNOWN)",
            "pbs-masterkey": True,
            "query-bitmap-info": True,
        },
        "running-machine": "pc-i440fx-10.0+pve0",
        "running-qemu": "10.0.2",
    }


def _blockstat(rd: int, wr: int, uptime: int) -> dict[str, Any]:
    rd_ops, wr_ops = rd // 40_000 + 1, wr // 10_000
    return {
        "account_failed": True,
        "account_invalid": True,
        "failed_flush_operations": 0,
        "failed_rd_operations": 0,
        "failed_unmap_operations": 0,
        "failed_wr_operations": 0,
        "flush_operations": wr_ops // 10,
        "flush_total_time_ns": wr_ops * 47_000,
        "idle_time_ns": uptime * 1_000_000,
        "invalid_flush_operations": 0,
        "invalid_rd_operations": 0,
        "invalid_unmap_operations": 0,
        "invalid_wr_operations": 0,
        "rd_bytes": rd,
        "rd_merged": 0,
        "rd_operations": rd_ops,
        "rd_total_time_ns": rd_ops * 455_000,
        "timed_stats": [],
        "unmap_bytes": wr // 4,
        "unmap_merged": 0,
        "unmap_operations": wr_ops // 300,
        "unmap_total_time_ns": wr_ops * 60,
        "wr_bytes": wr,
        "wr_highest_offset": min(wr, 34_359_738_368),
        "wr_merged": 0,
        "wr_operations": wr_ops,
        "wr_total_time_ns": wr_ops * 418_000,
    }


def guest_config(guest: Guest) -> dict[str, Any]:
    """GET /nodes/{node}/{qemu|lxc}/{vmid}/config (a plausible subset)."""
    mem_mib = guest.maxmem // (1024 * 1024)
    conf: dict[str, Any] = {"cores": guest.cores, "memory": mem_mib}
    if guest.kind == "qemu":
        conf.update(
            name=guest.name, ostype=guest.ostype, sockets=1, scsihw="virtio-scsi-single",
            boot="order=scsi0;ide2;net0", net0=f"virtio={guest.mac},bridge=vmbr0,firewall=1",
            scsi0=f"local-lvm:vm-{guest.vmid}-disk-0,iothread=1,size={guest.maxdisk // GIB}G",
            ide2="none,media=cdrom", smbios1="uuid=6b1b4bd0-6c6e-4b34-9d5c-4ab7f3e1b0c1",
            vmgenid="0c1b3b1e-23c2-4f0e-9d5a-7f0a4a3d2b11", cpu="x86-64-v2-AES",
        )
        if guest.agent:
            conf["agent"] = "1"
    else:
        conf.update(
            hostname=guest.name, ostype=guest.ostype, arch="amd64", swap=guest.maxswap >> 20,
            rootfs=f"local-lvm:vm-{guest.vmid}-disk-0,size={guest.maxdisk // GIB}G",
            net0=f"name=eth0,bridge=vmbr0,firewall=1,hwaddr={guest.mac},ip=dhcp,type=veth",
            unprivileged=1,
        )
    if guest.onboot:
        conf["onboot"] = 1
    if guest.tags:
        conf["tags"] = guest.tags
    if guest.template:
        conf["template"] = 1
    conf["digest"] = hashlib.sha1(json.dumps(conf, sort_keys=True).encode()).hexdigest()
    return conf
