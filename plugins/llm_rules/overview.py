"""Cluster-wide reports: quorum, node metrics and headroom, storage, the summary and what needs attention."""

from __future__ import annotations

from typing import Any

from jarvis.plugins.llm_rules.entities import Storage
from jarvis.plugins.llm_rules.fmt import join, pct, plural, share, size
from jarvis.plugins.llm_rules.intents import Answer
from jarvis.plugins.llm_rules.parse import Parsed
from jarvis.plugins.llm_rules.targets import HOSTLIKE
from jarvis.plugins.llm_rules.world import World

STORAGE_WARN_PCT = 85.0


def _place(p: Parsed) -> set[str] | None:
    if p.location is None:
        return None
    return {r.key for r in p.location.refs if r.kind in HOSTLIKE} or None


def most_free(nodes: list[Any], metric: str, *, least: bool) -> Answer:
    """Rank nodes by free memory or root disk, in bytes."""
    used, total = ("mem_used", "mem_total") if metric == "memory" else ("disk_used", "disk_total")
    pool = [(getattr(n, total) - (getattr(n, used) or 0), n) for n in nodes if getattr(n, total)]
    if not pool:
        return Answer(f"No online node reports its {metric}.")
    pool.sort(key=lambda pair: pair[0], reverse=not least)
    best_free, best = pool[0]
    lines = [f"{n.name}: {size(free)} free of {size(getattr(n, total))}" for free, n in pool[:5]]
    word = "least" if least else "most"
    return Answer(f"{best.name} has the {word} free {metric}: {size(best_free)}.\n" + "\n".join(lines),
                  {"metric": metric, "top": [n.name for _, n in pool]})


def headroom(world: World) -> Answer:
    """Name the online node with the most free memory (where a new guest fits best)."""
    online = [n for n in world.nodes if n.online and n.mem_total]
    if not online:
        return Answer("No online node reports its memory.")
    best = min(online, key=lambda n: ((n.mem_used or 0) / (n.mem_total or 1), n.cpu_pct or 0.0))
    free = (best.mem_total or 0) - (best.mem_used or 0)
    return Answer(f"{best.name} has the most headroom: {size(free)} of memory free, CPU at {pct(best.cpu_pct)}.",
                  {"node": best.name})


def quorum(world: World) -> Answer:
    """Say whether the cluster has quorum."""
    c = world.cluster
    if c is None or c.quorate is None:
        return Answer("I don't know the cluster's quorum (no cluster state yet).")
    nodes = f" ({c.nodes_online} of {c.nodes_total} nodes online)" if c.nodes_total else ""
    verdict = "is quorate" if c.quorate else "has NO quorum"
    return Answer(f"{'Yes' if c.quorate else 'No'}: the cluster {c.name or ''} {verdict}{nodes}.".replace("  ", " "),
                  {"quorate": c.quorate})


def node_metrics(p: Parsed, world: World, metric: str) -> Answer:
    """Report temperature, load or version of every node (or of the nodes named)."""
    place = _place(p)
    nodes = [n for n in world.nodes if place is None or n.name in place]
    lines = []
    for n in nodes:
        if not n.online and metric != "ip":
            lines.append(f"{n.name}: {n.status}")
        elif metric == "temperature":
            lines.append(f"{n.name}: {f'{n.temperature_c:.0f}°C' if n.temperature_c is not None else 'no reading'}")
        elif metric == "load":
            load = ", ".join(f"{v:.2f}" for v in n.load) or "unknown"
            lines.append(f"{n.name}: load {load} on {n.cpu_cores or '?'} cores (CPU {pct(n.cpu_pct)})")
        elif metric == "ip":
            lines.append(f"{n.name}: {n.ip or 'unknown'}")
        else:
            lines.append(f"{n.name}: {n.pve_version or 'unknown version'}")
    head = {"temperature": "Node temperatures", "load": "Node load", "version": "Proxmox versions",
            "ip": "Node addresses"}[metric]
    text = f"{head}:\n" + "\n".join(lines) if lines else "I know no nodes."
    if metric == "temperature" and nodes and all(n.temperature_c is None for n in nodes):
        text += "\n(The Proxmox API reports no temperatures; a sensors source would add them.)"
    return Answer(text, {"metric": metric, "nodes": [n.name for n in nodes]})


