"""Reports over the whole World: rankings, counts, lists, storage, nodes, cluster health, help."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from jarvis.plugins.llm_rules.entities import Guest
from jarvis.plugins.llm_rules.fmt import capped, duration, join, pct, plural, share, size
from jarvis.plugins.llm_rules.intents import Answer, Unknown
from jarvis.plugins.llm_rules.overview import cluster, health, most_free, storage
from jarvis.plugins.llm_rules.parse import Parsed
from jarvis.plugins.llm_rules.targets import HOSTLIKE
from jarvis.plugins.llm_rules.world import World

_LIST_LIMIT = 15
_METRIC_NAMES = {"cpu": "CPU", "memory": "memory", "disk": "disk", "network": "network traffic", "size": "resources",
                 "uptime": "uptime"}
_GUEST_VALUE: dict[str, Callable[[Guest], float | None]] = {
    "cpu": lambda g: g.cpu_pct,
    "memory": lambda g: g.mem_used,
    "disk": lambda g: g.disk_used,
    "network": lambda g: (g.netin or 0) + (g.netout or 0) if g.netin is not None else None,
    "uptime": lambda g: g.uptime_s,
    "size": lambda g: g.mem_total,
}


def _shown(metric: str, guest: Guest) -> str:
    if metric == "cpu":
        return pct(guest.cpu_pct) + (f" of {plural(guest.cpu_cores, 'core')}" if guest.cpu_cores else "")
    if metric == "memory":
        return share(guest.mem_used, guest.mem_total)
    if metric == "disk":
        return share(guest.disk_used, guest.disk_total)
    if metric == "network":
        return f"{size(guest.netin)} in, {size(guest.netout)} out"
    if metric == "size":
        return f"{size(guest.mem_total)} RAM, {plural(guest.cpu_cores or 0, 'core')}, {size(guest.disk_total)} disk"
    return f"up {duration(guest.uptime_s)}"


def _place(p: Parsed) -> set[str] | None:
    if p.location is None:
        return None
    return {r.key for r in p.location.refs if r.kind in HOSTLIKE} or None


def guests_matching(p: Parsed, world: World, *, states: bool = True) -> list[Guest]:
    """Return the guests a question's qualifiers, state, place and tags select (templates only if asked)."""
    place = _place(p)
    qual = p.qual
    wanted = {s for s in p.states if s in ("running", "stopped", "paused")} if states else set()
    templates = "template" in p.states
    out = []
    for g in world.guests:
        if g.template != templates:
            continue
        if qual == "qemu" and g.type != "qemu" or qual in ("lxc", "container") and g.type != "lxc":
            continue
        if place is not None and g.node not in place:
            continue
        if wanted and g.status not in wanted:
            continue
        if p.tags and not set(p.tags) & {t.lower() for t in g.tags}:
            continue
        out.append(g)
    return out


def _noun(p: Parsed, count: int = 2) -> str:
    word = {"qemu": "VM", "lxc": "container", "container": "container"}.get(p.qual or "", "guest")
    if "template" in p.states:
        word = "template"
    return word if count == 1 else word + "s"


def ranking(p: Parsed, world: World) -> Answer:
    """Name the guests (or nodes, or storages) using the most (or least) of a metric."""
    metric = p.metric or "cpu"
    if metric == "usage":
        metric = "cpu"
    if "node" in p.quals or p.where:
        return _node_ranking(p, world, metric)
    if metric == "disk" and ("storage" in p.quals or not p.quals):
        return storage(p, world, fullest_first=p.rank != "least")
    value = _GUEST_VALUE.get(metric, _GUEST_VALUE["cpu"])
    running_only = metric != "size"  # the biggest guest is big even when stopped
    pool = [g for g in guests_matching(p, world, states=False)
            if (g.status == "running" or not running_only) and value(g) is not None]
    if not pool:
        return Answer(f"No running {_noun(p)} report {_METRIC_NAMES.get(metric, metric)} usage right now.")
    least = p.rank == "least"
    count = max(1, min(p.amount or (10 if p.action is not None and not p.rank else 3), 20))
    pick = heapq.nsmallest if least else heapq.nlargest  # O(n log k) over thousands of guests
    top = pick(count, pool, key=lambda g: (value(g) or 0.0, -g.vmid if not least else g.vmid))
    best = top[0]
    word = "least" if least else "most"
    text = (f"{best.label} on {best.node} is using the {word} {_METRIC_NAMES.get(metric, metric)}: "
            f"{_shown(metric, best)}.")
    if metric == "size":
        text = f"{best.label} on {best.node} is the {'smallest' if least else 'biggest'}: {_shown(metric, best)}."
    if metric == "uptime":
        text = f"{best.label} on {best.node} has been up the {'shortest' if least else 'longest'}: " \
               f"{duration(best.uptime_s)}."
    if len(top) > 1:
        text += " Then " + join([f"{g.label} {_shown(metric, g)}" for g in top[1:]]) + "."
    facts = {"metric": metric, "order": word,
             "top": [{"vmid": g.vmid, "name": g.name, "node": g.node, "value": value(g)} for g in top]}
    return Answer(text, facts)


