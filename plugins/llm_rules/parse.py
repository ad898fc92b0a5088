"""From tagged tokens to a structured reading: the verb, its targets, the question asked."""

from __future__ import annotations

from dataclasses import dataclass, field

from jarvis.plugins.llm_rules import lexicon as lx
from jarvis.plugins.llm_rules.lexicon import Action
from jarvis.plugins.llm_rules.text import ADDR, AMOUNT, NAME, NUM, TAG, WORD, Command, Tok
from jarvis.plugins.llm_rules.world import DOCKER_HOST, GUEST, NODE, SSH_HOST, Ref, World

_INVERT = {"running": "stopped", "stopped": "running"}
# Verbs that ask for a live read of one thing ("status of 101") rather than an answer from state.
LIVE_WORDS = frozenset({"status", "details", "detail", "info", "information", "describe", "inspect", "stats",
                        "statistics"})


@dataclass(slots=True)
class Mention:
    """A thing named in the request, with every Ref its spelling could mean."""

    tok: Tok
    refs: tuple[Ref, ...]
    qual: str | None = None
    missing_vmid: int | None = None

    @property
    def text(self) -> str:
        """Return the words as the operator wrote them."""
        return self.tok.text

    @property
    def address(self) -> str | None:
        """Return the IP, MAC or hostname when the mention is one."""
        return str(self.tok.value) if self.tok.kind == ADDR else None


@dataclass(slots=True)
class Parsed:
    """Everything the parser understood in one clause."""

    toks: list[Tok]
    action: Action | None = None
    verb: str = ""
    mod: str | None = None
    negated: bool = False
    hypothetical: bool = False
    question: bool = False
    yes_no: bool = False
    help: bool = False
    quant: bool = False
    both: bool = False
    wh: bool = False  # opens with what/which/when/why/how/where/how many ("why did nginx restart")
    later: bool = False  # a time was given ("tonight", "in 5 minutes"): nothing here schedules
    ensure: bool = False  # "make sure web-01 is running"
    free: bool = False  # "most free memory" ranks by what is left, not by what is used
    unsupported: str | None = None  # a verb no tool serves ("migrate", "delete", "snapshot"...)
    pronoun: bool = False
    quals: list[str] = field(default_factory=list)
    targets: list[Mention] = field(default_factory=list)
    location: Mention | None = None
    unresolved: list[Tok] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    rank: str | None = None
    count: bool = False
    where: bool = False
    amount: int | None = None
    tags: list[str] = field(default_factory=list)
    command: Command | None = None

    @property
    def qual(self) -> str | None:
        """Return the one qualifier of the clause (vm, ct, docker...), or None."""
        quals = [q for q in self.quals if q not in ("service", "storage")]
        return quals[0] if quals else None

    def subjects(self) -> list[Mention]:
        """Return the targets; the located mention ("on pve1") when nothing else is named."""
        if self.targets or self.location is None or self.services or self.unresolved or self.command or (
                "service" in self.quals):
            return self.targets
        if self.qual in ("qemu", "lxc", "guest", "container", "docker"):
            return self.targets  # "start a vm on pve2": pve2 only says where
        return [self.location]

    @property
    def metric(self) -> str | None:
        """Return the metric asked about ("usage" alone means CPU), or None."""
        real = [m for m in self.metrics if m != "usage"]
        return real[0] if real else ("cpu" if self.metrics else None)


