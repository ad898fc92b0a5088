"""Which thing a mention means: qualifiers, location, kinds an action applies to; or what to ask."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from jarvis.plugins.llm_rules.fmt import join
from jarvis.plugins.llm_rules.intents import AskBack
from jarvis.plugins.llm_rules.parse import Mention, Parsed
from jarvis.plugins.llm_rules.text import Tok
from jarvis.plugins.llm_rules.world import CONTAINER, DOCKER_HOST, GUEST, HOST, NODE, SSH_HOST, STORAGE, Ref, World

MAX_TARGETS = 5  # named things one request may act on ("start 101, 102 and 103")
MAX_READ_FANOUT = 8  # read-only calls one request may fan out to ("check updates on all nodes")
MAX_OPTIONS = 6
HOSTLIKE = (NODE, HOST, DOCKER_HOST, SSH_HOST)
_QUAL_KINDS = {
    "qemu": {GUEST}, "lxc": {GUEST}, "guest": {GUEST}, "container": {GUEST, CONTAINER}, "docker": {CONTAINER},
    "node": {NODE}, "host": set(HOSTLIKE), "storage": {STORAGE},
}
# A name that is several kinds of machine at once is the first of these ("pve2": node before host).
_MACHINE_ORDER = (NODE, HOST, DOCKER_HOST, SSH_HOST)


def qual_allows(ref: Ref, qual: str | None, world: World) -> bool:
    """Tell whether a qualifier ("vm", "ct", "docker"...) admits this thing."""
    if qual is None or qual not in _QUAL_KINDS:
        return True
    if ref.kind not in _QUAL_KINDS[qual]:
        return False
    if ref.kind == GUEST and qual in ("qemu", "lxc", "container"):
        return bool(world.get(ref).type == ("qemu" if qual == "qemu" else "lxc"))
    return True


def narrow(mention: Mention, p: Parsed, world: World, kinds: Collection[str]) -> tuple[list[Ref], list[Ref]]:
    """Return (what the mention may mean for this action, what it means but the action cannot apply to)."""
    single = len(p.subjects()) <= 1
    qual = mention.qual or (p.qual if single else None)
    refs = [r for r in mention.refs if qual_allows(r, qual, world)] or (
        [] if qual else list(mention.refs))
    location = p.location if p.location is not mention else None
    if location is not None:
        refs = _at(refs, location, world) or refs  # "nginx on docker1" is only that one
    kept = [r for r in refs if r.kind in kinds]
    dropped = [r for r in refs if r.kind not in kinds and r.kind not in (DOCKER_HOST, SSH_HOST, STORAGE)]
    machines = [r for r in kept if r.kind in _MACHINE_ORDER]
    if len({r.key for r in machines}) == 1 and len(machines) > 1:
        best = min(machines, key=lambda r: _MACHINE_ORDER.index(r.kind))
        kept = [r for r in kept if r.kind not in _MACHINE_ORDER or r == best]
    return kept, dropped


def _at(refs: list[Ref], location: Mention, world: World) -> list[Ref]:
    """Keep the refs that are at the located place (a node's guests, a Docker host's containers)."""
    places = {r.key for r in location.refs if r.kind in HOSTLIKE}
    kept = []
    for ref in refs:
        thing = world.get(ref)
        if ref.kind == GUEST and thing.node in places or ref.kind == CONTAINER and thing.host in places:
            kept.append(ref)
    return kept


def misplaced(verb: str, mention: Mention, p: Parsed, world: World) -> AskBack | None:
    """Ask back when "X on Y" names a guest or container that is not on Y ("restart redis on docker1")."""
    location = p.location if p.location is not mention else None
    if location is None or not any(r.kind in HOSTLIKE for r in location.refs):
        return None
    movable = [r for r in mention.refs if r.kind in (GUEST, CONTAINER)]
    if not movable or _at(movable, location, world) or len(movable) != len(mention.refs):
        return None
    actual = join([describe(r, world) for r in movable[:3]], "or")
    return AskBack(f"There is no '{mention.text}' on {location.text}: it is {actual}. Did you mean that?",
                   tuple(option(verb, r, world) for r in movable[:MAX_OPTIONS]))


def describe(ref: Ref, world: World) -> str:
    """Return a thing as a person would name it: "the VM web-01 (101) on pve1"."""
    thing = world.get(ref)
    if ref.kind == GUEST:
        return f"the {thing.kind_word} {thing.name} ({thing.vmid}) on {thing.node}"
    if ref.kind == CONTAINER:
        return f"the Docker container {thing.name} on {thing.host}"
    names = {NODE: "node", HOST: "host", DOCKER_HOST: "Docker host", SSH_HOST: "SSH host"}
    if ref.kind == STORAGE:
        return f"the storage {thing.storage} on {thing.node}"
    return f"{names.get(ref.kind, ref.kind)} {ref.key}"


def option(verb: str, ref: Ref, world: World, tail: str = "") -> str:
    """Return a ready-to-say request for one thing ("restart 105", "restart nginx on docker1")."""
    thing = world.get(ref)
    if ref.kind == GUEST:
        said = str(thing.vmid)
    elif ref.kind == CONTAINER:
        said = f"{thing.name} on {thing.host}"
    elif ref.kind == NODE:
        said = f"node {ref.key}"
    elif ref.kind == HOST:
        said = f"host {ref.key}"
    else:
        said = ref.key
    return f"{verb} {said}{tail}".strip()


def ask_ambiguous(verb: str, mention: Mention, refs: list[Ref], world: World, tail: str = "") -> AskBack:
    """Ask which of several things a name meant."""
    shown = refs[:MAX_OPTIONS]
    more = f" (and {len(refs) - len(shown)} more)" if len(refs) > len(shown) else ""
    question = (f"'{mention.text}' could be {join([describe(r, world) for r in shown], 'or')}{more}. "
                f"Which one should I {verb.split(' ')[0]}?")
    return AskBack(question, tuple(option(verb, r, world, tail) for r in shown))


def ask_unknown(verb: str, tok: Tok, world: World, kinds: Collection[str], tail: str = "",
                keep: Callable[[Ref], bool] | None = None) -> AskBack:
    """Ask about a name that matches nothing well enough, offering the closest ones."""
    near = [f for f in (tok.near or world.fuzzy(tok.text, cutoff=0.45))]
    refs: list[Ref] = []
    for hit in near:
        refs.extend(r for r in hit.refs if r.kind in kinds and r not in refs)
    if refs:
        shown = refs[:MAX_OPTIONS]
        return AskBack(f"I don't know '{tok.text}'. Did you mean {join([describe(r, world) for r in shown], 'or')}?",
                       tuple(option(verb, r, world, tail) for r in shown))
    return AskBack(f"I don't know anything called '{tok.text}'. Which one should I {verb.split(' ')[0]}?",
                   tuple(option(verb, r, world, tail) for r in examples(world, kinds, keep)))


def ask_missing_vmid(verb: str, vmid: int, world: World) -> AskBack:
    """Ask about a vmid that does not exist, offering the nearest ones."""
    nearest = sorted(world.guests, key=lambda g: (abs(g.vmid - vmid), g.vmid))[:3]
    return AskBack(f"There is no guest {vmid}. Did you mean {join([g.label for g in nearest], 'or')}?",
                   tuple(f"{verb} {g.vmid}" for g in nearest))


def ask_which(verb: str, world: World, refs: Iterable[Ref], what: str = "which one") -> AskBack:
    """Ask for the missing target of a verb, offering likely ones."""
    shown = list(refs)[:MAX_OPTIONS]
    head = verb[0].upper() + verb[1:]
    if not shown:
        return AskBack(f"{head} {what}? I don't see anything that fits.")
    return AskBack(f"{head} {what}? For example:", tuple(option(verb, r, world) for r in shown))


def examples(world: World, kinds: Collection[str], keep: Callable[[Ref], bool] | None = None) -> list[Ref]:
    """Return a few things of these kinds (for options), filtered by ``keep``."""
    found: list[Ref] = []
    sources: list[tuple[str, Iterable[str]]] = [
        (NODE, (n.name for n in world.nodes)), (GUEST, (str(g.vmid) for g in world.guests if not g.template)),
        (CONTAINER, (f"{c.host}/{c.name}" for c in world.containers)), (HOST, (h.name for h in world.hosts)),
    ]
    for kind, keys in sources:
        if kind not in kinds:
            continue
        for key in keys:
            ref = Ref(kind, key)
            if keep is None or keep(ref):
                found.append(ref)
                if len(found) >= MAX_OPTIONS:
                    return found
    return found


def host_name(mention: Mention | None) -> str | None:
    """Return the SSH-able machine a mention names (node, host, Docker host), or None."""
    if mention is None:
        return None
    for kind in _MACHINE_ORDER:
        for ref in mention.refs:
            if ref.kind == kind:
                return ref.key
    return None
