"""`jarvis sim`: serve a simulated PVE cluster, inject faults into it, read its stats.

    jarvis sim --port 8006 --nodes 4 --guests 12 --seed 1          # serve (default)
    jarvis sim fault --url URL --token SECRET node-offline pve2     # inject a fault
    jarvis sim stats --url URL --token SECRET [--reset]             # request counters
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

import requests
import urllib3

SUBCOMMANDS = ("serve", "fault", "stats", "state")


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

    for name, text in (("fault", "inject or clear a fault"), ("stats", "request counters"),
                       ("state", "cluster overview")):
        p = sub.add_parser(name, help=text)
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
                "privilege"):
        value = getattr(args, key, None)
        if value is not None:
            spec[key] = value
    if kind == "high-cpu" and "node" not in spec and "vmid" not in spec:
        raise SystemExit("high-cpu needs --node or --vmid")
    return "POST", "/faults", spec


def admin_request(args: argparse.Namespace, method: str, path: str, body: Any) -> Any:
    """Call the simulator's /_sim admin API and return its JSON answer."""
    if not args.url or not args.token:
        raise SystemExit("need --url and --token (or JARVIS_SIM_URL / JARVIS_SIM_TOKEN)")
    token = args.token if "=" in args.token else f"root@pam!jarvis={args.token}"
    if not args.ca_file:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    resp = requests.request(
        method, args.url.rstrip("/") + "/_sim" + path, json=body, timeout=10,
        headers={"Authorization": f"PVEAPIToken={token}"}, verify=args.ca_file or False,
    )
    data = resp.json()
    if resp.status_code >= 400:
        raise SystemExit(f"error {resp.status_code}: {data.get('error', data)}")
    return data


async def _serve(args: argparse.Namespace) -> int:
    from .runner import start_simulator

    handle = await start_simulator(
        host=args.host, port=args.port, nodes=args.nodes, guests=args.guests, seed=args.seed,
        task_seconds=0.05 if args.fast else args.task_seconds,
        tick_seconds=0.5 if args.fast else args.tick_seconds,
        boot_seconds=args.boot_seconds, auth_fail_delay=args.auth_delay, wol_port=args.wol_port,
    )
    if args.json:
        print(json.dumps(handle.info()), flush=True)
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
            "Press Ctrl-C to stop.",
            flush=True,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await handle.stop()
    return 0


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
