"""The shipped eval scenarios: their format, their placeholders, how a chat stream is scored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jarvis.plugins.llm_rules import World, interpret
from jarvis.plugins.llm_rules.offline import evaluate, stream
from jarvis.plugins.llm_rules.scenarios import (
    SCENARIOS,
    Scenario,
    Unbound,
    bindings,
    load_scenarios,
    resolve_placeholders,
    score,
    typo,
)

from tests.fixtures.rules_world import ALL_TOOLS, homelab_world, sim_state

WORLD = homelab_world()
SHIPPED = load_scenarios()


def test_the_shipped_file_is_package_data_next_to_the_module() -> None:
    assert SCENARIOS.name == "scenarios.yaml" and SCENARIOS.exists()
    assert '"jarvis.plugins.llm_rules" = ["scenarios.yaml"]' in (Path(__file__).parents[1] / "pyproject.toml"
                                                                 ).read_text()


def test_at_least_sixty_scenarios_cover_every_category_and_expectation() -> None:
    assert len(SHIPPED) >= 60
    assert {s.category for s in SHIPPED} == {"power", "node", "read", "docker", "ssh", "network", "question",
                                             "ask_back", "safety"}
    assert {s.kind for s in SHIPPED} == {"tool", "confirm", "answer_contains", "ask", "no_action"}
    assert len({s.say for s in SHIPPED}) == len(SHIPPED), "no duplicates"


def test_every_tool_family_is_expected_somewhere() -> None:
    tools = {s.expect.get("tool") or s.expect.get("confirm") for s in SHIPPED} - {None}
    assert {t.split(".")[0] for t in tools} == {"proxmox", "docker", "ssh", "network"}
    assert {"ssh.exec", "ssh.pct_exec", "ssh.service_restart", "ssh.service_status", "ssh.updates_check",
            "docker.restart", "docker.logs", "network.ping", "network.wake", "proxmox.node_wake"} <= tools


@pytest.mark.parametrize(("text", "problem"), [
    ("scenarios: {}", "expected a mapping with a 'scenarios' list"),
    ("scenarios:\n  - say: hi\n", "needs 'category' and 'say'"),
    ("scenarios:\n  - {category: x, say: hi, expect: {}}\n", "exactly one of"),
    ("scenarios:\n  - {category: x, say: hi, expect: {ask: true, no_action: true}}\n", "exactly one of"),
    ("scenarios:\n  - {category: x, say: hi, expect: {answer_contains: hi}}\n", "list of strings"),
])
def test_a_malformed_scenario_file_is_refused_with_the_reason(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=problem):
        load_scenarios(path)


@pytest.mark.parametrize(("text", "bound"), [
    ("start {stopped_guest.name}", "start win11"),
    ("{stopped_guest.vmid} {stopped_vm.name} {stopped_ct.name}", "107 win11 unifi"),
    ("{running_guest.name} {running_vm.name} {running_ct.vmid} {paused_guest.name}", "pihole web-01 100 adguard"),
    ("{busiest_guest.name} {hungriest_guest.name}", "gitlab db-01"),
    ("{node.1} {node.4} {node.2.ip} {online_node.name} {offline_node.name}", "pve1 pve4 192.168.1.12 pve1 pve4"),
    ("restart {docker.container} on {docker.host}", "restart grafana on docker1"),
    ("{stopped_docker.container}@{stopped_docker.host}", "postgres@docker2"),
    ("{host.name} {host.mac} {down_host.name}", "desktop aa:bb:cc:dd:ee:02 desktop"),
    ("{fullest_storage.storage} on {fullest_storage.node}", "local-lvm on pve1"),
    ("{cluster.name}: {counts.running}/{counts.guests}, {counts.nodes_online} up", "homelab: 16/22, 3 up"),
    ("RESTART {running_vm.name|upper}", "RESTART WEB-01"),
    ("turn on {stopped_guest.name|typo}", "turn on wi11"),
    ("no placeholder here", "no placeholder here"),
])
def test_placeholders_bind_to_the_live_state(text: str, bound: str) -> None:
    assert resolve_placeholders(text, WORLD) == bound


def test_only_unambiguous_names_are_bound() -> None:
    bound = bindings(WORLD)
    assert bound["docker"].name == "grafana", "nginx exists three times and is never chosen"
    assert bound["host"].name == "desktop", "nas is also a storage"


def test_a_placeholder_the_state_cannot_fill_skips_the_scenario() -> None:
    empty = World.from_state({})
    with pytest.raises(Unbound):
        resolve_placeholders("start {stopped_guest.name}", empty)
    with pytest.raises(Unbound):
        resolve_placeholders("{node.9}", WORLD)
    with pytest.raises(ValueError, match="unknown placeholder filter"):
        resolve_placeholders("{node.1|shout}", WORLD)


def test_an_expected_arg_that_is_one_placeholder_keeps_its_type() -> None:
    scenario = Scenario("power", "start {stopped_guest.name}",
                        {"tool": "proxmox.guest_start", "args": {"vmid": "{stopped_guest.vmid}", "n": "x{node.1}"}})
    assert scenario.resolved(WORLD).expect["args"] == {"vmid": 107, "n": "xpve1"}


def test_a_typo_never_spells_another_name() -> None:
    assert typo("nextcloud", WORLD) == "nextloud"
    assert typo("k3s-1", WORLD) == "k3-1"
    assert typo("web", WORLD) == "web", "too short to mangle"


def tool_msg(name: str, status: str = "ok", **args: Any) -> dict[str, Any]:
    return {"type": "tool", "name": name, "args": args, "status": status, "result": None}


def confirm_msg(tool: str, **args: Any) -> dict[str, Any]:
    return {"type": "confirm", "confirmation": {"id": "c1", "expires_at": "t", "tool": tool, **(
        {"args": args} if args else {})}}


def delta(text: str) -> dict[str, Any]:
    return {"type": "delta", "text": text}


START = {"tool": "proxmox.guest_start", "args": {"vmid": 107}}
REBOOT = {"confirm": "proxmox.node_reboot", "args": {"node": "pve1"}}
SCORING = [
    (START, [tool_msg("proxmox.guest_start", vmid=107)], True),
    (START, [tool_msg("proxmox.guest_start", vmid="107", extra=1)], True),
    (START, [tool_msg("proxmox.guest_start", status="error", vmid=107)], True),
    (START, [tool_msg("proxmox.guest_list"), tool_msg("proxmox.guest_start", vmid=107)], True),
    (START, [confirm_msg("proxmox.guest_start")], True),
    (START, [tool_msg("proxmox.guest_start", vmid=108)], False),
    (START, [tool_msg("proxmox.guest_start", vmid=107), tool_msg("proxmox.guest_stop", vmid=108)], False),
    (START, [delta("Starting win11")], False),
    (REBOOT, [confirm_msg("proxmox.node_reboot", node="pve1")], True),
    (REBOOT, [confirm_msg("proxmox.node_reboot")], True),
    (REBOOT, [confirm_msg("proxmox.node_reboot", node="pve2")], False),
    (REBOOT, [confirm_msg("proxmox.node_reboot", node="pve1"), tool_msg("proxmox.node_reboot", node="pve1")], False),
    (REBOOT, [tool_msg("proxmox.node_reboot", node="pve1")], False),
    ({"answer_contains": ["gitlab", "87.5%"]}, [delta("GitLab is busiest:"), delta(" 87.5%")], True),
    ({"answer_contains": ["gitlab"]}, [tool_msg("proxmox.guest_list"), delta("gitlab")], True),
    ({"answer_contains": ["gitlab"]}, [delta("db-01")], False),
    ({"answer_contains": ["gitlab"]}, [delta("gitlab"), tool_msg("proxmox.guest_reboot", vmid=108)], False),
    ({"ask": True}, [delta("Which one? web-01 or web-02")], True),
    ({"ask": True}, [delta("Done.")], False),
    ({"ask": True}, [delta("Which one?"), confirm_msg("proxmox.guest_stop")], False),
    ({"no_action": True}, [delta("OK, I won't.")], True),
    ({"no_action": True}, [tool_msg("network.ping", host="nas")], True),
    ({"no_action": True}, [confirm_msg("proxmox.node_reboot", node="pve1")], False),
]


@pytest.mark.parametrize(("expect", "observed", "passes"), SCORING)
def test_score_reads_the_chat_stream(expect: dict[str, Any], observed: list[dict[str, Any]], passes: bool) -> None:
    assert score(Scenario("x", "say", expect), observed) is passes


def test_the_offline_stream_is_what_the_rules_backend_would_emit() -> None:
    messages = stream(interpret("reboot pve1", WORLD, tools=set(ALL_TOOLS)))
    assert [m["type"] for m in messages] == ["start", "delta", "confirm", "end"]
    assert messages[2]["confirmation"]["tool"] == "proxmox.node_reboot"
    assert [m["type"] for m in stream(interpret("boot win11", WORLD, tools=set(ALL_TOOLS)))] == [
        "start", "delta", "tool", "end"]


def test_the_rules_backend_passes_every_shipped_scenario_on_the_homelab() -> None:
    report = evaluate(SHIPPED, WORLD, set(ALL_TOOLS))
    assert report.skipped == []
    assert report.failures == [], "\n".join(report.lines())
    assert report.scored == len(SHIPPED)


@pytest.mark.parametrize(("nodes", "guests", "seed"), [(4, 12, 1), (6, 60, 3)])
def test_the_rules_backend_passes_every_scenario_the_simulated_cluster_can_bind(nodes: int, guests: int, seed: int
                                                                                ) -> None:
    world = World.from_state(sim_state(nodes, guests, seed))
    report = evaluate(SHIPPED, world, set(ALL_TOOLS))
    assert report.failures == [], "\n".join(report.lines())
    assert report.scored >= 70, "docker and network scenarios are skipped: the simulator has neither"
