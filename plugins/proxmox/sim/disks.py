"""Physical disks of the simulated nodes: GET /nodes/{node}/disks/list and /disks/smart.

Shapes follow pve-storage's PVE::Diskmanage::get_disks and get_smart_data: `model` is udev's
ID_MODEL (spaces become underscores), SATA disks have sysfs vendor "ATA" padded to 8 characters,
NVMe disks have vendor "unknown"; `wearout` is the percentage of life left for SSD/NVMe and the
string "N/A" for HDDs; `used` names what the first partition holds ("BIOS boot" on a standard
PVE install disk), and is absent on an unused disk; `osdid` is -1 and `osdid-list` null
without Ceph. SMART attribute ids are smartctl's right-aligned three-character column ("  5").
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field
from typing import Any

from .errors import internal

# (model as udev reports it, type, size in bytes, rpm, wear attribute for SATA SSDs)
NVME = [
    ("Samsung_SSD_980_PRO_1TB", 1000204886016),
    ("WD_BLACK_SN770_1TB", 1000204886016),
    ("KINGSTON_SNV2S1000G", 1000204886016),
    ("CT1000P3SSD8", 1000204886016),
    ("Samsung_SSD_970_EVO_Plus_500GB", 500107862016),
]
SATA_SSD = [
    ("Samsung_SSD_870_EVO_1TB", 1000204886016, "Wear_Leveling_Count"),
    ("CT1000MX500SSD1", 1000204886016, "Percent_Lifetime_Remain"),
    ("KINGSTON_SA400S37480G", 480103981056, "SSD_Life_Left"),
]
HDD = [
    ("WDC_WD40EFRX-68N32N0", 4000787030016, 5400),
    ("ST4000VN008-2DR166", 4000787030016, 5980),
    ("TOSHIBA_HDWG480", 8001563222016, 7200),
]
DISK_PATH = re.compile(r"^/dev/[a-zA-Z0-9/]+$")
GIB = 1024**3


@dataclass
class Disk:
    """One block device of a node, with what its SMART data says."""

    devpath: str
    type: str  # nvme | ssd | hdd
    model: str
    size: int
    serial: str
    wwn: str
    rpm: int
    wearout: int | None  # percent of life left; None for HDDs ("N/A")
    used: str | None
    power_on_hours: int
    wear_attr: str = ""
    boot: bool = False
    failing: bool = False
    failing_wearout: int = 3

    @property
    def health(self) -> str:
        """smartctl's overall-health verdict."""
        return "FAILED" if self.failing else "PASSED"

    @property
    def wearout_now(self) -> int | None:
        """Life left in percent as reported now (low while a disk-failing fault is active)."""
        if self.wearout is None:
            return None
        return min(self.wearout, self.failing_wearout) if self.failing else self.wearout

    @property
    def by_id_link(self) -> str:
        """The /dev/disk/by-id link udev creates (ata- or nvme- prefixed)."""
        prefix = "nvme" if self.type == "nvme" else "ata"
        return f"/dev/disk/by-id/{prefix}-{self.model}_{self.serial}"


@dataclass
class DiskSet:
    """The disks of one node, ordered as PVE lists them (by kernel name)."""

    disks: list[Disk] = field(default_factory=list)

    def get(self, devpath: str) -> Disk | None:
        """Return the disk at `devpath`, if the node has it."""
        return next((d for d in self.disks if d.devpath == devpath), None)


