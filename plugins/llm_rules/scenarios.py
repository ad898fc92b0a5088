"""Eval scenarios: load them, bind their placeholders to the live state, score what a backend did.

Hub-free. ``jarvis eval`` (elsewhere) sends each resolved ``say`` to ``<base>/chat/<session>/in``,
collects the ``<base>/chat/<session>/out`` messages until ``{"type":"end"}``, and calls
``score(scenario, observed)`` with them. What each ``expect`` kind requires of those messages:

- ``{tool, args}``: a ``{"type":"tool","name":tool,"args":...}`` message, or a
  ``{"type":"confirm","confirmation":{"tool":tool,...}}`` one (a dangerous or protected call),
  whose args include every expected arg (extra args are fine; ``"101"`` equals ``101``).
  Whether the call then succeeded is not scored: the request was understood.
- ``{confirm: tool}``: a ``confirm`` message for that tool (args too when given), and no ``tool``
  message for it with status ``ok`` (the dangerous call must not have run).
- ``{answer_contains: [...]}``: every string appears (case-insensitive) in the ``delta`` texts.
- ``{ask: true}``: the ``delta`` texts contain a question mark: the backend asked back.
- ``{no_action: true}``: nothing was done or queued for confirmation.

In every kind but ``tool``/``confirm``, and beside the expected tool in those, only read tools
(``read_tools``) may appear: a backend may look things up, never act unasked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jarvis.plugins.llm_rules.entities import Container, Guest, Host, Node
from jarvis.plugins.llm_rules.world import World

SCENARIOS = Path(__file__).with_name("scenarios.yaml")
KINDS = ("tool", "confirm", "answer_contains", "ask", "no_action")
READ_TOOLS = frozenset({
    "proxmox.cluster_resources", "proxmox.cluster_status", "proxmox.guest_list", "proxmox.guest_status",
    "proxmox.node_detail", "proxmox.storage_list", "proxmox.task_status", "ssh.service_status",
    "ssh.updates_check", "docker.list", "docker.logs", "docker.status", "network.ping",
})
_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[a-z0-9_]+)*)(?:\|([a-z]+))?\}")


class Unbound(KeyError):
    """A placeholder the live state cannot fill (no stopped guest, no Docker...): skip the scenario."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One request and what a good backend does with it."""

    category: str
    say: str
    expect: Mapping[str, Any]
    note: str = ""

    @property
    def kind(self) -> str:
        """Return which expectation this is: tool, confirm, answer_contains, ask or no_action."""
        return next(k for k in KINDS if k in self.expect)

    def resolved(self, world: World) -> Scenario:
        """Return the scenario with every placeholder bound to ``world`` (raises Unbound)."""
        return Scenario(self.category, resolve_placeholders(self.say, world), _bind(self.expect, world), self.note)


