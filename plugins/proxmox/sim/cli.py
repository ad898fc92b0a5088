"""`jarvis sim`: serve a simulated PVE cluster, inject faults into it, read its stats.

    jarvis sim --port 8006 --nodes 4 --guests 12 --seed 1          # serve (default)
    jarvis sim fault node-offline pve2                              # inject a fault
    jarvis sim stats [--reset]                                      # request counters
    jarvis sim ssh-config                                           # plugins.ssh block for its nodes

fault/stats/state/ssh-config find the running simulator through its run file (see runfile.py);
--url/--token (or JARVIS_SIM_URL/JARVIS_SIM_TOKEN) win over it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import requests
import urllib3

from . import runfile

SUBCOMMANDS = ("serve", "fault", "stats", "state", "ssh-config")
NO_SIMULATOR = ("no running simulator found (start `jarvis demo` or `jarvis sim serve`), "
                "or pass --url/--token")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jarvis sim", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="serve a simulated cluster until Ctrl-C (default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8006, help="0 picks a free port")
    serve.add_argument("--nodes", type=int, default=4)
    serve.add_argument("--guests", type=int, default=12)
    serve.add_argument("--seed", type=int, default=None, help="same seed, same cluster")
    serve.add_argument("--task-seconds", type=float, default=1.5, help="duration of start/stop")
    serve.add_argument("--tick-seconds", type=float, default=2.0, help="metrics update period")
    serve.add_argument("--boot-seconds", type=float, default=None, help="node boot time")
    serve.add_argument("--auth-delay", type=float, default=0.0,
                       help="delay 401 answers (real pveproxy waits 3 s)")
    serve.add_argument("--wol-port", type=int, default=0, help="UDP port for magic packets")
    serve.add_argument("--fast", action="store_true", help="near-instant tasks (tests)")
    serve.add_argument("--json", action="store_true", help="print one JSON line of details")
    serve.add_argument("--no-ssh", action="store_true", help="no SSH servers for the nodes")
    serve.add_argument("--ssh-port", type=int, default=0,
                       help="first node's SSH port, the others follow (default: free ports)")
    serve.add_argument("--run-file", type=Path, default=None,
                       help=f"where to say how to reach us (default: {runfile.default_path()})")
    serve.add_argument("--no-run-file", action="store_true", help="write no run file")

    for name, text in (("fault", "inject or clear a fault"), ("stats", "request counters"),
                       ("state", "cluster overview"),
                       ("ssh-config", "print a plugins.ssh block that reaches the simulated nodes")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--run-file", type=Path, default=None,
                       help="read the simulator's details from this run file")
        if name == "ssh-config":
            continue
        p.add_argument("--url", default=os.environ.get("JARVIS_SIM_URL"),
                       help="simulator URL (env JARVIS_SIM_URL)")
        p.add_argument("--token", default=os.environ.get("JARVIS_SIM_TOKEN"),
                       help="API token secret or USER@REALM!ID=SECRET (env JARVIS_SIM_TOKEN)")
        p.add_argument("--ca-file", default=None, help="verify TLS with this CA (else no check)")
        if name == "stats":
            p.add_argument("--reset", action="store_true", help="reset the counters")
        if name == "fault":
            _fault_args(p)
    return parser


def _fault_args(p: argparse.ArgumentParser) -> None:
    kinds = p.add_subparsers(dest="kind", required=True)
    for kind in ("node-offline", "node-online", "poweroff", "poweron"):
        k = kinds.add_parser(kind)
        k.add_argument("node")
        if kind == "node-offline":
            k.add_argument("--reason", default="No route to host",
                           help="595 reason phrase, e.g. 'Connection refused'")
    kinds.add_parser("guest-crash").add_argument("vmid", type=int)
    cpu = kinds.add_parser("high-cpu")
    cpu.add_argument("--node")
    cpu.add_argument("--vmid", type=int)
    disk = kinds.add_parser("disk-full")
    disk.add_argument("storage")
    disk.add_argument("--node")
    lat = kinds.add_parser("latency")
    lat.add_argument("ms", type=float)
    lat.add_argument("--node")
    err = kinds.add_parser("http-error")
    err.add_argument("--rate", type=float, default=1.0)
    err.add_argument("--prefix", default="/")
    err.add_argument("--status", type=int, default=500)
    err.add_argument("--message", default="got timeout")
    kinds.add_parser("deny").add_argument("privilege", help="e.g. VM.PowerMgmt")
    failing = kinds.add_parser("disk-failing", help="a node's disk reports SMART FAILED")
    failing.add_argument("node")
    failing.add_argument("--disk", help="device path, e.g. /dev/sda (default: the last disk)")
    failing.add_argument("--wearout", type=int, help="percent of life left shown for SSDs (default 3)")
    hot = kinds.add_parser("hot-node", help="the node's CPU temperature sensors run hot")
    hot.add_argument("node")
    hot.add_argument("--celsius", type=float, help="CPU package temperature (default 96)")
    stopped = kinds.add_parser("service-stopped", help="a systemd unit is down until restarted")
    stopped.add_argument("node")
    stopped.add_argument("service", help="e.g. pveproxy, corosync, chrony")
    stopped.add_argument("--state", choices=("failed", "inactive"))
    stopped.add_argument("--sticky", action="store_true", help="restarting it fails too")
    updates = kinds.add_parser("updates", help="pending package updates, some security")
    updates.add_argument("node")
    updates.add_argument("--count", type=int)
    updates.add_argument("--security", type=int)
    tok = kinds.add_parser("token")
    tok.add_argument("action", choices=("rotate", "revoke", "restore"))
    kinds.add_parser("clear")
    kinds.add_parser("list")


def _fault_request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    kind = args.kind
    if kind == "clear":
        return "DELETE", "/faults", None
    if kind == "list":
        return "GET", "/faults", None
    if kind in ("node-offline", "node-online", "poweroff", "poweron"):
        event = {"node-offline": "offline", "node-online": "online"}.get(kind, kind)
        body = {"reason": args.reason} if kind == "node-offline" else {}
        return "POST", f"/nodes/{args.node}/{event}", body
    if kind == "guest-crash":
        return "POST", f"/guests/{args.vmid}/crash", {}
    if kind == "token":
        return "POST", f"/token/{args.action}", {}
    spec: dict[str, Any] = {"kind": kind}
    for key in ("node", "vmid", "storage", "ms", "rate", "prefix", "status", "message",
                "privilege", "disk", "wearout", "celsius", "service", "state", "count", "security"):
        value = getattr(args, key, None)
        if value is not None:
            spec[key] = value
    if getattr(args, "sticky", False):
        spec["sticky"] = True
    if kind == "high-cpu" and "node" not in spec and "vmid" not in spec:
        raise SystemExit("high-cpu needs --node or --vmid")
    return "POST", "/faults", spec


def _running(args: argparse.Namespace) -> dict[str, Any]:
    """The running simulator's details from its run file, or exit with a clear message."""
    path = args.run_file or runfile.default_path()
    found = runfile.read(path)
    if found is None:
        raise SystemExit(f"jarvis sim: {NO_SIMULATOR}" + (f" (looked in {path})" if args.run_file else ""))
    return found