def _serial(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def build_disks(rng: random.Random) -> DiskSet:
    """Two or three disks: a PVE system disk (NVMe or SATA SSD) and one or two data disks."""
    disks: list[Disk] = []
    sata = iter("abcdefgh")
    hours = rng.randrange(2_000, 40_000)
    if rng.random() < 0.7:
        model, size = rng.choice(NVME)
        disks.append(Disk(
            "/dev/nvme0n1", "nvme", model, size, _serial(rng, 14), f"eui.{rng.getrandbits(64):016x}",
            0, rng.randrange(90, 101), "BIOS boot", hours, boot=True,
        ))
    else:
        model, size, attr = rng.choice(SATA_SSD)
        disks.append(Disk(
            f"/dev/sd{next(sata)}", "ssd", model, size, _serial(rng, 12),
            f"0x5{rng.getrandbits(60):015x}", 0, rng.randrange(85, 101), "BIOS boot", hours,
            wear_attr=attr, boot=True,
        ))
    for index in range(1 + (rng.random() < 0.5)):
        used = "ZFS" if index == 0 else rng.choice(["ZFS", None])
        if rng.random() < 0.5:
            model, size, rpm = rng.choice(HDD)
            disks.append(Disk(
                f"/dev/sd{next(sata)}", "hdd", model, size,
                f"WD-{_serial(rng, 12)}" if model.startswith("WDC") else _serial(rng, 8),
                f"0x50014ee{rng.getrandbits(36):09x}", rpm, None, used, rng.randrange(1_000, hours + 1),
            ))
        else:
            model, size, attr = rng.choice(SATA_SSD)
            disks.append(Disk(
                f"/dev/sd{next(sata)}", "ssd", model, size, _serial(rng, 12),
                f"0x5{rng.getrandbits(60):015x}", 0, rng.randrange(80, 101), used,
                rng.randrange(1_000, hours + 1), wear_attr=attr,
            ))
    disks.sort(key=lambda d: d.devpath.rsplit("/", 1)[1])
    return DiskSet(disks)


def _entry(disk: Disk, skipsmart: bool) -> dict[str, Any]:
    wearout = disk.wearout_now
    entry: dict[str, Any] = {
        "vendor": "unknown" if disk.type == "nvme" else "ATA     ",
        "model": disk.model,
        "size": disk.size,
        "serial": disk.serial,
        "gpt": 1,
        "rpm": disk.rpm,
        "type": disk.type,
        "wwn": disk.wwn,
        "health": "UNKNOWN" if skipsmart else disk.health,
        "devpath": disk.devpath,
        "wearout": "N/A" if skipsmart or wearout is None else wearout,
        "by_id_link": disk.by_id_link,
    }
    if disk.used:
        entry["used"] = disk.used
    entry.update({"osdid": -1, "osdid-list": None})
    return entry


def _partitions(disk: Disk) -> list[dict[str, Any]]:
    """Partitions of a disk as listed with include-partitions=1."""
    sep = "p" if disk.type == "nvme" else ""
    if disk.boot:
        layout = [(1031168, "BIOS boot"), (GIB, "vfat"), (disk.size - GIB - 2 * 1024**2, "LVM")]
    elif disk.used == "ZFS":
        layout = [(disk.size - 8 * 1024**2 - 1024**2, "ZFS"), (8 * 1024**2, "ZFS reserved")]
    else:
        return []
    numbers = [1, 2, 3] if disk.boot else [1, 9]
    return [
        {"devpath": f"{disk.devpath}{sep}{n}", "parent": disk.devpath, "gpt": 1, "type": "partition",
         "size": size, "used": used, "osdid": -1, "osdid-list": None}
        for n, (size, used) in zip(numbers, layout, strict=True)
    ]


def disk_list(disks: DiskSet, params: dict[str, Any]) -> list[dict[str, Any]]:
    """GET /nodes/{node}/disks/list (`skipsmart`, `type`, `include-partitions`)."""
    kind = params.get("type")
    out: list[dict[str, Any]] = []
    for disk in disks.disks:
        if kind == "unused" and disk.used:
            continue
        # "journal_disks" keeps GPT disks that are no OSD yet: all of ours
        out.append(_entry(disk, bool(params.get("skipsmart"))))
        if params.get("include-partitions"):
            out.extend(_partitions(disk))
    return sorted(out, key=lambda e: e["devpath"].rsplit("/", 1)[1])


def _attr(ident: int, name: str, flags: str, value: int, worst: int, thresh: int, raw: str,
          fail: str = "-") -> dict[str, Any]:
    return {"name": name, "flags": flags, "value": value, "normalized": value, "worst": worst,
            "threshold": thresh, "fail": fail, "raw": raw, "id": f"{ident:>3}"}


def _ata_attributes(disk: Disk, temp: int) -> list[dict[str, Any]]:
    bad = disk.failing
    realloc = ("1848", 1, "NOW") if bad else ("0", 100, "-")
    attrs = [
        _attr(1, "Raw_Read_Error_Rate", "POSR-K", 100, 100, 0, "0"),
        _attr(5, "Reallocated_Sector_Ct", "PO--CK", realloc[1], realloc[1], 10, realloc[0], realloc[2]),
        _attr(9, "Power_On_Hours", "-O--CK", 95, 95, 0, str(disk.power_on_hours)),
        _attr(12, "Power_Cycle_Count", "-O--CK", 100, 100, 0, str(40 + disk.power_on_hours % 97)),
    ]
    if disk.type == "ssd":
        wear = disk.wearout_now or 0
        attrs.append(_attr(177 if disk.wear_attr == "Wear_Leveling_Count" else 202, disk.wear_attr,
                           "PO--C-", wear, wear, 5 if bad else 0, str(100 - wear)))
    else:
        attrs.append(_attr(197, "Current_Pending_Sector", "-O--CK", 200, 200, 0, "24" if bad else "0"))
    attrs.append(_attr(194, "Temperature_Celsius", "-O---K", 100 - temp, 60, 0,
                       f"{temp} (Min/Max 18/{temp + 12})"))
    return sorted(attrs, key=lambda a: int(a["id"]))


def _nvme_text(disk: Disk, temp: int) -> str:
    used = 100 - (disk.wearout_now or 0)
    errors = 37 if disk.failing else 0
    rows = [
        ("", ""), ("SMART/Health Information (NVMe Log 0x02)", None),
        ("Critical Warning:", "0x04" if disk.failing else "0x00"),
        ("Temperature:", f"{temp} Celsius"), ("Available Spare:", "100%"),
        ("Available Spare Threshold:", "10%"), ("Percentage Used:", f"{used}%"),
        ("Data Units Read:", f"{disk.power_on_hours * 977:,} [{disk.power_on_hours * 0.5 / 1000:.2f} TB]"),
        ("Data Units Written:", f"{disk.power_on_hours * 1411:,} [{disk.power_on_hours * 0.72 / 1000:.2f} TB]"),
        ("Power Cycles:", str(40 + disk.power_on_hours % 97)),
        ("Power On Hours:", f"{disk.power_on_hours:,}"), ("Unsafe Shutdowns:", "12"),
        ("Media and Data Integrity Errors:", str(errors)),
        ("Error Information Log Entries:", str(errors * 3)),
        ("Temperature Sensor 1:", f"{temp} Celsius"),
    ]
    lines = [label if value is None else (f"{label:<36}{value}" if label else "") for label, value in rows]
    return "\n".join(lines) + "\n"


def smart(disks: DiskSet, devpath: str, healthonly: bool, temp: int) -> dict[str, Any]:
    """GET /nodes/{node}/disks/smart?disk=...: health plus ATA attributes or NVMe text."""
    disk = disks.get(devpath)
    if disk is None:
        raise internal(f"failed to get absolute path to {devpath}")
    if healthonly:
        return {"health": disk.health}
    if disk.type == "nvme":
        return {"health": disk.health, "type": "text", "text": _nvme_text(disk, temp),
                "wearout": disk.wearout_now}
    return {"health": disk.health, "type": "ata", "attributes": _ata_attributes(disk, temp)}


def pick(disks: DiskSet, devpath: str | None) -> Disk:
    """The disk a disk-failing fault targets: `devpath`, else the last data disk."""
    if devpath is None:
        return disks.disks[-1]
    disk = disks.get(devpath)
    if disk is None:
        known = ", ".join(d.devpath for d in disks.disks)
        raise LookupError(f"no disk {devpath!r} (the node has {known})")
    return disk
