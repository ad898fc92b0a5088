"""Requests for the SSH, Docker-log, ping and update tools, and live status reads."""

from __future__ import annotations

from jarvis.plugins.llm_rules.fmt import join
from jarvis.plugins.llm_rules.intents import Answer, AskBack, Call, Intent, ToolRequest
from jarvis.plugins.llm_rules.lexicon import Action
from jarvis.plugins.llm_rules.parse import Mention, Parsed
from jarvis.plugins.llm_rules.targets import (
    HOSTLIKE,
    MAX_OPTIONS,
    MAX_READ_FANOUT,
    ask_ambiguous,
    ask_missing_vmid,
    ask_unknown,
    describe,
    host_name,
    narrow,
)
from jarvis.plugins.llm_rules.text import WORD, Tok
from jarvis.plugins.llm_rules.world import CONTAINER, GUEST, HOST, NODE, Ref, World

_RESTART = (Action.REBOOT, Action.START, Action.RESET)
_NO_SSH = "the SSH tools are not available here"


def _hosts(p: Parsed, world: World) -> list[str]:
    """Return the SSH-able machines named (location first), or every node for "all nodes"."""
    named = [host_name(m) for m in ([p.location] if p.location else []) + p.targets]
    hosts = [h for h in named if h]
    if not hosts and p.quant:
        hosts = [n.name for n in world.nodes if n.online]
    return list(dict.fromkeys(hosts))


def _ask_host(verb: str, world: World, tail: str = "") -> AskBack:
    nodes = [n.name for n in world.nodes if n.online] or sorted(world.ssh_targets())
    return AskBack(f"{verb[0].upper()}{verb[1:]} on which host?",
                   tuple(f"{verb} on {name}{tail}" for name in nodes[:MAX_OPTIONS]))


def service(p: Parsed, world: World, tools: set[str], action: Action | None) -> Intent:
    """Restart a systemd service or read its state ("restart pveproxy on pve1")."""
    name = p.services[0] if p.services else p.unresolved[0].text
    restart = action in _RESTART
    if action in (Action.STOP, Action.SHUTDOWN, Action.SUSPEND, Action.RESET):
        return Answer(f"I can restart the {name} service or check its state, but not stop it. "
                      f"Say 'restart {name} on <host>' or 'is {name} running on <host>'.")
    inside = p.location.refs if p.location else ()  # "restart nginx service in ct 105"
    guest = next((world.get(r) for r in inside if r.kind == GUEST), None)
    if guest is not None and guest.type == "lxc":
        argv = ["systemctl", "restart" if restart else "is-active", name]
        if "ssh.pct_exec" not in tools:
            return Answer(f"I can't reach inside {guest.label}: {_NO_SSH}.")
        return ToolRequest.single("ssh.pct_exec", {"host": guest.node, "vmid": guest.vmid, "argv": argv},
                                  f"{'Restart' if restart else 'Check'} {name} inside {guest.label}.")
    tool = "ssh.service_restart" if restart else "ssh.service_status"
    if tool not in tools:
        return Answer(f"I can't {'restart' if restart else 'check'} {name}: {_NO_SSH}.")
    hosts = _hosts(p, world)
    verb = f"{'restart' if restart else 'check'} {name}"
    if not hosts:
        return _ask_host(verb, world)
    if p.quant and restart:
        return Answer(f"I won't restart {name} on {len(hosts)} hosts at once. Name the hosts, one request each.",
                      {"refused": "mass_action", "matches": hosts})
    names = list(dict.fromkeys(p.services or [name]))
    calls = tuple(Call(tool, {"host": h, "service": s}) for h in hosts for s in names)[:MAX_READ_FANOUT]
    what = f"the {join(names)} service{'s' if len(names) > 1 else ''}"
    return ToolRequest(calls, f"{'Restart' if restart else 'Check'} {what} on {join(hosts)}.")


