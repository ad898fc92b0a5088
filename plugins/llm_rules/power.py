"""Power requests: start, stop, shut down, reboot, reset, suspend, resume and wake things."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from jarvis.plugins.llm_rules.entities import Guest
from jarvis.plugins.llm_rules.fmt import join, plural
from jarvis.plugins.llm_rules.intents import Answer, AskBack, Call, Intent, ToolRequest
from jarvis.plugins.llm_rules.lexicon import Action
from jarvis.plugins.llm_rules.parse import Mention, Parsed
from jarvis.plugins.llm_rules.targets import (
    MAX_TARGETS,
    ask_ambiguous,
    ask_missing_vmid,
    ask_unknown,
    ask_which,
    describe,
    examples,
    misplaced,
    narrow,
    option,
    qual_allows,
)
from jarvis.plugins.llm_rules.text import NAME, Tok
from jarvis.plugins.llm_rules.world import CONTAINER, GUEST, HOST, NODE, Ref, World

TOOLS_FOR: dict[Action, dict[str, str]] = {
    Action.START: {GUEST: "proxmox.guest_start", NODE: "proxmox.node_wake", CONTAINER: "docker.start",
                   HOST: "network.wake"},
    Action.WAKE: {NODE: "proxmox.node_wake", HOST: "network.wake", GUEST: "proxmox.guest_start"},
    Action.STOP: {GUEST: "proxmox.guest_stop", NODE: "proxmox.node_shutdown", CONTAINER: "docker.stop"},
    Action.SHUTDOWN: {GUEST: "proxmox.guest_shutdown", NODE: "proxmox.node_shutdown", CONTAINER: "docker.stop"},
    Action.REBOOT: {GUEST: "proxmox.guest_reboot", NODE: "proxmox.node_reboot", CONTAINER: "docker.restart"},
    Action.RESET: {GUEST: "proxmox.guest_reset", NODE: "proxmox.node_reboot", CONTAINER: "docker.restart"},
    Action.SUSPEND: {GUEST: "proxmox.guest_suspend"},
    Action.RESUME: {GUEST: "proxmox.guest_resume"},
}
VERB_WORD = {
    Action.START: "start", Action.STOP: "stop", Action.SHUTDOWN: "shut down", Action.REBOOT: "restart",
    Action.RESET: "reset", Action.SUSPEND: "suspend", Action.RESUME: "resume", Action.WAKE: "wake",
}
_PLUGIN = {"proxmox": "Proxmox", "docker": "Docker", "network": "network (Wake-on-LAN)", "ssh": "SSH"}
_MAC_CHARS = set("0123456789abcdef:-")

Outcome: TypeAlias = "Call | Answer | AskBack | _Pair"


def adjust(action: Action, mod: str | None) -> Action:
    """Apply "force"/"gracefully": a forced shutdown is a stop, a forced reboot a reset."""
    if mod == "force":
        return {Action.SHUTDOWN: Action.STOP, Action.REBOOT: Action.RESET}.get(action, action)
    if mod == "graceful":
        return {Action.STOP: Action.SHUTDOWN, Action.RESET: Action.REBOOT}.get(action, action)
    return action


def power(p: Parsed, world: World, tools: set[str]) -> Intent:
    """Turn a power request into tool calls, or say why not / ask what is meant."""
    assert p.action is not None
    action = adjust(p.action, p.mod)
    verb = VERB_WORD[action]
    table = {kind: tool for kind, tool in TOOLS_FOR[action].items() if tool in tools}
    subjects = p.subjects()
    if p.quant or len(subjects) > MAX_TARGETS or ("cluster" in p.topics and not subjects):
        return refuse_mass(verb, p, world, subjects)
    if not subjects and p.tags:
        subjects = [_tagged(p, world)]  # "restart the dns container"
    if not subjects:
        if p.unresolved:
            return ask_unknown(verb, p.unresolved[0], world, table or TOOLS_FOR[action], keep=_fits(action, p, world))
        kinds = _default_kinds(p, table)
        return ask_which(verb, world, examples(world, kinds, keep=_fits(action, p, world)),
                         _what(p))
    calls: list[Call] = []
    notes: list[Answer] = []  # things already in the wanted state
    for mention in subjects:
        outcome = _one(action, verb, mention, p, world, tools, table)
        if isinstance(outcome, AskBack):
            return outcome
        if isinstance(outcome, _Pair):
            calls.extend(outcome)
        elif isinstance(outcome, Call):
            calls.append(outcome)
        else:
            notes.append(outcome)
    if not calls:
        return notes[0] if len(notes) == 1 else Answer(" ".join(n.text for n in notes))
    summary = _summary(action, calls, world)
    if notes:
        summary += " " + " ".join(n.text for n in notes)
    return ToolRequest(tuple(calls), summary)


def _one(action: Action, verb: str, mention: Mention, p: Parsed, world: World, tools: set[str],
         table: dict[str, str]) -> Outcome:
    if mention.missing_vmid is not None:
        return ask_missing_vmid(verb, mention.missing_vmid, world)
    address = mention.address
    if address is not None:
        if action in (Action.WAKE, Action.START) and set(address) <= _MAC_CHARS and "network.wake" in tools:
            return Call("network.wake", {"host": address})
        return Answer(f"I can't {verb} {address}: I only act on the guests, nodes, containers and hosts I know "
                      "(and wake a MAC address).")
    elsewhere = misplaced(verb, mention, p, world)
    if elsewhere is not None:
        return elsewhere
    kept, dropped = narrow(mention, p, world, table)
    if not kept:
        return _cannot(action, verb, mention, p, world, dropped)
    if len(kept) == 2 and p.both:
        first, second = (_call_for(action, ref, world, table, tools) for ref in kept)
        if isinstance(first, Call) and isinstance(second, Call):
            return _Pair((first, second))
    if len(kept) > 1:
        return ask_ambiguous(verb, mention, kept, world)
    return _call_for(action, kept[0], world, table, tools)


class _Pair(tuple[Call, Call]):
    """Both things a name means ("restart both web servers")."""


def _tagged(p: Parsed, world: World) -> Mention:
    """Return a mention of every guest carrying the tags said ("the dns container")."""
    wanted = set(p.tags)
    refs = tuple(Ref(GUEST, str(g.vmid)) for g in world.guests
                 if not g.template and wanted & {t.lower() for t in g.tags})
    return Mention(Tok(NAME, " ".join(p.tags), " ".join(p.tags), 0, refs), refs)


def _call_for(action: Action, ref: Ref, world: World, table: dict[str, str], tools: set[str]) -> Outcome:
    """Return the call for one thing, or an answer when its state makes the action pointless."""
    thing = world.get(ref)
    if ref.kind == GUEST:
        return _guest_call(action, thing, world, table, tools)
    if ref.kind == NODE:
        if action in (Action.START, Action.WAKE):
            return Answer(f"{thing.name} is already online.") if thing.online else Call(table[NODE],
                                                                                        {"node": thing.name})
        if thing.status == "offline":
            return Answer(f"{thing.name} is offline already; say 'wake {thing.name}' to power it on.")
        return Call(table[NODE], {"node": thing.name})
    if ref.kind == CONTAINER:
        running = thing.status in ("running", "restarting", "paused")
        if action == Action.START and thing.status == "running":
            return Answer(f"{thing.name} on {thing.host} is already running.")
        if action in (Action.STOP, Action.SHUTDOWN) and not running and thing.status is not None:
            return Answer(f"{thing.name} on {thing.host} is already stopped ({thing.status}).")
        return Call(table[CONTAINER], {"host": thing.host, "container": thing.name})
    if ref.kind == HOST:
        if thing.reachable:
            return Answer(f"{thing.name} is already up (it answers on the network).")
        return Call(table[HOST], {"host": thing.name})
    return Answer(f"I can't {VERB_WORD[action]} {describe(ref, world)}.")  # pragma: no cover - kinds are tabled


def _guest_call(action: Action, g: Guest, world: World, table: dict[str, str], tools: set[str]) -> Outcome:
    if g.template:
        return Answer(f"{g.label} is a template; templates never run.")
    node = world.node(g.node)
    if action in (Action.START, Action.WAKE):
        if g.status == "running":
            return Answer(f"{g.label} is already running on {g.node}.")
        if g.status == "paused" and "proxmox.guest_resume" in tools:
            return Call("proxmox.guest_resume", {"vmid": g.vmid})
        if node is not None and not node.online:
            return AskBack(f"{g.label} lives on {node.name}, which is offline. Wake {node.name} first?",
                           (f"wake {node.name}",))
    elif action in (Action.STOP, Action.SHUTDOWN):
        if g.status == "stopped":
            return Answer(f"{g.label} is already stopped.")
    elif g.status == "stopped":
        return AskBack(f"{g.label} is stopped. Start it instead?", (f"start {g.vmid}",))
    if action == Action.RESET and g.type != "qemu":
        return AskBack(f"{g.label} is a container; only VMs can be hard-reset. Reboot it instead?",
                       (f"reboot {g.vmid}",))
    return Call(table[GUEST], {"vmid": g.vmid})


def _cannot(action: Action, verb: str, mention: Mention, p: Parsed, world: World, dropped: list[Ref]) -> Outcome:
    """Explain why a named thing cannot take this action (wrong kind, qualifier, missing plugin)."""
    qual = mention.qual or p.qual
    if qual and not any(qual_allows(r, qual, world) for r in mention.refs):
        refs = list(mention.refs)
        kind = {"qemu": "VM", "lxc": "container", "docker": "Docker container", "node": "node"}.get(qual, qual)
        return AskBack(f"'{mention.text}' is {join([describe(r, world) for r in refs[:3]], 'or')}, not a {kind}. "
                       "Did you mean that?", tuple(option(verb, r, world) for r in refs[:3]))
    for ref in dropped:
        tool = TOOLS_FOR[action].get(ref.kind)
        if tool is not None:
            plugin = _PLUGIN.get(tool.split(".")[0], tool.split(".")[0])
            return Answer(f"{describe(ref, world)[0].upper()}{describe(ref, world)[1:]} is there, but I can't "
                          f"{verb} it: the {plugin} tools are not available here.")
    what = join([describe(r, world) for r in dropped[:3]], "or") or f"'{mention.text}'"
    can = join(sorted({"guests" if k == GUEST else k + "s" for k in TOOLS_FOR[action]}))
    return Answer(f"I can't {verb} {what}: only {can} can be {_participle(action)}.")


def _participle(action: Action) -> str:
    return {Action.STOP: "stopped", Action.SHUTDOWN: "shut down", Action.SUSPEND: "suspended",
            Action.RESUME: "resumed", Action.RESET: "reset", Action.REBOOT: "rebooted",
            Action.START: "started", Action.WAKE: "woken"}[action]


def refuse_mass(verb: str, p: Parsed, world: World, subjects: list[Mention]) -> Answer:
    """Refuse an action on everything (or on more than MAX_TARGETS things), listing what would match."""
    if p.quant or "cluster" in p.topics:
        matches = _all_matching(p, world)
    else:
        matches = [r for m in subjects for r in m.refs]
    shown = [world.label(r) for r in matches[:8]]
    listed = join(shown) if len(matches) <= len(shown) else f"{', '.join(shown)} and {len(matches) - 8} more"
    said = f"that would touch {plural(len(matches), 'thing')} ({listed})" if matches else "nothing matches"
    if 0 < len(matches) <= MAX_TARGETS:
        hint = f"To go ahead, say '{join([option(verb, r, world) for r in matches])}'."
    else:
        hint = f"Name them, at most {MAX_TARGETS} per request, e.g. '{verb} 101 and 102'."
    return Answer(f"I won't {verb} things in bulk: {said}. {hint}",
                  {"refused": "mass_action", "matches": [r.key for r in matches]})


def _all_matching(p: Parsed, world: World) -> list[Ref]:
    """Return everything a quantified request ("stop every vm on pve1") would touch."""
    place = {r.key for r in p.location.refs} if p.location else None
    kinds = _default_kinds(p, TOOLS_FOR.get(p.action or Action.STOP, {}))
    waking = p.action in (Action.START, Action.WAKE)
    wanted = {"stopped", "paused"} if waking else {"paused"} if p.action == Action.RESUME else {"running"}
    qual = p.qual
    found: list[Ref] = []
    if GUEST in kinds:  # objects, not refs: this runs over every guest of a big cluster
        types = {"qemu": {"qemu"}, "lxc": {"lxc"}, "container": {"lxc"}}.get(qual or "", {"qemu", "lxc"})
        found += [Ref(GUEST, str(g.vmid)) for g in world.guests if g.status in wanted and g.type in types
                  and not g.template and (place is None or g.node in place)]
    if NODE in kinds and place is None:
        found += [Ref(NODE, n.name) for n in world.nodes if n.online != waking]
    if CONTAINER in kinds:
        found += [Ref(CONTAINER, f"{c.host}/{c.name}") for c in world.containers
                  if (place is None or c.host in place) and (c.status == "running") != waking]
    return found


def _default_kinds(p: Parsed, table: dict[str, str]) -> set[str]:
    kinds = set(table)
    qual = p.qual
    if qual in ("qemu", "lxc", "guest"):
        return kinds & {GUEST}
    if qual == "docker":
        return kinds & {CONTAINER}
    if qual == "container":
        return kinds & {GUEST, CONTAINER}
    if qual == "node":
        return kinds & {NODE}
    if qual == "host":
        return kinds & {NODE, HOST}
    return kinds


def _fits(action: Action | None, p: Parsed, world: World) -> Callable[[Ref], bool]:
    """Return a filter of the things worth offering for this action (stopped ones for start...)."""
    place = {r.key for r in p.location.refs} if p.location else None
    qual = p.qual

    def keep(ref: Ref) -> bool:
        thing = world.get(ref)
        if not qual_allows(ref, qual, world):
            return False
        if ref.kind == GUEST:
            if place is not None and thing.node not in place:
                return False
            if action in (Action.START, Action.WAKE):
                return bool(thing.status in ("stopped", "paused"))
            if action == Action.RESUME:
                return bool(thing.status == "paused")
            return bool(thing.status == "running")
        if ref.kind == NODE:
            return (not thing.online) if action in (Action.START, Action.WAKE) else thing.online
        if ref.kind == CONTAINER:
            if place is not None and thing.host not in place:
                return False
            return (thing.status != "running") if action in (Action.START, Action.WAKE) else thing.status == "running"
        if ref.kind == HOST:
            return not thing.reachable if action in (Action.START, Action.WAKE) else False
        return True

    return keep


def _what(p: Parsed) -> str:
    return {"qemu": "which VM", "lxc": "which container", "guest": "which guest", "docker": "which Docker container",
            "container": "which container", "node": "which node", "host": "which host"}.get(p.qual or "", "what")


def _summary(action: Action, calls: list[Call], world: World) -> str:
    parts = []
    for call in calls:
        args = call.args
        if "vmid" in args:
            guest = world.guest(int(args["vmid"]))
            what = describe(Ref(GUEST, str(args["vmid"])), world) if guest else f"guest {args['vmid']}"
            if call.tool == "proxmox.guest_resume" and action != Action.RESUME:
                parts.append(f"resume {what} (it is paused)")
                continue
        elif "container" in args:
            what = f"the Docker container {args['container']} on {args['host']}"
        elif "node" in args:
            what = f"node {args['node']}"
        else:
            what = f"{args.get('host')} with a Wake-on-LAN magic packet"
        parts.append(f"{_VERB_OF.get(call.tool, VERB_WORD[action])} {what}")
    text = join(parts)
    return text[0].upper() + text[1:] + "."


_VERB_OF = {
    "proxmox.guest_start": "start", "proxmox.guest_stop": "hard-stop", "proxmox.guest_shutdown": "shut down",
    "proxmox.guest_reboot": "reboot", "proxmox.guest_reset": "hard-reset", "proxmox.guest_suspend": "suspend",
    "proxmox.guest_resume": "resume", "proxmox.node_reboot": "reboot", "proxmox.node_shutdown": "shut down",
    "proxmox.node_wake": "wake", "network.wake": "wake", "docker.start": "start", "docker.stop": "stop",
    "docker.restart": "restart",
}