def _target(args: argparse.Namespace) -> tuple[str, str, str | None]:
    """URL, token and CA file: flags or environment first, the run file for what is missing."""
    url, token, ca_file = args.url, args.token, args.ca_file
    if not url or not token:
        found = _running(args)
        if url and url.rstrip("/") != found["url"]:
            raise SystemExit("jarvis sim: --url given without --token (or JARVIS_SIM_TOKEN)")
        url = url or found["url"]
        token = token or f"{found['token_id']}={found['token_secret']}"
        ca_file = ca_file or found.get("ca_file")
    return url, token, ca_file


def admin_request(args: argparse.Namespace, method: str, path: str, body: Any) -> Any:
    """Call the simulator's /_sim admin API and return its JSON answer."""
    url, token, ca_file = _target(args)
    token = token if "=" in token else f"root@pam!jarvis={token}"
    if not ca_file:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    try:
        resp = requests.request(
            method, url.rstrip("/") + "/_sim" + path, json=body, timeout=10,
            headers={"Authorization": f"PVEAPIToken={token}"}, verify=ca_file or False,
        )
    except requests.RequestException as exc:
        raise SystemExit(f"jarvis sim: cannot reach the simulator at {url}: {exc}") from None
    data = resp.json()
    if resp.status_code >= 400:
        raise SystemExit(f"error {resp.status_code}: {data.get('error', data)}")
    return data


