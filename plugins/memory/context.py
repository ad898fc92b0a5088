"""The context builder: what an LLM is told about the cluster and its history, within a token budget.

Hub-free: ``build_context(state, kinds, facts, budget)`` turns the current state (outlined from
the kinds of ``bridge/schema``) and what memory holds (open alerts, recent actions, preferences,
memories, recent events, past user messages on a topic) into markdown, never from old LLM
replies. Every section has a head (counts, the top things, the ones needing attention) that is
always kept, and detail lines added by rank while the budget lasts; a cut section says how many
lines it left out. So 5,000 guests fit the small budget as counts, top CPU and memory, and the
stopped and crashed ones. Tokens are an estimate (``estimate_tokens``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from jarvis.plugins.memory import outline
from jarvis.plugins.memory.outline import Key, KindView, Thing

_TOKEN = re.compile(r"[A-Za-z]+|\d|\S", re.ASCII)
DEFAULT_ORDER = ("cluster", "node", "guest", "storage", "docker_container", "host")
_UNCOUNTABLE = frozenset({"storage"})


def estimate_tokens(text: str) -> int:
    """Estimate the tokens of ``text`` for an LLM, on the high side.

    A run of ASCII letters counts one token per 4 letters (rounded up), every digit one token
    (Qwen's tokenizer splits numbers digit by digit), every other visible character one, and a
    newline one. bench/bench_context.py compares it with a real BPE tokenizer.
    """
    count = text.count("\n")
    for match in _TOKEN.finditer(text):
        piece = match.group()
        count += (len(piece) + 3) // 4 if piece[0].isalpha() else 1
    return count


@dataclass(frozen=True)
class Budget:
    """What one context holds: a token budget for the text and how much of each history part."""

    name: str
    tokens: int  # the context text (the conversation's messages have their own budget)
    unresolved: int | None  # open alerts listed (None: all that fit)
    actions: int | None  # recent actions listed
    actions_hours: float | None  # only actions this recent (None: any age)
    events_hours: float  # a "recent events" section over this many hours (0: none)
    messages: int | None  # the session's last messages returned with it (None: the whole session)
    history_tokens: int  # budget of those messages
    top: int  # things per "top by" list
    full_detail_upto: int  # kinds with at most this many things get every described field
    snippets: int  # past user messages found by topic (0: none)


BUDGETS: dict[str, Budget] = {
    # The seed's local model: 4,096 tokens in all; ~800 for the context injection, the last 4 messages.
    "small": Budget("small", tokens=800, unresolved=3, actions=2, actions_hours=None, events_hours=0,
                    messages=4, history_tokens=1500, top=3, full_detail_upto=0, snippets=0),
    # A 200 k model: the full picture (everything that fits), the whole session, related past talk.
    "large": Budget("large", tokens=12_000, unresolved=None, actions=None, actions_hours=24, events_hours=1,
                    messages=None, history_tokens=20_000, top=10, full_detail_upto=20, snippets=5),
}


def pick_budget(value: str | int, budgets: Mapping[str, Budget] = BUDGETS) -> Budget:
    """Return the budget named ``value``, or for a token count the profile it is closest to, resized."""
    if isinstance(value, str):
        if value not in budgets:
            raise ValueError(f"unknown context budget {value!r}; use one of {', '.join(budgets)} or a token count")
        return budgets[value]
    if value < 100:
        raise ValueError(f"a context budget of {value} tokens is too small (at least 100)")
    base = min(budgets.values(), key=lambda b: abs(b.tokens - value))
    return replace(base, name=f"{value} tokens", tokens=int(value))


@dataclass
class Facts:
    """What memory contributes to a context (the store gathers it)."""

    unresolved: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    preferences: dict[str, Any] = field(default_factory=dict)
    memories: list[dict[str, Any]] = field(default_factory=list)
    snippets: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Section:
    """A part of the context: a head always kept, detail lines added while the budget lasts."""

    title: str
    rank: int  # detail lines of lower ranks get the budget first
    head: list[str] = field(default_factory=list)
    detail: Sequence[str] = field(default_factory=list)


class _Lines(Sequence[str]):
    """Detail lines ordered and rendered only when the budget reaches them (5,000 guests, a few shown)."""

    def __init__(self, count: int, order: Callable[[], list[Thing]],
                 render: Callable[[Key, Mapping[str, Any]], str]) -> None:
        self._size = count
        self.order = order
        self.render = render
        self._things: list[Thing] | None = None

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index: Any) -> Any:
        if self._things is None:
            self._things = self.order()
        if isinstance(index, slice):
            return [self.render(*thing) for thing in self._things[index]]
        return self.render(*self._things[index])


@dataclass
class Context:
    """A built context: the text, its estimated tokens, and what was left out per section."""

    text: str
    tokens: int
    budget: str
    max_tokens: int
    left_out: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Return it as the ``memory.context`` tool replies it."""
        return {"budget": self.budget, "max_tokens": self.max_tokens, "tokens": self.tokens, "text": self.text,
                "left_out": self.left_out}


def build_context(
    state: Mapping[Key, Mapping[str, Any]],
    kinds: Sequence[KindView],
    facts: Facts,
    budget: Budget,
    *,
    mask: Callable[[str], str] | None = None,
    now: float | None = None,
    order: Sequence[str] = DEFAULT_ORDER,
) -> Context:
    """Build the context text within ``budget.tokens`` (estimated), every line masked with ``mask``."""
    now = time.time() if now is None else now
    sections = [Section(f"Jarvis context at {time.strftime('%Y-%m-%d %H:%M', time.gmtime(now))} UTC", rank=0)]
    sections += _memory_sections(facts, budget, state)
    alerted = _alerted(facts.unresolved)
    groups = outline.group(state, kinds)
    by_name = {k.name: k for k in kinds}
    ranked_kinds = sorted(groups, key=lambda n: (order.index(n) if n in order else len(order), len(groups[n]), n))
    for position, name in enumerate(ranked_kinds):
        sections.append(_kind_section(by_name[name], groups[name], budget, alerted, rank=3 + 2 * position))
    if facts.events:
        sections.append(Section(f"Recent events (last {budget.events_hours:g} h)", rank=90,
                                detail=[_event_line(e) for e in facts.events]))
    if facts.snippets:
        sections.append(_listed("What the user said before on this topic", 91,
                                [_snippet_line(m) for m in facts.snippets]))
    return _assemble(sections, budget, mask or (lambda text: text))


# -- sections -----------------------------------------------------------------------------------


HEAD_LINES = 20  # memory lines kept in a section's head (the rest are detail, added while the budget lasts)


def _listed(title: str, rank: int, lines: list[str]) -> Section:
    """A section of memory lines: the first ones are its head (counted out by the budget already)."""
    return Section(title, rank=rank, head=lines[:HEAD_LINES], detail=lines[HEAD_LINES:])


def _memory_sections(facts: Facts, budget: Budget, state: Mapping[Key, Mapping[str, Any]]) -> list[Section]:
    out = []
    alerts = facts.unresolved[: budget.unresolved] if budget.unresolved is not None else facts.unresolved
    if alerts:
        out.append(_listed(f"Open alerts ({len(facts.unresolved)})", 1, [_event_line(e) for e in alerts]))
    pending = [data for key, data in state.items() if len(key) == 2 and key[0] == "confirm" and data]
    if pending:
        out.append(_listed(f"Waiting for a human's confirmation ({len(pending)})", 1,
                           [_confirmation_line(c) for c in pending]))
    actions = facts.actions[: budget.actions] if budget.actions is not None else facts.actions
    if actions:
        window = f", last {budget.actions_hours:g} h" if budget.actions_hours else ""
        out.append(_listed(f"Recent actions ({len(actions)} shown{window})", 2, [_action_line(a) for a in actions]))
    if facts.preferences:
        out.append(_listed("User preferences", 2,
                           [f"{k}: {_short(v, 160)}" for k, v in sorted(facts.preferences.items())]))
    if facts.memories:
        out.append(_listed("Remembered", 2, [_memory_line(m) for m in facts.memories]))
    return out


def _alerted(unresolved: Sequence[Mapping[str, Any]]) -> set[str]:
    """What open alerts are about: a guest's vmid, else a node's name."""
    names: set[str] = set()
    for event in unresolved:
        about = event.get("vmid") if event.get("vmid") not in (None, "") else event.get("node")
        if about not in (None, ""):
            names.add(str(about))
    return names


def _kind_section(kind: KindView, things: list[Thing], budget: Budget, alerted: set[str], rank: int) -> Section:
    counts = outline.status_counts(kind, things)
    tally = ", ".join(f"{n:,} {status}" for status, n in counts.most_common()) if kind.status else ""
    if len(things) == 1:  # the cluster itself: its line is the section
        key, data = things[0]
        return Section(_plural(kind.name, 1), rank=rank, head=[outline.line(kind, key, data, _extra_fields(kind))])
    title = f"{_plural(kind.name)} ({len(things):,}{': ' + tally if tally else ''})"
    flagged = [t for t in things
               if not outline.is_normal(kind, t[1]) or (alerted and _ids_alerted(kind, t[0], alerted))]
    # Crashed (neither normal nor stopped) first, then what an alert names, then merely stopped (often on
    # purpose); then by id.
    def urgency(thing: Thing) -> tuple[Any, ...]:
        stopped = str(outline.status_text(kind, thing[1])) == "stopped" or outline.is_normal(kind, thing[1])
        return (stopped, not _ids_alerted(kind, thing[0], alerted), _sort_key(thing[0]))

    flagged.sort(key=urgency)
    section = Section(title, rank=rank)
    many = len(things) > 4 * budget.top  # else every line is likely to fit: no summary needed
    if many:
        for name in kind.numeric:
            ranked = outline.top(kind, things, name, budget.top)
            if ranked:
                section.head.append(f"top by {kind.label(name)}: {outline.ranked_text(kind, ranked, name)}")
        stopped = [t for t in flagged if str(outline.status_text(kind, t[1])) == "stopped"
                   and not _ids_alerted(kind, t[0], alerted)]
        urgent = [t for t in flagged if t not in stopped] if stopped else flagged
        for label, group, count in (("needing attention", urgent, 2 * budget.top), ("stopped", stopped, budget.top)):
            if group:
                shown = group[:count]
                names = ", ".join(_flag_text(kind, t, alerted) for t in shown)
                more = f" and {len(group) - len(shown):,} more" if len(group) > len(shown) else ""
                section.head.append(f"{label} ({len(group):,}): {names}{more}")
    extra = _extra_fields(kind) if len(things) <= budget.full_detail_upto else ()

    def order() -> list[Thing]:
        """Flagged first, then (many things) by the first numeric field, e.g. CPU, then the rest by id."""
        first = {key for key, _ in flagged}
        rest = outline.top(kind, things, kind.numeric[0], len(things)) if kind.numeric and many else []
        ranked = {key for key, _ in rest}
        others = sorted((t for t in things if t[0] not in first and t[0] not in ranked), key=lambda t: _sort_key(t[0]))
        return flagged + [t for t in rest if t[0] not in first] + others

    section.detail = _Lines(len(things), order, lambda key, data: outline.line(kind, key, data, extra))
    return section


def _ids_alerted(kind: KindView, key: Key, alerted: set[str]) -> bool:
    return bool(alerted) and "/".join(kind.ids(key)) in alerted


def _flag_text(kind: KindView, thing: Thing, alerted: set[str]) -> str:
    key, data = thing
    status = outline.status_text(kind, data)
    mark = "alert" if _ids_alerted(kind, key, alerted) else ""
    notes = ", ".join(n for n in (status if not outline.is_normal(kind, data) else "", mark) if n)
    return f"{outline.display_name(kind, key, data)}" + (f" ({notes})" if notes else "")


def _extra_fields(kind: KindView) -> tuple[str, ...]:
    """Described fields worth showing in full detail: those with a unit or a label, not already shown."""
    shown = set(kind.summary) | {kind.status, kind.name_field}
    return tuple(n for n, f in kind.fields.items()
                 if n not in shown and (f.get("unit") or f.get("label")) and not n.endswith("_total")
                 and f.get("state_class") != "total_increasing")


def _sort_key(key: Key) -> tuple[Any, ...]:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in key)