def build(toks: list[Tok], world: World, command: Command | None = None) -> Parsed:
    """Read a clause's tokens into a Parsed."""
    p = Parsed(toks=toks, command=command)
    lead = next((t for t in toks if not (t.kind == lx.VERB and t.text in ("tell me", "show me", "give me"))), None)
    p.wh = lead is not None and (lead.kind in (lx.WHERE, lx.COUNT) or lead.kind == lx.QWORD and lead.value != "?")
    asks = p.wh or any(t.kind == lx.QWORD for t in toks) or bool(toks and toks[0].kind == lx.AUX)
    asks = asks and not any(t.kind == lx.HYPO for t in toks)  # "what if I rebooted pve1" is about an action
    for tok in toks:
        if tok.kind == lx.PAST and not asks:
            tok.kind = lx.VERB  # "I want gitlab restarted"; in a question it only describes the past
    verbs = [t for t in toks if t.kind == lx.VERB]
    if verbs:
        best = max(verbs, key=lambda t: (lx.PRIORITY[Action(t.value)], t.text in LIVE_WORDS))
        p.action, p.verb = Action(best.value), best.text
        verb_pos = best.pos
    else:
        verb_pos = 1 << 30
    first = toks[0].kind if toks else None
    p.yes_no = first == lx.AUX
    p.question = first in (lx.QWORD, lx.AUX, lx.COUNT, lx.WHERE) or any(
        t.kind in (lx.QWORD, lx.COUNT, lx.WHERE) for t in toks)
    for index, tok in enumerate(toks):
        kind = tok.kind
        if kind == lx.NEG and tok.pos < verb_pos and p.action is not None:
            p.negated = True
        elif kind == lx.HYPO and tok.pos < verb_pos:
            p.hypothetical = True
        elif kind == lx.HELP:
            p.help = True
        elif kind == lx.QUANT:
            p.both = p.both or tok.value == "both"
            p.quant = p.quant or tok.value == "all"
        elif kind == lx.SCHEDULE:
            p.later = True
        elif kind == lx.FREE:
            p.free = True
        elif kind == lx.UNSUPPORTED:
            p.unsupported = p.unsupported or tok.value
        elif kind == lx.ENSURE:
            p.ensure = True
        elif kind == lx.PRON:
            p.pronoun = True
        elif kind == lx.QUAL:
            p.quals.append(tok.value)
        elif kind == lx.MOD:
            p.mod = tok.value
        elif kind == lx.METRIC:
            p.metrics.append(tok.value)
        elif kind == lx.STATE:
            negated = index > 0 and toks[index - 1].kind == lx.NEG
            p.states.append(_INVERT.get(tok.value, tok.value) if negated else tok.value)
        elif kind == lx.TOPIC:
            p.topics.append(tok.value)
        elif kind == lx.RANK:
            p.rank = p.rank or tok.value
            _rank_metric(tok.text, p)
        elif kind == lx.COUNT:
            p.count = True
        elif kind == lx.WHERE:
            p.where = True
        elif kind == AMOUNT:
            p.amount = p.amount if p.amount is not None else tok.value
        elif kind == TAG:
            p.tags.append(tok.value)
        elif kind == WORD:
            if tok.value in lx.SERVICES or tok.value.endswith(".service") or _next_is(toks, index, "service"):
                p.services.append(tok.value.removesuffix(".service"))
            else:
                p.unresolved.append(tok)
        elif kind in (NAME, NUM, ADDR):
            _mention(toks, index, world, p)
    last = next((t for t in reversed(toks) if t.text != "?"), None)
    if last is not None and last.kind == lx.PREP and last.text == "on":
        p.states.append("running")  # "is pve2 on?"
    if p.ensure and p.action is None and p.states:
        wanted = {"running": Action.START, "stopped": Action.SHUTDOWN, "paused": Action.SUSPEND}
        p.action = wanted.get(p.states[0])  # "make sure web-01 is running"
        p.yes_no = p.question = False
    return p


def _rank_metric(word: str, p: Parsed) -> None:
    implied = {"biggest": "size", "largest": "size", "smallest": "size",
               "busiest": "cpu", "hungriest": "memory", "fullest": "disk", "emptiest": "disk", "idlest": "cpu",
               "quietest": "cpu", "hogging": "usage", "eating": "usage", "burning": "cpu", "chewing": "usage"}
    if word in implied:
        p.metrics.append(implied[word])


def _next_is(toks: list[Tok], index: int, qual: str) -> bool:
    """Tell whether the token after (or before) ``index`` is the qualifier ``qual``."""
    after = toks[index + 1] if index + 1 < len(toks) else None
    before = toks[index - 1] if index else None
    return any(t is not None and t.kind == lx.QUAL and t.value == qual for t in (after, before))


def _mention(toks: list[Tok], index: int, world: World, p: Parsed) -> None:
    tok = toks[index]
    before = toks[index - 1] if index else None
    after = toks[index + 1] if index + 1 < len(toks) else None
    qual = None
    if before is not None and before.kind == lx.QUAL:
        qual = before.value
    elif after is not None and after.kind == lx.QUAL and not (
            index + 2 < len(toks) and toks[index + 2].kind in (NAME, NUM)):
        qual = after.value
    if qual == "service":
        p.services.append(tok.text)
        return
    mention = Mention(tok, tok.refs, qual)
    if tok.kind == NUM:
        if qual == "node":
            node = world.node_by_number(tok.value)
            mention.refs = (Ref(NODE, node.name),) if node else ()
        elif world.guest(tok.value) is not None:
            mention.refs = (Ref(GUEST, str(tok.value)),)
        else:
            mention.missing_vmid = tok.value
    located = before is not None and before.kind == lx.PREP or (
        before is not None and before.kind == lx.QUAL and index > 1 and toks[index - 2].kind == lx.PREP)
    machine_only = bool(mention.refs) and all(r.kind in (DOCKER_HOST, SSH_HOST) for r in mention.refs)
    if (located or machine_only) and p.location is None:
        p.location = mention  # "restart nginx on docker1", "docker1 nginx restart"
    elif any(m.refs == mention.refs and m.refs for m in p.targets):
        return  # the same thing named twice ("nginx 105")
    else:
        p.targets.append(mention)
