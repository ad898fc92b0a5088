"""The node programs a Proxmox host has: systemctl, apt, sensors, pveversion, qm and pct.

Output and exit statuses follow the real tools (systemd 257, apt 3.0, lm-sensors 3.6, PVE 9's
CLI handler: errors on stderr with status 255; lxc-attach for a stopped container: status 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from . import faults
from . import sensors as sensor_output
from .model import KERNEL_RELEASE, PVEVERSION_STRING, Guest
from .shellenv import Result, Where

SERVICE_TYPES = {"corosync": "notify", "ssh": "notify", "pvestatd": "forking", "pveproxy": "forking",
                 "pvedaemon": "forking", "pve-cluster": "forking", "chrony": "forking"}
SHOW_ORDER = ("Type", "Restart", "MainPID", "Id", "Names", "Description", "LoadState", "ActiveState",
              "SubState", "FragmentPath", "UnitFileState", "UnitFilePreset", "ActiveEnterTimestamp")
APT_WARNING = "\nWARNING: apt does not have a stable CLI interface. Use with caution in scripts.\n\n"
PVE_VERSIONS = """proxmox-ve: 9.0.0 (running kernel: {kernel})
pve-manager: 9.0.11 (running version: 9.0.11/3bf5476b8a4699e2)
proxmox-kernel-helper: 9.0.4
proxmox-kernel-{kernel}-signed: 6.14.11-4
corosync: 3.1.9-pve2
libpve-common-perl: 9.0.11
libpve-storage-perl: 9.0.13
pve-container: 6.0.13
pve-qemu-kvm: 10.0.2-3
qemu-server: 9.0.22
"""


def _unit_id(unit: str) -> str:
    return unit if "." in unit else f"{unit}.service"


def _stamp(epoch: float) -> str:
    return time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def _ago(epoch: float) -> str:
    seconds = max(0, int(time.time() - epoch))
    for size, unit in ((86400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''} ago"
    return f"{seconds}s ago"


def _properties(where: Where, unit: str) -> dict[str, str]:
    svc = where.host.service(unit) if unit.endswith(".service") or "." not in unit else None
    uid = _unit_id(unit)
    if svc is None:
        return {"Type": "simple", "Restart": "no", "MainPID": "0", "Id": uid, "Names": uid,
                "Description": uid, "LoadState": "not-found", "ActiveState": "inactive",
                "SubState": "dead", "FragmentPath": "", "UnitFileState": "", "UnitFilePreset": "",
                "ActiveEnterTimestamp": ""}
    return {
        "Type": SERVICE_TYPES.get(svc.name, "simple"), "Restart": "on-failure", "MainPID": str(svc.pid),
        "Id": uid, "Names": uid, "Description": svc.description, "LoadState": "loaded",
        "ActiveState": svc.active, "SubState": svc.sub_state,
        "FragmentPath": f"/usr/lib/systemd/system/{uid}", "UnitFileState": "enabled",
        "UnitFilePreset": "enabled", "ActiveEnterTimestamp": _stamp(svc.since) if svc.active == "active" else "",
    }


def _show(where: Where, units: list[str], wanted: list[str], value_only: bool) -> Result:
    blocks = []
    for unit in units:
        props = _properties(where, unit)
        keys = [k for k in SHOW_ORDER if not wanted or k in wanted]
        blocks.append("".join(f"{props[k]}\n" if value_only else f"{k}={props[k]}\n" for k in keys))
    return Result(out="\n".join(blocks))


def _status(where: Where, unit: str) -> Result:
    svc = where.host.service(unit)
    if svc is None:
        return Result(err=f"Unit {_unit_id(unit)} could not be found.\n", status=4)
    uid = _unit_id(unit)
    mark = {"active": "●", "failed": "×"}.get(svc.active, "○")
    state = {"active": "active (running)", "failed": "failed (Result: exit-code)"}.get(svc.active, "inactive (dead)")
    lines = [f"{mark} {uid} - {svc.description}",
             f"     Loaded: loaded (/usr/lib/systemd/system/{uid}; enabled; preset: enabled)",
             f"     Active: {state} since {_stamp(svc.since)}; {_ago(svc.since)}"]
    if svc.pid:
        lines.append(f"   Main PID: {svc.pid} ({svc.name})")
    return Result(out="\n".join(lines) + "\n", status=0 if svc.active == "active" else 3)


def _change(where: Where, verb: str, unit: str) -> Result:
    svc = where.host.service(unit)
    uid = _unit_id(unit)
    if svc is None:
        return Result(err=f"Failed to {verb} {uid}: Unit {uid} not found.\n", status=5)
    if verb == "stop":
        where.host.stop(svc)
        return Result()
    if verb in ("reload", "try-restart") and svc.active != "active":
        return Result(err=f"{uid} is not active, cannot reload.\n", status=1) if verb == "reload" else Result()
    if verb == "reload" or (verb == "start" and svc.active == "active"):
        return Result()
    if svc.sticky:
        where.host.stop(svc, "failed")
        return Result(err=f"Job for {uid} failed because the control process exited with error code.\n"
                          f"See \"systemctl status {uid}\" and \"journalctl -xeu {uid}\" for details.\n",
                      status=1)
    where.host.start(svc)
    faults.forget(where.sim, "service-stopped", where.node.name, service=svc.name)
    return Result()


def _list_units(where: Where, failed_only: bool) -> Result:
    rows = [s for s in sorted(where.host.services.values(), key=lambda s: s.name)
            if not failed_only or s.active == "failed"]
    width = max([len(_unit_id(s.name)) for s in rows] + [4])
    lines = [f"  {'UNIT':<{width}} LOAD   ACTIVE   SUB     DESCRIPTION"]
    for svc in rows:
        mark = "●" if svc.active == "failed" else " "
        lines.append(f"{mark} {_unit_id(svc.name):<{width}} loaded {svc.active:<8} {svc.sub_state:<7} "
                     f"{svc.description}")
    lines += ["", "LOAD   = Reflects whether the unit definition was properly loaded.",
              "ACTIVE = The high-level unit activation state, i.e. generalization of SUB.",
              "SUB    = The low-level unit activation state, values depend on unit type.", "",
              f"{len(rows)} loaded units listed."]
    return Result(out="\n".join(lines) + "\n")


def systemctl(where: Where, args: list[str]) -> Result:
    """systemctl is-active|is-failed|is-enabled|show|status|start|stop|restart|reload|list-units."""
    wanted: list[str] = []
    words: list[str] = []
    flags: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-p", "--property") and i + 1 < len(args):
            wanted += args[i + 1].split(",")
            i += 1
        elif arg.startswith("--property=") or (arg.startswith("-p") and len(arg) > 2):
            wanted += arg.split("=", 1)[1].split(",") if "=" in arg else arg[2:].split(",")
        elif arg.startswith("-"):
            flags.add(arg)
        else:
            words.append(arg)
        i += 1
    verb, units = (words[0], words[1:]) if words else ("list-units", [])
    quiet = bool(flags & {"-q", "--quiet"})
    if verb in ("is-active", "is-failed", "is-enabled", "show", "status", "start", "stop", "restart",
                "reload", "try-restart") and not units:
        return Result() if verb == "show" else Result(err="Too few arguments.\n", status=1)
    if verb in ("is-active", "is-failed"):
        states = [(s.active if (s := where.host.service(u)) else "inactive") for u in units]
        hit = any(st == ("active" if verb == "is-active" else "failed") for st in states)
        miss = 3 if verb == "is-active" else 1
        return Result(out="" if quiet else "".join(f"{st}\n" for st in states), status=0 if hit else miss)
    if verb == "is-enabled":
        missing = [u for u in units if where.host.service(u) is None]
        if missing:
            return Result(err=f"Failed to get unit file state for {_unit_id(missing[0])}: No such file or directory\n",
                          status=1)
        return Result(out="" if quiet else "enabled\n" * len(units))
    if verb == "show":
        return _show(where, units, wanted, "--value" in flags)
    if verb == "status":
        results = [_status(where, u) for u in units]
        return Result("\n".join(r.out for r in results), "".join(r.err for r in results),
                      max(r.status for r in results))
    if verb in ("start", "stop", "restart", "reload", "try-restart"):
        results = [_change(where, verb, u) for u in units]
        return Result(err="".join(r.err for r in results), status=max(r.status for r in results))
    if verb == "list-units":
        return _list_units(where, "--failed" in flags or "--state=failed" in flags)
    return Result(err=f"Unknown command verb '{verb}'.\n", status=1)


def apt(where: Where, args: list[str]) -> Result:
    """apt/apt-get: list --upgradable, update, upgrade/full-upgrade/dist-upgrade."""
    words = [a for a in args if not a.startswith("-")]
    flags = {a for a in args if a.startswith("-")}
    host = where.host
    if words[:1] == ["list"]:
        if flags & {"--upgradable", "--upgradeable"}:
            lines = [f"{p.name}/{p.suite} {p.version} {p.arch} [upgradable from: {p.old}]" for p in host.upgradable]
            return Result(out="Listing...\n" + "".join(f"{line}\n" for line in lines), err=APT_WARNING)
        return Result(out="Listing...\n", err=APT_WARNING)
    if words[:1] == ["update"]:
        count = len(host.upgradable)
        tail = (f"{count} packages can be upgraded. Run 'apt list --upgradable' to see them.\n" if count
                else "All packages are up to date.\n")
        return Result(out="Hit:1 http://deb.debian.org/debian trixie InRelease\n"
                          "Hit:2 http://security.debian.org/debian-security trixie-security InRelease\n"
                          "Hit:3 http://download.proxmox.com/debian/pve trixie InRelease\n"
                          "Reading package lists...\n" + tail, err=APT_WARNING)
    if words[:1] in (["upgrade"], ["full-upgrade"], ["dist-upgrade"]):
        packages = host.upgradable
        head = "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
        if packages and not flags & {"-y", "--yes", "--assume-yes", "-qy", "-yq"}:
            return Result(out=head + "Do you want to continue? [Y/n] Abort.\n", status=1)
        out = head + "".join(f"Setting up {p.name} ({p.version}) ...\n" for p in packages)
        out += f"{len(packages)} upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
        host.pending, host.updates_fault = [], None
        faults.forget(where.sim, "updates", where.node.name)
        return Result(out=out)
    return Result(err=f"E: Invalid operation {words[0] if words else ''}\n", status=100)


def sensors(where: Where, args: list[str]) -> Result:
    """lm-sensors: `sensors` (text) or `sensors -j` (JSON)."""
    if "-j" in args:
        return Result(out=sensor_output.as_json(where.host))
    return Result(out=sensor_output.as_text(where.host))


def pveversion(where: Where, args: list[str]) -> Result:
    """pveversion [-v]."""
    if "-v" in args or "--verbose" in args:
        return Result(out=PVE_VERSIONS.format(kernel=KERNEL_RELEASE))
    return Result(out=f"{PVEVERSION_STRING} (running kernel: {KERNEL_RELEASE})\n")


def _cli_error(tool: str, text: str) -> Result:
    return Result(err=text if text.endswith("\n") else text + "\n", status=255)


def _vmid(tool: str, verb: str, args: list[str]) -> int | Result:
    usage = f"{tool} {verb} <vmid>" + (" [<extra-args>] [OPTIONS]" if verb == "exec" else " [OPTIONS]")
    if not args:
        return _cli_error(tool, f"400 not enough arguments\n{usage}")
    if not args[0].isdigit():
        return _cli_error(tool, f"400 Parameter verification failed.\n"
                                f"vmid: type check ('integer') failed - got '{args[0]}'\n{usage}")
    return int(args[0])


def _guest(where: Where, kind: str, vmid: int) -> Guest | Result:
    guest = where.sim.cluster.guests.get(vmid)
    if guest is None or guest.node != where.node.name or guest.kind != kind:
        folder = "lxc" if kind == "lxc" else "qemu-server"
        return _cli_error("", f"Configuration file 'nodes/{where.node.name}/{folder}/{vmid}.conf' does not exist")
    return guest


def _table(where: Where, kind: str) -> str:
    guests = [g for g in where.sim.cluster.node_guests(where.node.name) if g.kind == kind]
    if kind == "lxc":
        rows = [f"{'VMID':<10} {'Status':<10} {'Lock':<12} {'Name':<20}"]
        rows += [f"{g.vmid:<10} {g.status:<10} {g.lock or '':<12} {g.name:<20}" for g in guests]
    else:
        rows = [f"{'VMID':>10} {'NAME':<20} {'STATUS':<10} {'MEM(MB)':<10} {'BOOTDISK(GB)':>12} {'PID':<10}"]
        rows += [f"{g.vmid:>10} {g.name:<20} {g.status:<10} {g.maxmem // 1024**2:<10} "
                 f"{g.maxdisk / 1024**3:>12.2f} {g.pid or 0:<10}" for g in guests]
    return "\n".join(rows) + "\n"


Runner = Callable[[Where, Guest, list[str]], Result]


def pct(where: Where, args: list[str], run: Runner) -> Result:
    """pct list | status <vmid> | exec <vmid> [--] <command...>."""
    verb, rest = (args[0], args[1:]) if args else ("", [])
    if verb == "list":
        return Result(out=_table(where, "lxc"))
    if verb not in ("status", "exec"):
        return _cli_error("pct", f"ERROR: unknown command 'pct {verb}'\nUSAGE: pct <COMMAND> [ARGS] [OPTIONS]")
    vmid = _vmid("pct", verb, rest)
    if isinstance(vmid, Result):
        return vmid
    guest = _guest(where, "lxc", vmid)
    if isinstance(guest, Result):
        return guest
    if verb == "status":
        return Result(out=f"status: {guest.status}\n")
    command = rest[1:]
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        return _cli_error("pct", "missing command at /usr/share/perl5/PVE/CLI/pct.pm line 233.")
    if not guest.running:
        return Result(err=f"lxc-attach: {vmid}: ../src/lxc/attach.c: get_attach_context: 405 Connection "
                          f"refused - Failed to get init pid\nlxc-attach: {vmid}: ../src/lxc/attach.c: "
                          f"lxc_attach: 1470 Failed to get attach context\n", status=1)
    return run(where, guest, command)


def qm(where: Where, args: list[str]) -> Result:
    """qm list | status <vmid>."""
    verb, rest = (args[0], args[1:]) if args else ("", [])
    if verb == "list":
        return Result(out=_table(where, "qemu"))
    if verb != "status":
        return _cli_error("qm", f"ERROR: unknown command 'qm {verb}'\nUSAGE: qm <COMMAND> [ARGS] [OPTIONS]")
    vmid = _vmid("qm", verb, rest)
    if isinstance(vmid, Result):
        return vmid
    guest = _guest(where, "qemu", vmid)
    return guest if isinstance(guest, Result) else Result(out=f"status: {guest.status}\n")