def run(p: Parsed, world: World, tools: set[str]) -> Intent:
    """Run a program on a host (ssh.exec) or inside an LXC container (ssh.pct_exec)."""
    command = p.command
    assert command is not None
    argv = list(command.argv)
    shown = " ".join(argv)
    where = command.target
    if where is None:
        return _ask_host(f"run `{shown}`", world)
    if where.lower() in ("all nodes", "every node", "all hosts", "everywhere"):
        return Answer(f"I won't run `{shown}` on every host at once; name one host per request.",
                      {"refused": "mass_action"})
    refs = _where(where, world)
    if not refs:
        return ask_unknown(f"run {shown} on", Tok(WORD, where, where, 0), world, (*HOSTLIKE, GUEST))
    machines = [r for r in refs if r.kind in HOSTLIKE]
    guests = [r for r in refs if r.kind == GUEST]
    if machines:
        if "ssh.exec" not in tools:
            return Answer(f"I can't run `{shown}`: {_NO_SSH}.")
        host = machines[0].key
        return ToolRequest.single("ssh.exec", {"host": host, "argv": argv}, f"Run `{shown}` on {host}.")
    if guests:
        guest = world.get(guests[0])
        if guest.type != "lxc":
            return Answer(f"I can run commands on hosts and inside LXC containers, but {guest.label} is a VM. "
                          f"Try 'run {shown} on {guest.node}' for its node.")
        if "ssh.pct_exec" not in tools:
            return Answer(f"I can't run `{shown}` inside {guest.label}: {_NO_SSH}.")
        return ToolRequest.single("ssh.pct_exec", {"host": guest.node, "vmid": guest.vmid, "argv": argv},
                                  f"Run `{shown}` inside {guest.label} (pct exec on {guest.node}).")
    return Answer(f"I can't run commands inside {describe(refs[0], world)}; only on hosts and LXC containers.")


def _where(text: str, world: World) -> list[Ref]:
    if text.isdigit():
        return [Ref(GUEST, text)] if world.guest(int(text)) else []
    refs = list(world.lookup(text))
    if not refs:
        near = world.fuzzy(text, cutoff=0.8)
        refs = list(near[0].refs) if near else []
    return [r for r in refs if r.kind in (*HOSTLIKE, GUEST, CONTAINER)]


def logs(p: Parsed, world: World, tools: set[str]) -> Intent:
    """Show a Docker container's last lines."""
    subjects = p.subjects()
    if "docker.logs" not in tools:
        return Answer("I can show logs of Docker containers, but the Docker tools are not available here.")
    if not subjects:
        if p.unresolved:
            return ask_unknown("show logs of", p.unresolved[0], world, {CONTAINER})
        place = host_name(p.location)
        containers = [Ref(CONTAINER, f"{c.host}/{c.name}") for c in world.containers
                      if place is None or c.host == place][:MAX_OPTIONS]
        return AskBack("Logs of which container?", tuple(f"show logs of {c.key.split('/')[1]} on "
                                                         f"{c.key.split('/')[0]}" for c in containers))
    mention = subjects[0]
    kept, dropped = narrow(mention, p, world, {CONTAINER})
    if not kept:
        what = describe(dropped[0], world) if dropped else f"'{mention.text}'"
        return Answer(f"I can show logs of Docker containers only, and {what} is not one. For a container "
                      "guest, try 'run journalctl -n 50 in <vmid>'.")
    if len(kept) > 1:
        return ask_ambiguous("show logs of", mention, kept, world)
    container = world.get(kept[0])
    args: dict[str, object] = {"host": container.host, "container": container.name}
    if p.amount:
        args["tail"] = max(1, min(5000, p.amount))
    return ToolRequest.single("docker.logs", args, f"Show the last lines of {container.name} on {container.host}.")