def _node_ranking(p: Parsed, world: World, metric: str) -> Answer:
    online = [n for n in world.nodes if n.online]
    if p.free and metric in ("memory", "disk"):
        return most_free(online, metric, least=p.rank == "least")
    values: dict[str, Callable[[Any], float | None]] = {
        "cpu": lambda n: n.cpu_pct, "memory": lambda n: (n.mem_used or 0) / n.mem_total if n.mem_total else None,
        "load": lambda n: n.load[0] if n.load else None, "temperature": lambda n: n.temperature_c,
        "disk": lambda n: (n.disk_used or 0) / n.disk_total if n.disk_total else None,
        "uptime": lambda n: n.uptime_s,
    }
    value = values.get(metric, values["cpu"])
    pool = [n for n in online if value(n) is not None]
    if not pool:
        return Answer(f"No online node reports {metric}.")
    least = (p.rank == "least") != p.free  # the most free memory is the least used
    pool.sort(key=lambda n: (value(n) or 0.0) * (1 if least else -1))
    lines = [f"{n.name}: CPU {pct(n.cpu_pct)}, memory {share(n.mem_used, n.mem_total)}"
             + (f", load {n.load[0]:.2f}" if n.load else "") for n in pool[: p.amount or 3]]
    head = f"{pool[0].name} is the {'least' if least else 'most'} loaded node by {metric}."
    return Answer(head + "\n" + "\n".join(lines), {"metric": metric, "top": [n.name for n in pool]})


def counts(p: Parsed, world: World) -> Answer:
    """Count guests, nodes, containers or hosts, by state."""
    if "node" in p.quals:
        online = sum(1 for n in world.nodes if n.online)
        return Answer(f"{online} of {plural(len(world.nodes), 'node')} {_are(online)} online.",
                      {"nodes_online": online, "nodes_total": len(world.nodes)})
    if "host" in p.quals and world.hosts:
        up = sum(1 for h in world.hosts if h.reachable)
        return Answer(f"{up} of {plural(len(world.hosts), 'host')} {_are(up)} reachable.", {"hosts_up": up})
    if "docker" in p.quals:
        return _docker_counts(p, world)
    guests = guests_matching(p, world, states=False)
    running = sum(1 for g in guests if g.status == "running")
    stopped = sum(1 for g in guests if g.status == "stopped")
    others = len(guests) - running - stopped
    facts = {"total": len(guests), "running": running, "stopped": stopped, "other": others}
    noun = "LXC containers" if p.qual == "container" and world.containers else _noun(p)
    where = f" on {p.location.text}" if p.location else ""
    states = set(p.states)
    if "running" in states:
        text = f"{running} of {len(guests)} {noun}{where} {_are(running)} running."
    elif "stopped" in states:
        text = f"{stopped} of {len(guests)} {noun}{where} {_are(stopped)} stopped."
    else:
        text = f"There are {len(guests)} {noun}{where}: {running} running, {stopped} stopped" + (
            f", {others} in another state." if others else ".")
    if p.qual == "container" and world.containers:
        text += " " + _docker_counts(p, world).text
    return Answer(text, facts)


def _are(count: int) -> str:
    return "is" if count == 1 else "are"


def _docker_counts(p: Parsed, world: World) -> Answer:
    running = sum(1 for c in world.containers if c.status == "running")
    return Answer(f"{running} of {plural(len(world.containers), 'Docker container')} {_are(running)} running "
                  f"(on {join(list(world.docker_hosts))}).", {"docker_running": running,
                                                              "docker_total": len(world.containers)})


