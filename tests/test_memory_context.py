"""The context builder: per-backend budgets in tokens, built from current state and memory (never
from old LLM replies), summarised at scale, with no secret in it."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
from jarvis.core import EntityKind, StateField, fields
from jarvis.core.redact import register_secret
from jarvis.plugins.memory.context import BUDGETS, Facts, build_context, estimate_tokens, pick_budget
from jarvis.plugins.memory.outline import kinds_from_schema
from jarvis.plugins.memory.snapshot import compact_snapshot
from jarvis.plugins.proxmox.kinds import KINDS

from tests.fixtures.hub import running_hub

UPS = EntityKind(name="ups", topic="ups/{name}/state", description="A UPS.", name_field="name", fields=(
    StateField(name="name", type="string", description="name"),
    StateField(name="on_battery", type="boolean", description="on battery", label="on battery", summary=True),
    StateField(name="charge_pct", type="number", unit="%", label="charge", description="charge", summary=True),
    fields.TEMPERATURE_C,
))
KIND_VIEWS = kinds_from_schema({"kinds": [k.describe() for k in (*KINDS, UPS)]})
GiB = 1 << 30


def cluster_state(nodes: int, guests: int, seed: int = 1) -> dict[tuple[str, ...], dict[str, Any]]:
    """A synthetic cluster: nodes, guests (a tenth stopped, two crashed), storage, a UPS."""
    rng = random.Random(seed)
    state: dict[tuple[str, ...], dict[str, Any]] = {("cluster", "state"): {
        "name": "homelab", "quorate": True, "nodes_online": nodes, "nodes_total": nodes, "guests_running": guests,
        "guests_total": guests, "templates": 0, "cpu_pct": 40.0, "mem_used": 100 * GiB, "mem_total": 400 * GiB}}
    for n in range(1, nodes + 1):
        state[("node", f"pve{n}", "state")] = {"name": f"pve{n}", "status": "online", "cpu_pct": rng.uniform(5, 60),
                                               "mem_used": rng.randint(8, 60) * GiB, "mem_total": 64 * GiB,
                                               "uptime_s": 86400 * 3, "temperature_c": 48.0}
        state[("storage", f"pve{n}", "local", "state")] = {"node": f"pve{n}", "storage": "local",
                                                           "used_pct": rng.uniform(10, 95)}
    for i in range(guests):
        vmid = 100 + i
        status = "stopped" if i % 10 == 3 else "running"
        state[("guest", str(vmid), "state")] = {
            "vmid": vmid, "type": "qemu", "node": f"pve{i % nodes + 1}", "name": f"app-{vmid}", "status": status,
            "cpu_pct": rng.uniform(0, 30) if status == "running" else 0.0,
            "mem_used": rng.randint(1, 8) * GiB if status == "running" else 0, "mem_total": 8 * GiB,
            "template": False}
    if ("guest", "4242", "state") in state:  # crashed: neither running nor stopped
        state[("guest", "4242", "state")] = {**state[("guest", "4242", "state")], "name": "db-main",
                                             "status": "paused"}
    if ("guest", "105", "state") in state:
        state[("guest", "105", "state")] = {**state[("guest", "105", "state")], "name": "k3s-master",
                                            "cpu_pct": 99.5}
    state[("ups", "rack", "state")] = {"name": "rack", "on_battery": False, "charge_pct": 97.0, "temperature_c": 31.0}
    return state


FACTS = Facts(
    unresolved=[{"id": f"a{i}", "ts": f"2026-12-01T20:0{i}:00Z", "type": "alert", "severity": "error",
                 "node": "pve3", "vmid": 200 + i, "summary": f"guest {200 + i} crashed"} for i in range(6)][::-1],
    actions=[{"ts": "2026-12-01T19:00:00Z", "tool": "proxmox.guest_start", "args": {"vmid": 105},
              "requested_by": "mqtt:alice", "status": "ok", "risk": "write"} for _ in range(5)],
    preferences={"k3s_master": "vm 105"},
    memories=[{"text": "pve3 has a flaky NIC", "tags": ["pve3"]}],
)


@pytest.mark.parametrize("budget", ["small", "large"])
def test_at_5000_guests_each_budget_holds_and_still_says_what_matters(budget: str) -> None:
    state = cluster_state(nodes=50, guests=5000)
    built = build_context(state, KIND_VIEWS, FACTS, BUDGETS[budget])
    text = built.text
    assert built.tokens <= BUDGETS[budget].tokens
    assert estimate_tokens(text) == built.tokens
    assert "Guests (5,000: 4,499 running, 500 stopped, 1 paused)" in text
    assert "top by CPU: 105 k3s-master 99.5 %" in text
    assert "top by memory:" in text
    assert "4242 db-main (paused)" in text  # crashed before merely stopped
    assert "200 app-200 (alert)" in text
    assert "103 app-103 (stopped)" in text
    assert "Nodes (50: 50 online)" in text and "Storage (50)" in text
    assert "rack: not on battery, charge 97 %" in text  # a third-party kind, no code for it
    assert "k3s_master: vm 105" in text and "pve3 has a flaky NIC" in text
    assert "proxmox.guest_start vmid=105 by mqtt:alice: ok" in text
    alerts = [line for line in text.splitlines() if "[error] alert" in line]
    if budget == "small":
        assert len(alerts) == 3 and text.count("proxmox.guest_start") == 2
        assert built.left_out["Guests"] == 5000
    else:
        assert len(alerts) == 6 and text.count("proxmox.guest_start") == 5
        assert len([line for line in text.splitlines() if re.match(r"pve\d+: online", line)]) == 50


def test_a_small_cluster_gets_one_line_per_node_and_per_guest_in_the_small_budget() -> None:
    built = build_context(cluster_state(nodes=4, guests=12), KIND_VIEWS, FACTS, BUDGETS["small"])
    lines = built.text.splitlines()
    assert [line.split(":")[0] for line in lines if re.match(r"pve\d+:", line)] == ["pve1", "pve2", "pve3", "pve4"]
    assert any(line.startswith("105 k3s-master: running, CPU 99.5 %, memory") for line in lines)
    assert "Guests" not in built.left_out and "Nodes" not in built.left_out and built.tokens <= 800
    full = build_context(cluster_state(nodes=4, guests=12), KIND_VIEWS, FACTS, BUDGETS["large"]).text
    assert "pve1: online, CPU" in full and "uptime 3d 0h, temperature 48 °C" in full  # every described field


def test_budgets_by_name_or_tokens_and_bad_ones_refused() -> None:
    assert pick_budget("small").tokens == 800 and pick_budget("large").messages is None
    assert pick_budget(3000).tokens == 3000 and pick_budget(3000).unresolved == 3
    assert pick_budget(50_000).snippets == 5
    with pytest.raises(ValueError, match="unknown context budget"):
        pick_budget("huge")
    with pytest.raises(ValueError, match="too small"):
        pick_budget(10)
    tiny = build_context(cluster_state(nodes=50, guests=5000), KIND_VIEWS, FACTS, pick_budget(200))
    assert tiny.tokens <= 200 and "Open alerts" in tiny.text


def test_the_token_estimate_is_on_the_high_side_of_words_and_counts_digits_one_by_one() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("running") == 2
    assert estimate_tokens("12345") == 5
    assert estimate_tokens("pve1: online, CPU 12 %") == 10
    assert estimate_tokens("a\nb") == 3


def test_secrets_never_enter_the_context() -> None:
    secret = "ctx-secret-7f3a9b"
    register_secret(secret)
    state = cluster_state(nodes=2, guests=3)
    state[("guest", "100", "state")] = {**state[("guest", "100", "state")], "name": f"leak-{secret}"}
    facts = Facts(preferences={"token": secret}, memories=[{"text": f"the key is {secret}"}],
                  unresolved=[{"ts": "2026-12-01T20:00:00Z", "type": "alert", "summary": f"auth {secret} failed"}])
    from jarvis.core import redact

    for budget in BUDGETS.values():
        text = build_context(state, KIND_VIEWS, facts, budget, mask=redact).text
        assert secret not in text and "leak-***" in text


async def test_the_context_tool_uses_current_state_and_memory_never_old_replies(tmp_path: Path) -> None:
    config = {"plugins": {"memory": {"path": str(tmp_path)}}}
    async with running_hub(config, plugins=["memory"]) as hub:
        store = hub.memory()
        assert store is not None
        store.add_message("old", "user", "is the nas backup done?")
        store.add_message("old", "assistant", "STALE REPLY: the nas backup finished at 02:00")
        store.add_message("s1", "user", "hello")
        store.add_message("s1", "assistant", "hi")
        store.add_message("s1", "tool", '{"guests": 5000}')
        reply = await hub.call_tool("memory.context", {"budget": "large", "session": "s1", "topic": "nas backup"},
                                    source="llm")
        data = reply["data"]
        assert "is the nas backup done?" in data["text"]  # what the user said before, on the topic
        assert "STALE REPLY" not in data["text"]
        assert [m["role"] for m in data["messages"]] == ["user", "assistant"]  # chat turns, no tool output
        assert data["tokens"] <= data["max_tokens"] == 12_000
        small = (await hub.call_tool("memory.context", {"tokens": 300}, source="llm"))["data"]
        assert small["max_tokens"] == 300 and small["tokens"] <= 300
        bad = await hub.call_tool("memory.context", {"budget": "nope"}, source="llm")
        assert bad["error"]["code"] == "invalid_args"


def test_a_snapshot_stays_compact_at_5000_guests() -> None:
    import json

    snapshot = compact_snapshot(cluster_state(nodes=50, guests=5000), KIND_VIEWS)
    size = len(json.dumps(snapshot))
    assert size < 8_000, size
    assert snapshot["counts"] == {"cluster": 1, "guest": 5000, "node": 50, "storage": 50, "ups": 1}
    assert snapshot["guest"]["by_status"] == {"running": 4499, "stopped": 500, "paused": 1}
    assert snapshot["guest"]["top_cpu_pct"][0] == ["105 k3s-master", 99.5]
    assert snapshot["node"]["pve1"]["status"] == "online"  # per-node figures
    assert snapshot["guest"]["not_normal_count"] == 501


@pytest.mark.slow
async def test_the_small_budget_holds_for_the_simulated_50_node_5000_guest_cluster(pve_sim_factory: Any,
                                                                                     tmp_path: Path) -> None:
    sim = pve_sim_factory(nodes=50, guests=5000, seed=3)
    config = {"plugins": {"memory": {"path": str(tmp_path)},
                          "proxmox": {"endpoints": [sim.url], "token_id": sim.token_id,
                                      "token_secret": sim.token_secret, "ca_file": sim.ca_file}}}
    async with running_hub(config, plugins=["proxmox", "memory"]) as hub:
        await hub.refresh()
        assert len(hub.state.items(("guest",))) == 5000
        small = (await hub.call_tool("memory.context", {"budget": "small"}, source="llm"))["data"]
        large = (await hub.call_tool("memory.context", {"budget": "large"}, source="llm"))["data"]
    assert small["tokens"] <= 800 and large["tokens"] <= 12_000
    assert "Guests (5,000: " in small["text"] and "top by CPU" in small["text"]
    assert sim.token_secret not in small["text"] + large["text"]
