"""Questions answered from the World alone: about one thing, or routed to a report."""

from __future__ import annotations

from typing import Any

from jarvis.plugins.llm_rules import ops, overview, reports
from jarvis.plugins.llm_rules.entities import Container, Guest, Host, Node, Storage
from jarvis.plugins.llm_rules.fmt import duration, pct, plural, share, size
from jarvis.plugins.llm_rules.intents import Answer, Intent, ToolRequest
from jarvis.plugins.llm_rules.lexicon import Action
from jarvis.plugins.llm_rules.parse import LIVE_WORDS, Mention, Parsed
from jarvis.plugins.llm_rules.targets import HOSTLIKE, ask_missing_vmid, ask_unknown, describe, host_name, narrow
from jarvis.plugins.llm_rules.world import CONTAINER, DOCKER_HOST, GUEST, HOST, NODE, STORAGE, Ref, World

_MAX_ABOUT = 5


def question(p: Parsed, world: World, tools: set[str]) -> Intent:
    """Answer a question (or a bare name) from the world; a live read tool for "status of X"."""
    subjects = [m for m in p.subjects() if m.refs or m.missing_vmid is not None]
    if _a_place(p, subjects, world):
        subjects = []  # "which guests live on pve1": pve1 says where, it is not asked about
    if p.services:
        return ops.service(p, world, tools, None)
    if p.unresolved and p.location and host_name(p.location) and p.states and not p.targets:
        p.services.append(p.unresolved[0].text)  # "is tailscaled running on pve1"
        return ops.service(p, world, tools, None)
    if p.help:
        return reports.help_text(world, tools)
    if any(m.address for m in p.subjects()) and "network.ping" in tools:
        return ops.ping(p, world, tools)  # "is 192.168.1.20 up?"
    doubtful = next((t for t in p.unresolved if t.near), None)
    if doubtful is not None and not subjects and not (p.rank or p.count or p.topics):
        return ask_unknown("status of", doubtful, world, (GUEST, NODE, CONTAINER, HOST))
    empty = _empty_world(p, world, tools)
    if empty is not None:
        return empty
    if p.rank or (p.action == Action.LIST and p.metrics and not subjects):  # "list guests by memory"
        return reports.ranking(p, world)
    if p.count and p.metric in ("memory", "cpu", "disk") and not subjects:
        return overview.cluster(world)  # "total memory"
    if p.count and not p.targets:
        return reports.counts(p, world)
    if p.where and not subjects and not p.states and p.location is None:
        return overview.headroom(world)  # "where should I put a new vm?"
    if "quorum" in p.topics:
        return overview.quorum(world)
    if p.quant and not subjects:
        if "node" in p.quals and p.states:
            return reports.counts(p, world)  # "are all nodes up?"
        if not (p.states or p.quals or p.tags or p.metrics or p.location):
            return overview.health(world)  # "is everything ok?"
    located_only = subjects == [p.location] and p.location is not None and not p.metrics
    if subjects and not (located_only and (p.states or p.question or p.action == Action.LIST)):
        return _about(p, subjects, world, tools)
    metric = p.metric
    if metric in ("temperature", "load", "version", "ip"):
        return overview.node_metrics(p, world, metric)
    if "storage" in p.quals or metric == "disk":
        return overview.storage(p, world)
    if "health" in p.topics:
        return overview.health(world)
    if "cluster" in p.topics or (p.action == Action.STATUS and not (p.states or p.quals or p.tags)):
        return overview.cluster(world)
    if p.states or p.quals or p.tags or p.location or p.action in (Action.LIST, Action.STATUS):
        return reports.listing(p, world)
    if p.unresolved:
        tok = p.unresolved[0]
        return ask_unknown("status of", tok, world, (GUEST, NODE, CONTAINER, HOST)) if tok.near else \
            reports.unknown(world, tools)
    return reports.unknown(world, tools)


def _a_place(p: Parsed, subjects: list[Mention], world: World) -> bool:
    """Tell whether a lone machine named with a guest qualifier is where to look ("vms on pve3")."""
    if len(subjects) != 1 or p.qual not in ("qemu", "lxc", "guest", "container", "docker"):
        return False
    refs = subjects[0].refs
    if not refs or not all(r.kind in HOSTLIKE for r in refs):
        return False
    p.location = subjects[0]
    if subjects[0] in p.targets:
        p.targets.remove(subjects[0])
    return True


