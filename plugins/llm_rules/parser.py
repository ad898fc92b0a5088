"""``interpret``: one operator message in, one Intent out. Deterministic; no model, no I/O."""

from __future__ import annotations

from jarvis.plugins.llm_rules import answers, ops, reports
from jarvis.plugins.llm_rules import lexicon as lx
from jarvis.plugins.llm_rules.fmt import capped, join
from jarvis.plugins.llm_rules.intents import Answer, AskBack, Call, Intent, ToolRequest
from jarvis.plugins.llm_rules.lexicon import POWER, Action
from jarvis.plugins.llm_rules.parse import Mention, Parsed, build
from jarvis.plugins.llm_rules.power import VERB_WORD, adjust, power
from jarvis.plugins.llm_rules.targets import MAX_TARGETS, host_name
from jarvis.plugins.llm_rules.text import NAME, Tok, normalize, split_command, tag, tokenize
from jarvis.plugins.llm_rules.world import GUEST, Ref, World

# Tools that can take things down or run arbitrary programs: the hub asks a human before running them.
DANGEROUS = frozenset({
    "proxmox.guest_stop", "proxmox.guest_reboot", "proxmox.guest_reset", "proxmox.node_reboot",
    "proxmox.node_shutdown", "ssh.exec", "ssh.pct_exec",
})
_STATE_OF_VERB = {Action.START: "running", Action.WAKE: "running", Action.RESUME: "running",
                  Action.STOP: "stopped", Action.SHUTDOWN: "stopped", Action.SUSPEND: "paused"}
CAN_DO = ("I can start, stop, shut down, reboot, reset, suspend and resume guests; reboot, shut down and wake "
          "nodes; start, stop, restart and read logs of Docker containers; run commands, restart services and "
          "check updates over SSH; ping and wake hosts; and answer questions about the cluster.")
_REPLIES = {"yes", "yeah", "yep", "sure", "ok", "okay", "no", "nope", "cancel", "nevermind", "y", "n"}
_THANKS = {"thanks", "thank", "thx", "ty", "cheers", "ta", "appreciated"}
_HELLO = {"hi", "hello", "hey", "yo", "morning", "evening", "jarvis"}


def interpret(text: str, world: World, *, tools: set[str]) -> Intent:
    """Read one operator message against the world; only tools in ``tools`` are ever proposed."""
    command = split_command(text) if text else None
    body = command.rest if command else (text or "")
    words = tokenize(normalize(body))
    toks = tag(words, world)
    if command is None and all(t.kind == lx.NEG for t in toks):
        return _small_talk(words, world, tools)
    clauses = [] if command else _clauses(toks)
    if len(clauses) > 1:
        merged = _several(clauses, world, tools)
        if merged is not None:
            return merged
    return decide(build(toks, world, command), world, tools)


def decide(p: Parsed, world: World, tools: set[str]) -> Intent:
    """Choose the Intent for one parsed clause."""
    if p.help and p.action is None and not p.subjects():
        return reports.help_text(world, tools)
    if p.negated:
        return _declined(p, world)
    if p.unsupported:
        return Answer(f"I can't {p.unsupported} anything: no tool here does that. {CAN_DO}",
                      {"refused": "unsupported", "verb": p.unsupported})
    if p.hypothetical and (p.action in POWER or p.command is not None):
        return _hypothetical(p, world, tools)
    if p.later and (p.action in POWER or p.command is not None):
        return Answer("I can't schedule anything: I act right away. Ask me again when it is time, "
                      "or schedule it on the host.", {"refused": "schedule"})
    if p.command is not None and not _start_instead(p, world):
        return ops.run(p, world, tools)
    action = p.action
    if action == Action.RUN and p.subjects():
        p.action = action = Action.START  # "run win11"
    if action in POWER:
        return _act(p, world, tools)
    if action == Action.RUN:
        return AskBack("What should I run, and on which host? For example: 'run uptime on pve1'.")
    if action == Action.LOGS:
        return ops.logs(p, world, tools)
    if action == Action.PING:
        return ops.ping(p, world, tools)
    if action == Action.UPDATES:
        return ops.updates(p, world, tools)
    return answers.question(p, world, tools)


def _act(p: Parsed, world: World, tools: set[str]) -> Intent:
    """A power verb: a question about state, a service to restart, or power calls."""
    assert p.action is not None
    if p.yes_no or p.wh:  # "is pve1 shut down?", "why did nginx restart?"
        state = _STATE_OF_VERB.get(p.action) if p.yes_no else None
        if state:
            p.states.append(state)
        p.action = None
        return answers.question(p, world, tools)
    if "service" in p.quals and not p.services and not _service_on_host(p):
        return AskBack(f"Which service should I {VERB_WORD.get(p.action, 'restart')}, and on which host? "
                       "For example: 'restart pveproxy on pve1'.")
    if p.services or _service_on_host(p):
        if not p.services:
            p.services.append(p.unresolved[0].text)
        return ops.service(p, world, tools, p.action)
    return power(p, world, tools)