async def _serve(args: argparse.Namespace) -> int:
    from .runner import start_simulator

    # Before anything is announced: a stop request right after the JSON line must still clean up.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    handle = await start_simulator(
        host=args.host, port=args.port, nodes=args.nodes, guests=args.guests, seed=args.seed,
        task_seconds=0.05 if args.fast else args.task_seconds,
        tick_seconds=0.5 if args.fast else args.tick_seconds,
        boot_seconds=args.boot_seconds, auth_fail_delay=args.auth_delay, wol_port=args.wol_port,
        ssh=not args.no_ssh, ssh_port=args.ssh_port,
    )
    details = handle.info()
    run_file = None if args.no_run_file else (args.run_file or runfile.default_path())
    if run_file is not None:
        try:
            runfile.write(run_file, details)
            details["run_file"] = str(run_file)
        except OSError as exc:
            print(f"warning: cannot write the run file {run_file}: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps(details), flush=True)
    else:
        print(
            f"Proxmox VE simulator ({args.nodes} nodes, {args.guests} guests, seed {handle.seed})"
            f" listening on {handle.url}\n"
            f"  API token   : {handle.token_id}={handle.token_secret}\n"
            f"  read-only   : {handle.readonly_token_id}={handle.readonly_token_secret}\n"
            f"  password    : root@pam / {handle.password}\n"
            f"  CA file     : {handle.ca_file}\n"
            f"  fingerprint : {handle.fingerprint}\n"
            f"  WoL (UDP)   : {handle.host}:{handle.wol_port}\n"
            + _ssh_lines(handle.ssh_hosts)
            + (f"  run file    : {run_file}\n" if "run_file" in details else "")
            + "Faults: jarvis sim fault hot-node pve2 | service-stopped pve1 pveproxy | guest-crash 101"
            " | clear\nPress Ctrl-C to stop.",
            flush=True,
        )
    try:
        await stop.wait()
    finally:
        if "run_file" in details:
            runfile.remove(Path(details["run_file"]))
        await handle.stop()
    return 0


def _ssh_lines(hosts: dict[str, dict[str, Any]]) -> str:
    if not hosts:
        return ""
    first = next(iter(hosts.values()))
    ports = [str(h["port"]) for h in hosts.values()]
    shown = ", ".join(ports[:6]) + (", ..." if len(ports) > 6 else "")
    return (f"  SSH         : {first['username']}@{first['host']} ports {shown} (one per node)\n"
            f"  SSH key     : {first['key_file']} (known_hosts: {first['known_hosts']})\n")


def ssh_config(details: dict[str, Any]) -> str:
    """A `plugins.ssh` config block whose hosts are the simulator's nodes."""
    lines = ["plugins:", "  ssh:", "    hosts:"]
    for name, h in details.get("ssh", {}).items():
        lines.append(f"      {name}: {{host: {h['host']}, port: {h['port']}, username: {h['username']}, "
                     f"key_file: {json.dumps(h['key_file'])}, known_hosts: {json.dumps(h['known_hosts'])}}}")
    if len(lines) == 3:
        raise SystemExit("jarvis sim: the running simulator serves no SSH (started with --no-ssh)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `jarvis sim` (and `python -m jarvis.plugins.proxmox.sim`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*SUBCOMMANDS, "-h", "--help"):
        argv.insert(0, "serve")
    args = _parser().parse_args(argv)
    if args.command == "serve":
        if args.nodes < 1 or args.guests < 0:
            print("error: need --nodes >= 1 and --guests >= 0", file=sys.stderr)
            return 2
        try:
            return asyncio.run(_serve(args))
        except OSError as exc:
            print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
    if args.command == "ssh-config":
        print(ssh_config(_running(args)))
        return 0
    if args.command == "fault":
        method, path, body = _fault_request(args)
        result = admin_request(args, method, path, body)
    elif args.command == "stats":
        result = admin_request(args, "POST" if args.reset else "GET",
                               "/stats/reset" if args.reset else "/stats", None)
    else:
        result = admin_request(args, "GET", "/state", None)
    print(json.dumps(result, indent=2))
    return 0
