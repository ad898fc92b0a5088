"""Tool replies as short plain answers: pure functions over the contract's reply dicts.

A reply is ``{"status":"ok","data":...}``, ``{"status":"error","error":{"code","message"}}`` or
``{"status":"confirmation_required","confirmation":{"id","expires_at","tool","reason"}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jarvis.plugins.llm_rules.fmt import capped, duration, join, pct, plural, share
from jarvis.plugins.llm_rules.world import World

MAX_OUTPUT_LINES = 20
_PAST = {"start": "Started", "stop": "Hard-stopped", "shutdown": "Shut down", "reboot": "Rebooted",
         "reset": "Hard-reset", "suspend": "Suspended", "resume": "Resumed"}
# tool -> (gerund, infinitive) for "Rebooting pve1 is dangerous" and "Couldn't reboot pve1"
_VERBS = {
    "proxmox.guest_start": ("Starting", "start"), "proxmox.guest_stop": ("Hard-stopping", "hard-stop"),
    "proxmox.guest_shutdown": ("Shutting down", "shut down"), "proxmox.guest_reboot": ("Rebooting", "reboot"),
    "proxmox.guest_reset": ("Hard-resetting", "hard-reset"), "proxmox.guest_suspend": ("Suspending", "suspend"),
    "proxmox.guest_resume": ("Resuming", "resume"), "proxmox.node_reboot": ("Rebooting", "reboot"),
    "proxmox.node_shutdown": ("Shutting down", "shut down"), "proxmox.node_wake": ("Waking", "wake"),
    "proxmox.guest_status": ("Reading the status of", "read the status of"),
    "proxmox.node_detail": ("Reading the details of", "read the details of"),
    "docker.start": ("Starting", "start"), "docker.stop": ("Stopping", "stop"),
    "docker.restart": ("Restarting", "restart"), "docker.status": ("Checking", "check"),
    "docker.logs": ("Reading the logs of", "read the logs of"), "ssh.exec": ("Running", "run"),
    "ssh.pct_exec": ("Running", "run"), "ssh.service_restart": ("Restarting", "restart"),
    "ssh.service_status": ("Checking", "check"), "ssh.updates_check": ("Checking updates on", "check updates on"),
    "network.ping": ("Pinging", "ping"), "network.wake": ("Waking", "wake"),
}
_ERRORS = {
    "not_found": "not found", "conflict": "not possible in its current state", "timeout": "timed out",
    "denied": "not allowed", "invalid_args": "invalid request", "unreachable": "unreachable",
    "upstream_error": "the remote side failed", "rate_limited": "too many requests, try again shortly",
}


def render(tool: str, args: Mapping[str, Any], reply: Mapping[str, Any], world: World | None = None) -> str:
    """Return one tool reply as a short plain answer."""
    status = reply.get("status")
    if status == "confirmation_required":
        return render_confirmation(tool, args, reply.get("confirmation") or {}, world)
    if status == "error":
        return render_error(tool, args, reply.get("error") or {}, world)
    if status != "ok":
        return f"{tool} answered something I don't understand (status {status!r})."
    data = reply.get("data")
    handler = _HANDLERS.get(tool)
    if handler is None:
        return f"Done: {tool}."
    try:
        return handler(args, data, world)
    except (KeyError, TypeError, AttributeError, ValueError):
        return f"Done: {tool} (its reply had an unexpected shape)."


def target_of(tool: str, args: Mapping[str, Any], world: World | None = None) -> str:
    """Return what a call acts on, as a person would say it ("web-01 (101)", "pve1", "nginx on docker1")."""
    if "vmid" in args:
        guest = world.guest(int(args["vmid"])) if world is not None else None
        return guest.label if guest else f"guest {args['vmid']}"
    if "container" in args:
        return f"{args['container']} on {args.get('host')}"
    if "service" in args:
        return f"{args['service']} on {args.get('host')}"
    if "argv" in args:
        return f"`{' '.join(map(str, args['argv']))}` on {args.get('host')}"
    return str(args.get("node") or args.get("host") or tool)


def render_confirmation(tool: str, args: Mapping[str, Any], confirmation: Mapping[str, Any],
                        world: World | None = None) -> str:
    """Say that a dangerous call waits for a human: which confirmation to approve, and until when."""
    action = _VERBS.get(tool, (f"Calling {tool} for", ""))[0]
    what = target_of(tool, args, world)
    expires = f" before {confirmation['expires_at']}" if confirmation.get("expires_at") else ""
    protected = " and the target is protected" if "protected" in str(confirmation.get("reason") or "") else ""
    return (f"{action} {what} is dangerous{protected}: approve confirmation {confirmation.get('id', '?')}{expires} "
            "to go ahead, or deny it. Nothing has happened yet.")


def render_error(tool: str, args: Mapping[str, Any], error: Mapping[str, Any], world: World | None = None) -> str:
    """Explain a failed call plainly, with its error code."""
    code = str(error.get("code") or "error")
    message = str(error.get("message") or _ERRORS.get(code, "failed")).rstrip(".")
    what = f"{_VERBS[tool][1]} {target_of(tool, args, world)}" if tool in _VERBS else f"call {tool}"
    return f"Couldn't {what}: {message} ({code})."


# -- ok replies, per tool -------------------------------------------------------------------------

def _guest_action(verb: str) -> Callable[[Mapping[str, Any], Any, World | None], str]:
    def render_(args: Mapping[str, Any], data: Any, world: World | None) -> str:
        guest = data.get("guest") or {}
        name = f"{guest['name']} ({guest['vmid']})" if guest.get("name") else target_of("", args, world)
        node = f" on {guest['node']}" if guest.get("node") else ""
        if data.get("status") == "requested":
            return f"Asked Proxmox to {verb} {name}{node}."
        state = f"; it is {guest['status']}" if guest.get("status") else ""
        return f"{_PAST[verb]} {name}{node}{state}."
    return render_


def _node_power(verb: str) -> Callable[[Mapping[str, Any], Any, World | None], str]:
    def render_(args: Mapping[str, Any], data: Any, world: World | None) -> str:
        node = args.get("node")
        if verb == "reboot":
            return f"{node} is rebooting; it and its guests will be back in a few minutes."
        return f"{node} is shutting down; wake it with 'wake {node}'."
    return render_


def _node_wake(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    via = " through the cluster" if data.get("via") == "pve" else " with a magic packet"
    mac = f" ({data['mac']})" if isinstance(data.get("mac"), str) else ""
    return f"Sent Wake-on-LAN to {args.get('node')}{mac}{via}; it should come online in a minute or two."


def _guest_status(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    name = f"{data.get('name')} ({data.get('vmid')})"
    if data.get("status") != "running":
        return f"{name} on {data.get('node')} is {data.get('status')}."
    return (f"{name} on {data.get('node')} is running, up {duration(data.get('uptime_s'))}: CPU "
            f"{pct(data.get('cpu_pct'))}, memory {share(data.get('mem_used'), data.get('mem_total'))}.")


def _node_detail(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    if data.get("status") != "online":
        return f"{data.get('name')} is {data.get('status')}."
    load = data.get("load") or []
    text = (f"{data.get('name')} is online, up {duration(data.get('uptime_s'))}: CPU {pct(data.get('cpu_pct'))}"
            + (f", load {', '.join(f'{v:.2f}' for v in load)}" if load else "")
            + f", memory {share(data.get('mem_used'), data.get('mem_total'))}")
    if data.get("pve_version"):
        text += f", {data['pve_version']}"
    return text + "."


def _cluster_status(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    c = data.get("cluster") or {}
    quorate = "quorate" if c.get("quorate") else "NOT quorate"
    return (f"Cluster {c.get('name')}: {quorate}, {c.get('nodes_online')} of {c.get('nodes_total')} nodes online, "
            f"{c.get('guests_running')} of {c.get('guests_total')} guests running.")


def _guest_list(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    names = [f"{g['name']} ({g['vmid']}, {g['status']})" for g in data.get("guests", [])]
    return f"{plural(int(data.get('count', len(names))), 'guest')}: {capped(names, 15)}." if names else "No guests."


def _storage_list(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    rows = sorted(data, key=lambda s: -(s.get("used_pct") or 0))
    return "\n".join(f"{s['storage']} on {s['node']}: {share(s.get('used'), s.get('total'))}" for s in rows) or \
        "No storage."


def _resources(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    return (f"{plural(len(data.get('nodes', [])), 'node')}, {plural(len(data.get('guests', [])), 'guest')}, "
            f"{len(data.get('storage', []))} storage entries.")


def _task(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    state = data.get("status")
    if state == "running":
        return f"Task {data.get('type') or ''} on {data.get('node')} is still running.".replace("  ", " ")
    return f"Task {data.get('type') or ''} on {data.get('node')} finished: {data.get('exitstatus')}.".replace("  ", " ")


def _output(text: str) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) > MAX_OUTPUT_LINES:
        lines = [f"... ({len(lines) - MAX_OUTPUT_LINES} earlier lines)"] + lines[-MAX_OUTPUT_LINES:]
    return "\n".join(lines)


def _exec(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    where = f"inside {data.get('vmid')} on {data.get('host')}" if "vmid" in data else f"on {data.get('host')}"
    head = f"`{' '.join(map(str, data.get('argv') or args.get('argv') or []))}` {where} exited " \
           f"{data.get('exit_status')}"
    out = _output(data.get("stdout") or "")
    err = _output(data.get("stderr") or "") if data.get("exit_status") else ""
    return head + (":\n" + out if out else ".") + ("\n" + err if err else "")


def _service(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    sub = f" ({data['sub_state']})" if data.get("sub_state") else ""
    state = f"{data.get('state')}{sub}"
    if data.get("restarted"):
        return f"Restarted {data.get('service')} on {data.get('host')}; it is {state}."
    return f"{data.get('service')} on {data.get('host')} is {state}."


def _updates(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    count = int(data.get("count") or 0)
    if not count:
        return f"{data.get('host')} is up to date."
    security = f" ({data['security']} from security)" if data.get("security") else ""
    names = [p["name"] for p in data.get("packages", [])]
    return f"{data.get('host')} has {plural(count, 'upgradable package')}{security}: {capped(names, 10)}."


def _docker_list(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    names = [f"{c.get('name')} on {c.get('host')} ({c.get('status')})" for c in data.get("containers", [])]
    errors = data.get("errors") or {}
    text = f"Containers: {capped(names, 15)}." if names else "No containers."
    return text + (f" Unreachable: {join(sorted(errors))}." if errors else "")


def _docker_state(verb: str | None) -> Callable[[Mapping[str, Any], Any, World | None], str]:
    def render_(args: Mapping[str, Any], data: Any, world: World | None) -> str:
        health = f", {data['health']}" if data.get("health") else ""
        state = f"{data.get('status')}{health}"
        if verb is None:
            restarts = f", restarted {data['restart_count']} times" if data.get("restart_count") else ""
            return f"{data.get('name')} on {data.get('host')} is {state}{restarts}."
        return f"{verb} {data.get('name')} on {data.get('host')}; it is {state}."
    return render_


def _docker_logs(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    text = _output(data.get("text") or "")
    return f"Last lines of {data.get('container')} on {data.get('host')}:\n{text}" if text else \
        f"{data.get('container')} on {data.get('host')} has printed nothing."


def _ping(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    who = data.get("host") or args.get("host")
    if data.get("reachable"):
        rtt = f", {data['rtt_ms']:.1f} ms" if isinstance(data.get("rtt_ms"), int | float) else ""
        return f"{who} answers ({data.get('method')}{rtt})."
    why = f": {data['error']}" if data.get("error") else ""
    return f"{who} does not answer{why}."


def _wake(args: Mapping[str, Any], data: Any, world: World | None) -> str:
    return f"Sent a magic packet to {data.get('host') or args.get('host')} ({data.get('mac')})."


_HANDLERS: dict[str, Callable[[Mapping[str, Any], Any, World | None], str]] = {
    **{f"proxmox.guest_{verb}": _guest_action(verb) for verb in _PAST},
    "proxmox.node_reboot": _node_power("reboot"), "proxmox.node_shutdown": _node_power("shutdown"),
    "proxmox.node_wake": _node_wake, "proxmox.guest_status": _guest_status, "proxmox.node_detail": _node_detail,
    "proxmox.cluster_status": _cluster_status, "proxmox.guest_list": _guest_list,
    "proxmox.storage_list": _storage_list, "proxmox.cluster_resources": _resources, "proxmox.task_status": _task,
    "ssh.exec": _exec, "ssh.pct_exec": _exec, "ssh.service_status": _service, "ssh.service_restart": _service,
    "ssh.updates_check": _updates, "docker.list": _docker_list, "docker.status": _docker_state(None),
    "docker.start": _docker_state("Started"), "docker.stop": _docker_state("Stopped"),
    "docker.restart": _docker_state("Restarted"), "docker.logs": _docker_logs, "network.ping": _ping,
    "network.wake": _wake,
}