def _plural(name: str, count: int = 2) -> str:
    words = name.replace("_", " ")
    words = words if count == 1 or name in _UNCOUNTABLE or words.endswith("s") else words + "s"
    return words[:1].upper() + words[1:]


# -- lines ----------------------------------------------------------------------------------


def _when(ts: Any) -> str:
    text = str(ts or "")
    return text[5:16].replace("T", " ") if len(text) >= 16 else text


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else _compact_json(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _compact_json(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={_compact_json(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return ",".join(_compact_json(v) for v in value)
    return str(value)


def _event_line(event: Mapping[str, Any]) -> str:
    where = "/".join(str(event[k]) for k in ("node", "vmid") if event.get(k) not in (None, ""))
    state = " (resolved)" if event.get("resolved") else ""
    return (f"{_when(event.get('ts'))} [{event.get('severity', 'info')}] {event.get('type', '')}"
            f"{' ' + where if where else ''}: {_short(event.get('summary', ''), 200)}{state}")


def _action_line(action: Mapping[str, Any]) -> str:
    who = action.get("requested_by") or action.get("source") or "?"
    approved = f", approved by {action['approved_by']}" if action.get("approved_by") else ""
    error = action.get("error")
    code = f" ({error.get('code')})" if isinstance(error, dict) else (f" ({_short(error, 60)})" if error else "")
    args = _short(action.get("args") or {}, 80)
    return (f"{_when(action.get('ts'))} {action.get('tool')}{' ' + args if args else ''} by {who}{approved}: "
            f"{action.get('status')}{code}")


def _confirmation_line(pending: Mapping[str, Any]) -> str:
    return (f"{pending.get('tool')} {_short(pending.get('args') or {}, 80)} asked by {pending.get('requested_by')} "
            f"(id {pending.get('id')}, expires {_when(pending.get('expires_at'))})")


def _memory_line(memory: Mapping[str, Any]) -> str:
    tags = f" [{', '.join(memory['tags'])}]" if memory.get("tags") else ""
    return f"{_short(memory.get('text', ''), 200)}{tags}"


def _snippet_line(message: Mapping[str, Any]) -> str:
    return f"{_when(message.get('ts'))} {_short(message.get('content', ''), 200)}"


# -- fitting the budget ------------------------------------------------------------------------


def _assemble(sections: list[Section], budget: Budget, mask: Callable[[str], str]) -> Context:
    def cost(text: str) -> int:
        return estimate_tokens(text) + 1  # + its newline

    for section in sections:
        section.title = mask(section.title)
        section.head = [mask(h) for h in section.head]
    used = 0
    kept: list[Section] = []
    # Heads first, by rank: a head that does not fit is dropped (the lowest ranks go first).
    for section in sorted(sections, key=lambda s: s.rank):
        need = cost(_heading(section)) + sum(cost(h) for h in section.head)
        if used + need <= budget.tokens:
            kept.append(section)
            used += need
    chosen: dict[int, list[str]] = {id(s): [] for s in kept}
    left_out: dict[str, int] = {}
    for section in sorted(kept, key=lambda s: s.rank):
        lines = chosen[id(section)]
        for index, raw in enumerate(section.detail):
            text = mask(raw)
            remaining = len(section.detail) - index - 1
            reserve = cost(_more(remaining)) if remaining else 0
            if used + cost(text) + reserve > budget.tokens:
                left = len(section.detail) - index
                note = _more(left)
                if used + cost(note) <= budget.tokens:
                    lines.append(note)
                    used += cost(note)
                left_out[section.title.split(" (")[0]] = left
                break
            lines.append(text)
            used += cost(text)
    for section in kept:  # a heading with nothing under it says nothing
        if not section.head and not chosen[id(section)] and section.rank:
            del chosen[id(section)]
            used -= cost(_heading(section))
    dropped = [s for s in sections if id(s) not in chosen]
    for section in dropped:
        left_out[section.title.split(" (")[0]] = len(section.head) + len(section.detail) + 1
    parts = []
    for section in (s for s in sections if id(s) in chosen):
        parts.append(_heading(section))
        parts.extend(section.head)
        parts.extend(chosen[id(section)])
    text = "\n".join(parts)
    return Context(text=text, tokens=estimate_tokens(text), budget=budget.name, max_tokens=budget.tokens,
                   left_out=left_out)


def _heading(section: Section) -> str:
    return ("# " if section.rank == 0 else "## ") + section.title


def _more(count: int) -> str:
    return f"... {count:,} more not shown (ask a tool for them)"