def _start_instead(p: Parsed, world: World) -> bool:
    """Tell "run win11 on pve2" (start a guest) from "run uptime on pve2"; the former becomes a start."""
    command = p.command
    if command is None or len(command.argv) != 1:
        return False
    refs = world.lookup(command.argv[0])
    if any(r.kind == GUEST for r in refs):
        word = command.argv[0].lower()
        p.command = None
        p.action = Action.START
        p.targets.insert(0, _mention_of(word, refs))
        return True
    return False


def _mention_of(word: str, refs: tuple[Ref, ...]) -> Mention:
    return Mention(Tok(NAME, word, word, 0, refs), refs)


def _service_on_host(p: Parsed) -> bool:
    """"restart tailscaled on pve1": an unknown word acted on at an SSH-able host is a service."""
    return (not p.targets and bool(p.unresolved) and p.location is not None and host_name(p.location) is not None
            and not p.unresolved[0].near and p.action in (Action.REBOOT, Action.START))


def _clauses(toks: list[Tok]) -> list[list[Tok]]:
    """Split "start 101 and then stop 102" into clauses at a conjunction followed by a verb."""
    out: list[list[Tok]] = [[]]
    for index, tok in enumerate(toks):
        after = toks[index + 1:index + 3]
        starts_verb = bool(after) and (after[0].kind == lx.VERB or (
            after[0].kind in (lx.NEG, lx.MOD) and len(after) > 1 and after[1].kind == lx.VERB))
        if tok.kind == lx.CONJ and starts_verb and any(t.kind == lx.VERB for t in out[-1]):
            out.append([])
            continue
        out[-1].append(tok)
    return [c for c in out if c]


def _several(clauses: list[list[Tok]], world: World, tools: set[str]) -> Intent | None:
    """Interpret clauses one by one; merge them when every one is a tool request, else None."""
    calls: list[Call] = []
    summaries: list[str] = []
    previous: Parsed | None = None
    for clause in clauses:
        p = build(clause, world)
        if previous is not None and not p.subjects() and not p.unresolved:
            p.targets, p.location = list(previous.targets), previous.location  # "... and then restart it"
        intent = decide(p, world, tools)
        if not isinstance(intent, ToolRequest):
            return None
        calls.extend(c for c in intent.calls if c not in calls)
        summaries.append(intent.summary)
        previous = p
    if len(calls) > MAX_TARGETS:
        return Answer(f"That is {len(calls)} actions at once; I do at most {MAX_TARGETS} per request.",
                      {"refused": "mass_action"})
    text = summaries[0] + "".join(" Then " + s[0].lower() + s[1:] for s in summaries[1:])
    return ToolRequest(tuple(calls), text)


def _declined(p: Parsed, world: World) -> Answer:
    action = p.action
    verb = VERB_WORD.get(adjust(action, p.mod), str(action)) if action else "do that"
    names = [world.label(m.refs[0]) if m.refs else m.text for m in p.subjects()]
    what = f" {join(names)}" if names else ""
    return Answer(f"OK, I won't {verb}{what}. Nothing was done.", {"declined": True})


def _hypothetical(p: Parsed, world: World, tools: set[str]) -> Answer:
    """Explain what a request would do, without doing it ("what happens if I reboot pve1?")."""
    p.hypothetical = False
    intent = decide(p, world, tools)
    if not isinstance(intent, ToolRequest):
        text = getattr(intent, "text", "") or getattr(intent, "question", "")
        return Answer(f"Nothing would be done: {text}", {"hypothetical": True})
    effects = []
    for call in intent.calls:
        if call.tool in ("proxmox.node_reboot", "proxmox.node_shutdown"):
            node = str(call.args["node"])
            running = [g.label for g in world.guests if g.node == node and g.status == "running"]
            effects.append(f"{node} has {len(running)} running guests that go down with it"
                           + (f" ({capped(running, 6)})" if running else ""))
        if call.tool == "proxmox.guest_stop":
            effects.append("a hard stop cuts the guest off like pulling the plug; 'shut down' is the graceful way")
    risky = [c.tool for c in intent.calls if c.tool in DANGEROUS]
    text = f"That would: {intent.summary}"
    if effects:
        text += " Note: " + "; ".join(effects) + "."
    if risky:
        text += " It is dangerous, so I would ask you to confirm first."
    return Answer(text + " Nothing was done; ask me plainly to do it.",
                  {"hypothetical": True, "would_call": [c.tool for c in intent.calls]})


def _small_talk(words: list[str], world: World, tools: set[str]) -> Answer | Intent:
    if set(words) & _THANKS:
        return Answer("You're welcome.")
    if words and set(words) <= _REPLIES | {",", "."}:
        return Answer("I don't keep track of the conversation: please say the whole request, for example one of "
                      "the options I offered.")
    if set(words) & _HELLO:
        help_ = reports.help_text(world, tools)
        return Answer("Hello! " + help_.text, help_.facts)
    return reports.unknown(world, tools)

