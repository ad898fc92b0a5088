"""No-op safety: negations, hypotheticals, schedules and mass actions never become tool calls."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jarvis.plugins.llm_rules import DANGEROUS, Answer, AskBack, ToolRequest, Unknown, interpret
from jarvis.plugins.llm_rules.parser import decide

from tests.fixtures.rules_world import ALL_TOOLS, calls_of, homelab_world

WORLD = homelab_world()


def ask(text: str) -> object:
    return interpret(text, WORLD, tools=set(ALL_TOOLS))


NEGATIONS = [
    "don't reboot pve1",
    "dont reboot pve1",
    "do not stop gitlab",
    "please don't shut down 104",
    "never reboot pve1",
    "no, don't restart nginx on docker1",
    "do NOT power off pve3",
    "don't you dare reboot pve2",
    "cancel the reboot of pve1",
    "never mind, don't restart web-01",
    "hold off on rebooting pve1",
    "no need to restart web-01",
]


@pytest.mark.parametrize("text", NEGATIONS)
def test_a_negated_request_is_acknowledged_and_nothing_is_called(text: str) -> None:
    intent = ask(text)
    assert isinstance(intent, Answer), intent
    assert intent.facts.get("declined") is True
    assert "Nothing was done" in intent.text


HYPOTHETICALS = [
    ("what happens if i reboot pve1", "7 running guests that go down with it"),
    ("what would happen if I rebooted pve1?", "go down with it"),
    ("should i stop gitlab?", "pulling the plug"),
    ("can i restart pve2", "5 running guests"),
    ("how do i restart nginx on docker1", "Restart the Docker container nginx on docker1"),
    ("is it safe to reboot pve3", "confirm first"),
    ("what if I shut down db-01", "Shut down the VM db-01 (104)"),
]


@pytest.mark.parametrize(("text", "said"), HYPOTHETICALS)
def test_a_hypothetical_explains_what_would_happen_without_doing_it(text: str, said: str) -> None:
    intent = ask(text)
    assert isinstance(intent, Answer), intent
    assert intent.facts.get("hypothetical") is True
    assert said in intent.text


MASS = [
    ("stop everything", 26),
    ("reboot all nodes", 3),
    ("shut down all vms on pve1", 4),
    ("restart everything on pve3", 4),
    ("start all the stopped vms", 1),
    ("reboot the whole cluster", 26),
    ("restart all containers", 14),
    ("stop 101 102 103 104 105 106", 6),
    ("kill every guest", 16),
]


@pytest.mark.parametrize(("text", "matches"), MASS)
def test_mass_actions_are_refused_and_what_they_would_touch_is_listed(text: str, matches: int) -> None:
    intent = ask(text)
    assert isinstance(intent, Answer), intent
    assert intent.facts["refused"] == "mass_action"
    assert len(intent.facts["matches"]) == matches


def test_a_small_refused_batch_offers_the_exact_request_to_say() -> None:
    intent = ask("start all the stopped vms")
    assert isinstance(intent, Answer)
    assert "say 'start 107'" in intent.text


@pytest.mark.parametrize("text", [
    "reboot pve1 in 5 minutes", "shutdown everything tonight", "restart nginx at 3am", "reboot pve2 tomorrow",
    "run apt upgrade on pve1 later",
])
def test_scheduled_requests_are_refused_not_run_now(text: str) -> None:
    intent = ask(text)
    assert isinstance(intent, Answer), intent
    assert intent.facts.get("refused") in ("schedule", "mass_action")


@pytest.mark.parametrize("text", [
    "is pve1 rebooting?", "why did nginx restart", "when was pve1 rebooted", "did web-01 restart?",
    "can you tell me why nginx on docker1 restarted", "has gitlab been restarted",
])
def test_questions_about_past_or_current_actions_do_not_act(text: str) -> None:
    assert not isinstance(ask(text), ToolRequest)


def test_reboot_of_a_node_is_requested_once_and_nothing_else() -> None:
    """The parser never decides safety: the dangerous call is simply requested; the hub asks a human."""
    assert calls_of(ask("reboot pve1")) == [("proxmox.node_reboot", {"node": "pve1"})]
    assert "proxmox.node_reboot" in DANGEROUS


def test_a_question_chained_with_an_action_is_answered_and_does_not_act() -> None:
    assert isinstance(ask("what is running on pve2 and then reboot it"), Answer)


WORDS = st.sampled_from(
    "start stop reboot restart shut down wake kill please don't not all every the vm ct container node docker1 "
    "pve1 pve4 nginx web web-01 101 107 999 on in and then ? , ! logs ping updates run uptime status how many "
    "what is where why later tonight nas desktop 😀 gitlab force gracefully both".split()
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(WORDS, max_size=9), st.sets(st.sampled_from(sorted(ALL_TOOLS))))
def test_any_word_salad_yields_an_intent_and_only_proposes_available_tools(words: list[str], tools: set[str]) -> None:
    intent = interpret(" ".join(words), WORLD, tools=tools)
    assert isinstance(intent, ToolRequest | Answer | AskBack | Unknown)
    if isinstance(intent, ToolRequest):
        assert intent.calls and all(call.tool in tools for call in intent.calls)
        assert len(intent.calls) <= 8


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    assert isinstance(interpret(text, WORLD, tools=set(ALL_TOOLS)), ToolRequest | Answer | AskBack | Unknown)


def test_decide_is_exposed_for_the_backend_glue() -> None:
    assert callable(decide)