def storage_line(s: Storage) -> str:
    """Return one storage's usage in a sentence."""
    state = "" if s.active is not False else " (inactive)"
    kind = f", {s.type}" if s.type else ""
    shared = ", shared" if s.shared else ""
    return f"{s.storage} on {s.node}: {share(s.used, s.total)} used{kind}{shared}{state}."


def storage(p: Parsed, world: World, *, fullest_first: bool = True) -> Answer:
    """Report storage usage, fullest first (shared storage once)."""
    place = _place(p)
    seen: set[str] = set()
    pool = []
    for s in world.storages:
        if place is not None and s.node not in place:
            continue
        if s.shared:
            if s.storage in seen:
                continue
            seen.add(s.storage)
        if s.used_pct is not None:
            pool.append(s)
    if not pool:
        return Answer("I have no storage usage figures.")
    pool.sort(key=lambda s: (-(s.used_pct or 0.0) if fullest_first else (s.used_pct or 0.0), s.node, s.storage))
    top = pool[0]
    head = f"The {'fullest' if fullest_first else 'emptiest'} storage is {top.storage} on {top.node} " \
           f"at {pct(top.used_pct)} ({size(top.used)} of {size(top.total)})."
    warn = [f"{s.storage} on {s.node} ({pct(s.used_pct)})" for s in pool if (s.used_pct or 0) >= STORAGE_WARN_PCT]
    lines = [storage_line(s) for s in pool[: max(p.amount or 8, 1)]]
    text = head + ("\nAbove " + f"{STORAGE_WARN_PCT:.0f}%: " + join(warn) + "." if warn else "")
    text += "\n" + "\n".join(lines)
    return Answer(text, {"fullest": {"node": top.node, "storage": top.storage, "used_pct": top.used_pct}})


def cluster(world: World) -> Answer:
    """Summarise the cluster: quorum, nodes, guests, CPU and memory, and any problems."""
    c = world.cluster
    nodes_on = sum(1 for n in world.nodes if n.online)
    running = sum(1 for g in world.guests if g.status == "running" and not g.template)
    total = sum(1 for g in world.guests if not g.template)
    name = c.name if c and c.name else "The cluster"
    quorate = "" if c is None or c.quorate is None else ("quorate, " if c.quorate else "NOT quorate, ")
    text = (f"{name}: {quorate}{nodes_on} of {plural(len(world.nodes), 'node')} online, "
            f"{running} of {plural(total, 'guest')} running")
    if c is not None and c.cpu_pct is not None:
        text += f", CPU {pct(c.cpu_pct)}, memory {share(c.mem_used, c.mem_total)}"
    problems = _problems(world)
    text += "." + (" Problems: " + "; ".join(problems) + "." if problems else " Nothing needs attention.")
    return Answer(text, {"nodes_online": nodes_on, "guests_running": running, "problems": problems})


def health(world: World) -> Answer:
    """List what needs attention: offline nodes, lost quorum, full storage, unhealthy containers..."""
    problems = _problems(world)
    if not problems:
        return Answer("All good: nothing needs attention.", {"problems": []})
    return Answer("Needs attention:\n" + "\n".join(f"- {p}" for p in problems), {"problems": problems})


def _problems(world: World) -> list[str]:
    out: list[str] = []
    if world.cluster is not None and world.cluster.quorate is False:
        out.append("the cluster has no quorum")
    out += [f"node {n.name} is {n.status}" for n in world.nodes if not n.online]
    out += [f"node {n.name} CPU at {pct(n.cpu_pct)}" for n in world.nodes if n.online and (n.cpu_pct or 0) >= 90]
    out += [f"storage {s.storage} on {s.node} is {pct(s.used_pct)} full" for s in world.storages
            if (s.used_pct or 0) >= STORAGE_WARN_PCT]
    out += [f"{g.label} is {g.status}" for g in world.guests if g.status == "unknown" and not g.template][:10]
    out += [f"{g.label} is locked ({g.lock})" for g in world.guests if g.lock][:5]
    out += [f"container {c.name} on {c.host} is {c.health or c.status}" for c in world.containers
            if c.health == "unhealthy" or c.status in ("restarting", "dead")]
    out += [f"host {h.name} is not reachable" for h in world.hosts if h.reachable is False]
    return out