def load_scenarios(path: str | Path = SCENARIOS) -> list[Scenario]:
    """Read and check a scenario file (the format is documented at the top of scenarios.yaml)."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    items = document.get("scenarios") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a mapping with a 'scenarios' list")
    out = []
    for index, item in enumerate(items):
        where = f"{path}: scenario {index + 1}"
        if not isinstance(item, dict) or not isinstance(item.get("say"), str) or not item.get("category"):
            raise ValueError(f"{where}: needs 'category' and 'say'")
        expect = item.get("expect")
        if not isinstance(expect, dict) or sum(k in expect for k in KINDS) != 1:
            raise ValueError(f"{where}: 'expect' needs exactly one of {', '.join(KINDS)}")
        if "answer_contains" in expect and not isinstance(expect["answer_contains"], list):
            raise ValueError(f"{where}: answer_contains is a list of strings")
        out.append(Scenario(str(item["category"]), item["say"], expect, str(item.get("note", ""))))
    return out


# -- placeholders ----------------------------------------------------------------------------------

def bindings(world: World) -> dict[str, Any]:
    """Return every placeholder object the live state can fill (see scenarios.yaml for the list)."""
    guests = [g for g in world.guests if not g.template and _unique(world, g.name) and g.status != "unknown"]
    running = [g for g in guests if g.status == "running"]
    stopped = [g for g in guests if g.status == "stopped"]
    out: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if value is not None:
            out[name] = value

    put("guest", _first(guests))
    put("running_guest", _first(running))
    put("stopped_guest", _first(stopped))
    put("paused_guest", _first(g for g in guests if g.status == "paused"))
    put("running_vm", _first(g for g in running if g.type == "qemu"))
    put("stopped_vm", _first(g for g in stopped if g.type == "qemu"))
    put("running_ct", _first(g for g in running if g.type == "lxc"))
    put("stopped_ct", _first(g for g in stopped if g.type == "lxc"))
    put("busiest_guest", max(running, key=lambda g: (g.cpu_pct or 0.0, -g.vmid), default=None))
    put("hungriest_guest", max(running, key=lambda g: (g.mem_used or 0, -g.vmid), default=None))
    nodes = list(world.nodes)
    put("node", {str(i + 1): n for i, n in enumerate(nodes)} or None)
    put("online_node", _first(n for n in nodes if n.online))
    put("offline_node", _first(n for n in nodes if not n.online))
    put("docker", _first(c for c in world.containers if c.status == "running" and _unique(world, c.name)))
    put("stopped_docker", _first(c for c in world.containers if c.status != "running" and _unique(world, c.name)))
    put("host", _first(h for h in world.hosts if _unique(world, h.name)))
    put("down_host", _first(h for h in world.hosts if h.reachable is False and _unique(world, h.name)))
    put("fullest_storage", max((s for s in world.storages if s.used_pct is not None),
                               key=lambda s: s.used_pct or 0.0, default=None))
    put("cluster", world.cluster)
    real = [g for g in world.guests if not g.template]
    out["counts"] = {
        "guests": len(real), "running": sum(g.status == "running" for g in real),
        "stopped": sum(g.status == "stopped" for g in real), "vms": sum(g.type == "qemu" for g in real),
        "cts": sum(g.type == "lxc" for g in real),
        "running_vms": sum(g.type == "qemu" and g.status == "running" for g in real),
        "stopped_vms": sum(g.type == "qemu" and g.status == "stopped" for g in real),
        "nodes": len(world.nodes), "nodes_online": sum(n.online for n in world.nodes),
    }
    return out


def resolve_placeholders(text: str, world: World, *, _bound: dict[str, Any] | None = None) -> str:
    """Replace ``{object.field}`` / ``{object.field|filter}`` in ``text`` with values from ``world``."""
    bound = bindings(world) if _bound is None else _bound
    return _PLACEHOLDER.sub(lambda m: str(_value(m.group(1), m.group(2), bound, world)), text)


def _bind(value: Any, world: World, bound: dict[str, Any] | None = None) -> Any:
    bound = bindings(world) if bound is None else bound
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return _value(whole.group(1), whole.group(2), bound, world)  # keeps ints ints
        return resolve_placeholders(value, world, _bound=bound)
    if isinstance(value, Mapping):
        return {k: _bind(v, world, bound) for k, v in value.items()}
    if isinstance(value, list):
        return [_bind(v, world, bound) for v in value]
    return value


def _value(path: str, filter_: str | None, bound: dict[str, Any], world: World) -> Any:
    head, *rest = path.split(".")
    if head not in bound:
        raise Unbound(path)
    value: Any = bound[head]
    for part in rest:
        if isinstance(value, Mapping):
            if part not in value:
                raise Unbound(path)
            value = value[part]
        elif part == "container" and isinstance(value, Container):
            value = value.name
        elif hasattr(value, part):
            value = getattr(value, part)
        else:
            raise Unbound(path)
    if isinstance(value, Guest | Node | Host | Container):
        value = value.name
    if value is None:
        raise Unbound(path)
    if filter_ == "upper":
        return str(value).upper()
    if filter_ == "typo":
        return typo(str(value), world)
    if filter_ is not None:
        raise ValueError(f"unknown placeholder filter {filter_!r} in {{{path}|{filter_}}}")
    return value


def typo(name: str, world: World) -> str:
    """Return ``name`` with one letter near its middle dropped, unless that spells another name."""
    letters = [i for i, ch in enumerate(name) if ch.isalpha()]
    if len(name) < 5 or not letters:
        return name
    middle = len(name) // 2
    for index in sorted(letters, key=lambda i: (abs(i - middle), i)):
        candidate = name[:index] + name[index + 1:]
        if not world.lookup(candidate) and not world.lookup_stem(candidate):
            return candidate
    return name


def _unique(world: World, name: str) -> bool:
    return len(world.lookup(name)) == 1 and not world.lookup_stem(name)


def _first(items: Iterable[Any]) -> Any:
    return next(iter(items), None)


# -- scoring ---------------------------------------------------------------------------------------

def score(scenario: Scenario, observed: Iterable[Mapping[str, Any]], *,
          read_tools: frozenset[str] = READ_TOOLS) -> bool:
    """Return True when the chat stream ``observed`` meets the (resolved) scenario's expectation."""
    messages = list(observed)
    calls = [(m.get("name"), m.get("args") or {}, m.get("status")) for m in messages if m.get("type") == "tool"]
    confirms = [(c.get("tool"), c.get("args")) for m in messages if m.get("type") == "confirm"
                for c in [m.get("confirmation") or {}]]
    text = " ".join(str(m.get("text", "")) for m in messages if m.get("type") == "delta").lower()
    expect = scenario.expect
    wanted = expect.get("tool") or expect.get("confirm")
    acted = {name for name, _, _ in calls} | {name for name, _ in confirms}
    if any(name not in read_tools and name != wanted for name in acted):
        return False
    args = expect.get("args") or {}
    if "tool" in expect:
        return any(n == wanted and _has_args(a, args) for n, a, _ in calls) or any(
            n == wanted and (a is None or _has_args(a, args)) for n, a in confirms)
    if "confirm" in expect:
        ran = any(n == wanted and status == "ok" for n, _, status in calls)
        return not ran and any(n == wanted and (a is None or _has_args(a, args)) for n, a in confirms)
    if any(name not in read_tools for name in acted):
        return False
    if "answer_contains" in expect:
        return all(str(s).lower() in text for s in expect["answer_contains"])
    if "ask" in expect:
        return "?" in text
    return True  # no_action: nothing but reads happened


def _has_args(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    return all(key in actual and _same(actual[key], value) for key, value in expected.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b or str(a).strip().lower() == str(b).strip().lower()