def ping(p: Parsed, world: World, tools: set[str]) -> Intent:
    """Check whether hosts answer on the network."""
    if "network.ping" not in tools:
        return Answer("I can't ping anything: the network tools are not available here.")
    hosts: list[str] = []
    for mention in p.subjects():
        target = _ping_target(mention, p, world)
        if isinstance(target, AskBack):
            return target
        hosts.append(target)
    if not hosts and p.quant:
        hosts = [h.name for h in world.hosts] or [n.ip or n.name for n in world.nodes]
    if not hosts:
        if p.unresolved and not p.unresolved[0].near:
            hosts = [p.unresolved[0].text]  # a plain hostname: let the tool resolve it
        elif p.unresolved:
            return ask_unknown("ping", p.unresolved[0], world, HOSTLIKE + (GUEST,))
        else:
            names = [h.name for h in world.hosts] + [n.name for n in world.nodes]
            return AskBack("Ping what?", tuple(f"ping {n}" for n in names[:MAX_OPTIONS]))
    hosts = list(dict.fromkeys(hosts))[:MAX_READ_FANOUT]
    node_of_ip = {n.ip: n.name for n in world.nodes if n.ip}
    said = [f"{node_of_ip[h]} ({h})" if h in node_of_ip else h for h in hosts]
    return ToolRequest(tuple(Call("network.ping", {"host": h}) for h in hosts), f"Ping {join(said)}.")


def _ping_target(mention: Mention, p: Parsed, world: World) -> str | AskBack:
    if mention.address:
        return mention.address
    if mention.missing_vmid is not None:
        return ask_missing_vmid("ping", mention.missing_vmid, world)
    kept, _ = narrow(mention, p, world, {HOST, NODE, GUEST})
    if len(kept) > 1:
        return ask_ambiguous("ping", mention, kept, world)
    if not kept:
        return mention.text
    thing = world.get(kept[0])
    if kept[0].kind == NODE:
        return thing.ip or thing.name  # type: ignore[no-any-return]
    return thing.name  # type: ignore[no-any-return]


def updates(p: Parsed, world: World, tools: set[str]) -> Intent:
    """List the packages apt could upgrade on hosts."""
    if "ssh.updates_check" not in tools:
        return Answer(f"I can't check for updates: {_NO_SSH}.")
    hosts = _hosts(p, world)
    if not hosts and "node" in p.quals and any(t.text == "nodes" for t in p.toks):
        hosts = [n.name for n in world.nodes if n.online]
    if not hosts:
        guest = next((m for m in p.subjects() if any(r.kind == GUEST for r in m.refs)), None)
        if guest is not None:
            return Answer("I check updates on SSH hosts (the nodes), not inside guests.")
        return _ask_host("check updates", world)
    if len(hosts) > MAX_READ_FANOUT:
        return Answer(f"That is {len(hosts)} hosts; name up to {MAX_READ_FANOUT} per request.",
                      {"refused": "fan_out", "matches": hosts})
    calls = tuple(Call("ssh.updates_check", {"host": h}) for h in hosts)
    return ToolRequest(calls, f"Check for package updates on {join(hosts)}.")


def live_status(mention: Mention, p: Parsed, world: World, tools: set[str]) -> Intent | None:
    """Read one thing's live status (guest_status, node_detail, docker.status); None if no tool fits."""
    kinds = {kind for kind, tool in ((GUEST, "proxmox.guest_status"), (NODE, "proxmox.node_detail"),
                                     (CONTAINER, "docker.status")) if tool in tools}
    if mention.missing_vmid is not None:
        return ask_missing_vmid("status of", mention.missing_vmid, world)
    kept, _ = narrow(mention, p, world, kinds)
    if len(kept) > 1:
        return ask_ambiguous("status of", mention, kept, world)
    if not kept:
        return None
    ref, thing = kept[0], world.get(kept[0])
    if ref.kind == GUEST:
        return ToolRequest.single("proxmox.guest_status", {"vmid": thing.vmid},
                                  f"Read the live status of {thing.label}.")
    if ref.kind == NODE:
        return ToolRequest.single("proxmox.node_detail", {"node": thing.name},
                                  f"Read the details of node {thing.name}.")
    return ToolRequest.single("docker.status", {"host": thing.host, "container": thing.name},
                              f"Read the status of {thing.name} on {thing.host}.")
