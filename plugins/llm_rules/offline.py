"""Score the rules parser on scenarios without a hub: the chat stream it would emit, then ``score``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jarvis.plugins.llm_rules.intents import Answer, AskBack, Intent, ToolRequest, Unknown
from jarvis.plugins.llm_rules.parser import DANGEROUS, interpret
from jarvis.plugins.llm_rules.scenarios import Scenario, Unbound, score
from jarvis.plugins.llm_rules.world import World


def stream(intent: Intent, *, dangerous: Iterable[str] = DANGEROUS) -> list[dict[str, Any]]:
    """Return the chat messages the rules backend sends for an intent (tools assumed to succeed).

    Dangerous calls end in a ``confirm`` message, the others in a ``tool`` message; answers and
    questions are one ``delta``. The real backend adds the rendered tool results as deltas.
    """
    risky = set(dangerous)
    out: list[dict[str, Any]] = [{"type": "start", "message_id": "offline"}]
    if isinstance(intent, ToolRequest):
        out.append({"type": "delta", "text": intent.summary})
        for number, call in enumerate(intent.calls):
            if call.tool in risky:
                out.append({"type": "confirm", "confirmation": {
                    "id": f"offline-{number}", "expires_at": None, "tool": call.tool, "args": dict(call.args),
                    "reason": f"{call.tool} is dangerous"}})
            else:
                out.append({"type": "tool", "name": call.tool, "args": dict(call.args), "status": "ok",
                            "result": None})
    elif isinstance(intent, AskBack):
        out.append({"type": "delta", "text": intent.text})
    elif isinstance(intent, Answer | Unknown):
        out.append({"type": "delta", "text": intent.text})
    out.append({"type": "end", "backend": "rules", "model": None, "usage": None, "cost": 0,
                "route_reason": "offline"})
    return out


@dataclass
class Report:
    """How the parser did: per category (passed, scored), what was skipped, what failed and why."""

    passed: int = 0
    scored: int = 0
    skipped: list[str] = field(default_factory=list)
    categories: dict[str, list[int]] = field(default_factory=dict)
    failures: list[tuple[Scenario, str]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Return passed / scored (1.0 when nothing was scored)."""
        return self.passed / self.scored if self.scored else 1.0

    def lines(self) -> list[str]:
        """Return the report as text lines."""
        out = [f"rules backend: {self.passed}/{self.scored} scenarios passed ({100 * self.ratio:.1f}%), "
               f"{len(self.skipped)} skipped (placeholders the state cannot fill)"]
        out += [f"  {name:12} {p}/{n}" for name, (p, n) in sorted(self.categories.items())]
        out += [f"  FAIL [{s.category}] {s.say!r}: {why}" for s, why in self.failures]
        return out


def evaluate(scenarios: Iterable[Scenario], world: World, tools: set[str]) -> Report:
    """Resolve, interpret and score every scenario against ``world``."""
    report = Report()
    for scenario in scenarios:
        try:
            bound = scenario.resolved(world)
        except Unbound as missing:
            report.skipped.append(f"{scenario.say} ({missing})")
            continue
        intent = interpret(bound.say, world, tools=tools)
        ok = score(bound, stream(intent))
        tally = report.categories.setdefault(bound.category, [0, 0])
        tally[1] += 1
        report.scored += 1
        if ok:
            tally[0] += 1
            report.passed += 1
        else:
            report.failures.append((bound, describe(intent)))
    return report


def describe(intent: Intent) -> str:
    """Return an intent in one line (for failure reports)."""
    if isinstance(intent, ToolRequest):
        return "; ".join(f"{c.tool}{_args(c.args)}" for c in intent.calls)
    return f"{type(intent).__name__}: {getattr(intent, 'text', '')[:160]!r}"


def _args(args: Mapping[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"