def listing(p: Parsed, world: World) -> Answer:
    """List nodes, hosts, Docker containers or guests, filtered by qualifier, state, place and tag."""
    place = _place(p)
    if "node" in p.quals:
        names = [f"{n.name} ({n.status})" for n in world.nodes]
        return Answer(f"Nodes: {join(names)}.", {"nodes": [n.name for n in world.nodes]})
    if "host" in p.quals and world.hosts:
        names = [f"{h.name} ({'reachable' if h.reachable else 'not reachable'})" for h in world.hosts]
        return Answer(f"Hosts: {join(names)}.", {"hosts": [h.name for h in world.hosts]})
    docker_place = place is not None and bool(place & set(world.docker_hosts))
    if "docker" in p.quals or docker_place or (p.qual == "container" and world.containers and not place
                                               and not world.guests):
        return containers_on(world, next(iter(place)) if docker_place and place else None, p.states)
    if not p.states and not p.quals and not p.tags and place is None:
        return cluster(world)
    if "unhealthy" in p.states:
        return containers_on(world, None, ["unhealthy"]) if world.containers else health(world)
    if set(p.states) == {"stopped"} and not p.quals and not p.tags and place is None:
        return _down(world)
    guests = guests_matching(p, world)
    state = join([s for s in p.states if s != "template"], "or")
    noun = _noun(p)
    where = f" on {join(sorted(place))}" if place else ""
    tag = f" tagged {join(p.tags, 'or')}" if p.tags else ""
    if not guests:
        return Answer(f"No {state + ' ' if state else ''}{noun}{tag}{where}.", {"guests": []})
    names = [f"{g.label}" + ("" if place else f" on {g.node}") + ("" if p.states else f" ({g.status})")
             for g in guests]
    head = f"{len(guests)} {state + ' ' if state else ''}{_noun(p, len(guests))}{tag}{where}"
    text = f"{head}: {capped(names, _LIST_LIMIT)}."
    if p.qual == "container" and world.containers and place is None and not p.tags:
        text += "\n" + containers_on(world, None, p.states).text
    return Answer(text, {"guests": [g.vmid for g in guests]})


def _down(world: World) -> Answer:
    parts = [f"node {n.name}" for n in world.nodes if not n.online]
    parts += [f"{g.label}" for g in world.guests if g.status == "stopped" and not g.template]
    parts += [f"host {h.name}" for h in world.hosts if h.reachable is False]
    parts += [f"{c.name} on {c.host}" for c in world.containers if c.status not in ("running", None)]
    if not parts:
        return Answer("Nothing is down.", {"down": []})
    return Answer(f"Down or stopped: {capped(parts, _LIST_LIMIT)}.", {"down": parts})


def containers_on(world: World, host: str | None, states: list[str] | None = None) -> Answer:
    """List the Docker containers of one host (or all), with status and health."""
    pool = [c for c in world.containers if host is None or c.host == host]
    if states and "running" in states:
        pool = [c for c in pool if c.status == "running"]
    elif states and "stopped" in states:
        pool = [c for c in pool if c.status != "running"]
    elif states and "unhealthy" in states:
        pool = [c for c in pool if c.health == "unhealthy" or c.status in ("restarting", "dead", "exited")]
    if not pool:
        return Answer(f"No matching Docker containers{' on ' + host if host else ''}.", {"containers": []})
    names = [f"{c.name} ({c.status}{', ' + c.health if c.health else ''})" + ("" if host else f" on {c.host}")
             for c in pool]
    return Answer(f"Docker containers{' on ' + host if host else ''}: {capped(names, _LIST_LIMIT)}.",
                  {"containers": [f"{c.host}/{c.name}" for c in pool]})


EXAMPLES = (
    "start vm 101 / boot win11 / wake pve2",
    "shut down db-01 (gracefully) / stop 104 (hard) / reboot pve1",
    "restart nginx on docker1 / logs of nginx on docker1",
    "restart pveproxy on pve1 / is pveproxy running on pve2",
    "run uptime on pve1 / any updates on pve1 / ping nas",
    "what's using the most cpu / how many guests are running / list stopped vms",
    "where is nextcloud / is pve3 up / how full is the storage / is the cluster healthy",
)


def help_text(world: World, tools: set[str]) -> Answer:
    """Describe what the rules backend understands, with examples."""
    families = sorted({t.split(".")[0] for t in tools})
    return Answer("I understand plain requests and questions about the cluster (no AI model needed). "
                  f"Tools here: {join(families) or 'none'}. For example:\n"
                  + "\n".join(f"- {e}" for e in EXAMPLES), {"families": families})


def unknown(world: World, tools: set[str]) -> Unknown:
    """Say that nothing was understood, with example phrasings."""
    return Unknown("Sorry, I didn't understand that. Try for example:\n" + "\n".join(f"- {e}" for e in EXAMPLES))