def _empty_world(p: Parsed, world: World, tools: set[str]) -> Intent | None:
    """With nothing in the world yet, ask the live read tools instead of answering "nothing"."""
    if world.guests or world.nodes:
        if world.containers or "docker" not in p.quals or "docker.list" not in tools:
            return None
        return ToolRequest.single("docker.list", {}, "List the Docker containers.")
    if "docker" in p.quals and "docker.list" in tools:
        return ToolRequest.single("docker.list", {}, "List the Docker containers.")
    if "storage" in p.quals and "proxmox.storage_list" in tools:
        return ToolRequest.single("proxmox.storage_list", {}, "List storage usage.")
    if (p.states or p.quals or p.rank or p.count) and "proxmox.guest_list" in tools:
        return ToolRequest.single("proxmox.guest_list", {}, "List the guests (I have no state yet).")
    if "proxmox.cluster_status" in tools:
        return ToolRequest.single("proxmox.cluster_status", {}, "Read the cluster status (I have no state yet).")
    return Answer("I have no state from the cluster yet, and no Proxmox tools to ask.")


def _about(p: Parsed, subjects: list[Mention], world: World, tools: set[str]) -> Intent:
    """Answer about named things: a live status read, where, yes/no state, one metric, or a summary."""
    live = p.action == Action.STATUS and p.verb in LIVE_WORDS and not p.yes_no
    if live and len(subjects) == 1:
        intent = ops.live_status(subjects[0], p, world, tools)
        if intent is not None:
            return intent
    lines: list[str] = []
    facts: dict[str, Any] = {}
    for mention in subjects[:_MAX_ABOUT]:
        if mention.missing_vmid is not None:
            return ask_missing_vmid("status of", mention.missing_vmid, world)
        refs, _ = narrow(mention, p, world, {GUEST, NODE, CONTAINER, HOST, STORAGE, DOCKER_HOST})
        refs = _prefer_storage(p, refs)
        for ref in refs[:_MAX_ABOUT]:
            thing = world.get(ref)
            lines.append(_one(p, ref, thing, world))
            facts.setdefault("things", []).append({"kind": ref.kind, "key": ref.key})
    if not lines:  # a qualifier ruled everything out ("vm pve1"): describe what was named anyway
        for mention in subjects[:_MAX_ABOUT]:
            lines += [summary(ref, world.get(ref), world) for ref in mention.refs[:_MAX_ABOUT]]
    return Answer("\n".join(lines), facts) if lines else reports.unknown(world, tools)


def _prefer_storage(p: Parsed, refs: list[Ref]) -> list[Ref]:
    storages = [r for r in refs if r.kind == STORAGE]
    if storages and (p.metric == "disk" or "storage" in p.quals):
        if p.location is not None:
            nodes = {r.key for r in p.location.refs if r.kind in HOSTLIKE}
            storages = [r for r in storages if r.key.split("/")[0] in nodes] or storages
        return storages
    return [r for r in refs if r.kind != STORAGE] or refs


def _one(p: Parsed, ref: Ref, thing: Any, world: World) -> str:
    if p.where and ref.kind == GUEST:
        return f"{thing.label} is a {thing.kind_word} on {thing.node} ({thing.status})."
    if p.where and ref.kind == CONTAINER:
        return f"{thing.name} runs on the Docker host {thing.host}."
    if p.yes_no and p.states:
        return _yes_no(p.states[0], ref, thing, world)
    metric = p.metric if p.metrics else None
    if metric is not None and metric != "usage":
        said = _metric(metric, ref, thing, world)
        if said:
            return said
    return summary(ref, thing, world)


def _yes_no(state: str, ref: Ref, thing: Any, world: World) -> str:
    current = _state_of(ref, thing)
    wanted = {"running": "running", "stopped": "stopped", "paused": "paused", "unhealthy": "unhealthy"}.get(state)
    name = world.label(ref)
    if wanted is None:
        return summary(ref, thing, world)
    if current == wanted:
        return f"Yes: {name} is {_state_words(ref, thing)}."
    return f"No: {name} is {_state_words(ref, thing)}."


def _state_of(ref: Ref, thing: Any) -> str:
    if ref.kind == GUEST:
        return {"running": "running", "stopped": "stopped", "paused": "paused"}.get(thing.status, "unknown")
    if ref.kind == NODE:
        return "running" if thing.online else "stopped"
    if ref.kind == CONTAINER:
        if thing.health == "unhealthy":
            return "unhealthy"
        return {"running": "running", "paused": "paused"}.get(thing.status or "", "stopped")
    if ref.kind == HOST:
        return "running" if thing.reachable else "stopped"
    return "unknown"


def _state_words(ref: Ref, thing: Any) -> str:
    if ref.kind == GUEST:
        where = f" on {thing.node}"
        if thing.status == "running" and thing.uptime_s:
            return f"running{where} (up {duration(thing.uptime_s)})"
        return f"{thing.status}{where}"
    if ref.kind == NODE:
        return "online" + (f" (up {duration(thing.uptime_s)})" if thing.online and thing.uptime_s else "") \
            if thing.online else thing.status
    if ref.kind == CONTAINER:
        return (thing.status or "unknown") + (f", {thing.health}" if thing.health else "")
    if ref.kind == HOST:
        return "reachable" if thing.reachable else "not reachable"
    return "there"


def _metric(metric: str, ref: Ref, thing: Any, world: World) -> str | None:
    """Return one metric of one thing in a sentence, or None when it has no such metric."""
    name = thing.label if isinstance(thing, Guest) else getattr(thing, "name", str(thing))
    if isinstance(thing, Guest | Node):
        if metric == "uptime":
            if not thing.uptime_s:
                return f"{name} is not running."
            return f"{name} has been up for {duration(thing.uptime_s)}."
        if metric == "cpu":
            cores = f" of {plural(thing.cpu_cores, 'core')}" if thing.cpu_cores else ""
            return f"{name} is using {pct(thing.cpu_pct)} CPU{cores}."
        if metric == "memory":
            return f"{name} uses {share(thing.mem_used, thing.mem_total)} of memory."
        if metric == "disk" and isinstance(thing, Node):
            storages = [overview.storage_line(s) for s in world.storages if s.node == thing.name]
            return f"{name} root disk: {share(thing.disk_used, thing.disk_total)}.\n" + "\n".join(storages)
        if metric == "disk":
            return f"{name} uses {share(thing.disk_used, thing.disk_total)} of disk."
        if metric == "network" and isinstance(thing, Guest):
            return f"{name} has received {size(thing.netin)} and sent {size(thing.netout)}."
    if isinstance(thing, Node):
        if metric == "temperature":
            if thing.temperature_c is None:
                return f"{name} reports no temperature (the Proxmox API has none; a sensors source would)."
            return f"{name} is at {thing.temperature_c:.0f}°C."
        if metric == "load":
            return f"{name} load average: {', '.join(f'{v:.2f}' for v in thing.load) or 'unknown'}."
        if metric == "version":
            return f"{name} runs {thing.pve_version or 'an unknown Proxmox version'}."
        if metric == "ip":
            return f"{name} is at {thing.ip or 'an unknown address'}."
    if isinstance(thing, Host) and metric == "ip":
        return f"{name} is at {thing.address or 'an unknown address'}" + (f", MAC {thing.mac}." if thing.mac else ".")
    if isinstance(thing, Container):
        if metric == "restarts":
            return f"{name} on {thing.host} has restarted {thing.restart_count or 0} times."
        if metric == "image":
            return f"{name} on {thing.host} runs the image {thing.image or 'unknown'}."
    if isinstance(thing, Storage) and metric == "disk":
        return overview.storage_line(thing)
    return None


def summary(ref: Ref, thing: Any, world: World) -> str:
    """Return a one-paragraph description of one thing."""
    if isinstance(thing, Guest):
        head = f"{thing.label} is a {thing.kind_word} on {thing.node}"
        if thing.template:
            return f"{head}; it is a template."
        if thing.status != "running":
            return f"{head}; it is {thing.status}."
        cores = f" of {plural(thing.cpu_cores, 'core')}" if thing.cpu_cores else ""
        tags = f" Tags: {', '.join(thing.tags)}." if thing.tags else ""
        return (f"{head}, running for {duration(thing.uptime_s)}: CPU {pct(thing.cpu_pct)}{cores}, "
                f"memory {share(thing.mem_used, thing.mem_total)}.{tags}")
    if isinstance(thing, Node):
        if not thing.online:
            return f"{thing.name} is {thing.status}."
        load = f", load {thing.load[0]:.2f}" if thing.load else ""
        temp = f", {thing.temperature_c:.0f}°C" if thing.temperature_c is not None else ""
        guests = (f"; {thing.guests_running} of {thing.guests_total} guests running"
                  if thing.guests_total is not None else "")
        return (f"{thing.name} is online, up {duration(thing.uptime_s)}: CPU {pct(thing.cpu_pct)}{load}{temp}, "
                f"memory {share(thing.mem_used, thing.mem_total)}{guests}.")
    if isinstance(thing, Container):
        health = f" ({thing.health})" if thing.health else ""
        image = f", image {thing.image}" if thing.image else ""
        restarts = f", restarted {thing.restart_count} times" if thing.restart_count else ""
        return f"{thing.name} on {thing.host} is {thing.status or 'in an unknown state'}{health}{image}{restarts}."
    if isinstance(thing, Host):
        seen = f" (last seen {thing.last_seen})" if thing.last_seen else ""
        where = f" at {thing.address}" if thing.address else ""
        return f"{thing.name}{where} is {'reachable' if thing.reachable else 'not reachable'}{seen}."
    if isinstance(thing, Storage):
        return overview.storage_line(thing)
    if ref.kind == DOCKER_HOST:
        return reports.containers_on(world, ref.key).text
    return f"{describe(ref, world)} is known, but I have no state for it."
