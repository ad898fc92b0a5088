"""The rules parser turns power requests, however they are phrased, into the right Proxmox/Docker calls."""

from __future__ import annotations

import pytest
from jarvis.plugins.llm_rules import Answer, AskBack, ToolRequest, interpret

from tests.fixtures.rules_world import ALL_TOOLS, NO_DOCKER, calls_of, homelab_world

WORLD = homelab_world()


def ask(text: str, tools: frozenset[str] = ALL_TOOLS) -> object:
    return interpret(text, WORLD, tools=set(tools))


def start(vmid: int) -> list[tuple[str, dict[str, object]]]:
    return [("proxmox.guest_start", {"vmid": vmid})]


def guest(tool: str, vmid: int) -> list[tuple[str, dict[str, object]]]:
    return [(f"proxmox.guest_{tool}", {"vmid": vmid})]


def node(tool: str, name: str) -> list[tuple[str, dict[str, object]]]:
    return [(f"proxmox.node_{tool}", {"node": name})]


def docker(tool: str, host: str, container: str) -> list[tuple[str, dict[str, object]]]:
    return [(f"docker.{tool}", {"host": host, "container": container})]


# win11 (107, VM) and unifi (112, LXC) are stopped; adguard (114) is paused; pve4 is offline.
PHRASINGS = [
    # start and its synonyms, by name, by id, with qualifiers and filler
    ("start vm 107", start(107)),
    ("please boot win11", start(107)),
    ("boot up win11", start(107)),
    ("power on win11", start(107)),
    ("turn on the win11 vm", start(107)),
    ("turn the win11 vm on", start(107)),
    ("switch on 107", start(107)),
    ("spin up unifi", start(112)),
    ("fire up 112", start(112)),
    ("launch unifi", start(112)),
    ("bring up unifi", start(112)),
    ("hey jarvis, bring win11 back online", start(107)),
    ("get win11 running", start(107)),
    ("please make sure win11 is running", start(107)),
    ("start ct 112", start(112)),
    ("start lxc/112", start(112)),
    ("start container 112", start(112)),
    ("start guest #107", start(107)),
    ("start vm-107", start(107)),
    ("Start VM 107.", start(107)),
    ("🙂 start win11 🚀", start(107)),
    ("could you please start win11? thanks!", start(107)),
    ("would you be able to start win11", start(107)),
    ("yo start 107 asap", start(107)),
    ("107 start", start(107)),
    ("run win11", start(107)),
    ("start win 11", start(107)),
    ("start WIN11", start(107)),
    ("start unifi up", start(112)),
    # typos in the verb or the name
    ("strat win11", start(107)),
    ("start unfi", start(112)),
    ("start papperless", start(116)),
    ("start contianer 112", start(112)),
    # a paused guest is resumed, whatever the verb
    ("start adguard", guest("resume", 114)),
    ("resume adguard", guest("resume", 114)),
    ("unpause 114", guest("resume", 114)),
    ("unfreeze adguard", guest("resume", 114)),
    # graceful shutdown
    ("shut down db-01", guest("shutdown", 104)),
    ("shutdown 104", guest("shutdown", 104)),
    ("shutdwon 104", guest("shutdown", 104)),
    ("turn off db-01", guest("shutdown", 104)),
    ("switch db-01 off please", guest("shutdown", 104)),
    ("shut web-01 down", guest("shutdown", 101)),
    ("gracefully stop db-01", guest("shutdown", 104)),
    ("stop db-01 gracefully", guest("shutdown", 104)),
    ("power down nextcloud", guest("shutdown", 103)),
    ("make sure db-01 is off", guest("shutdown", 104)),
    # hard stop
    ("stop 104", guest("stop", 104)),
    ("kill 104", guest("stop", 104)),
    ("halt gitlab", guest("stop", 108)),
    ("pull the plug on gitlab", guest("stop", 108)),
    ("force off gitlab", guest("stop", 108)),
    ("force shutdown 104", guest("stop", 104)),
    ("power off db-01", guest("stop", 104)),
    ("stop vaultwardn", guest("stop", 106)),
    # reboot
    ("restart web-01", guest("reboot", 101)),
    ("reboot 101", guest("reboot", 101)),
    ("restrat web-01", guest("reboot", 101)),
    ("bounce web-02", guest("reboot", 102)),
    ("cycle web-02", guest("reboot", 102)),
    ("give web-02 a kick", guest("reboot", 102)),
    ("I need gitlab restarted", guest("reboot", 108)),
    ("gitlab needs a reboot", guest("reboot", 108)),
    ("REBOOT #101!!!", guest("reboot", 101)),
    ("restart web 01", guest("reboot", 101)),
    ("restart web-1", guest("reboot", 101)),
    ("restart ct nginx", guest("reboot", 105)),
    ("restart the nginx lxc", guest("reboot", 105)),
    ("restart container nginx on pve2", guest("reboot", 105)),
    ("restart nginx (the lxc)", guest("reboot", 105)),
    # hard reset, suspend
    ("hard reset 101", guest("reset", 101)),
    ("reset vm gitlab", guest("reset", 108)),
    ("force reboot gitlab", guest("reset", 108)),
    ("suspend 103", guest("suspend", 103)),
    ("pause nextcloud", guest("suspend", 103)),
    ("freeze ct 105", guest("suspend", 105)),
    # nodes
    ("reboot pve1", node("reboot", "pve1")),
    ("rebot pve1", node("reboot", "pve1")),
    ("bounce pve2", node("reboot", "pve2")),
    ("reboot node 2", node("reboot", "pve2")),
    ("restart node1", node("reboot", "pve1")),
    ("reboot pve 1", node("reboot", "pve1")),
    ("reboot PVE-1", node("reboot", "pve1")),
    ("REBOOT PVE1!!!", node("reboot", "pve1")),
    ("can you reboot pve1", node("reboot", "pve1")),
    ("shut down pve2", node("shutdown", "pve2")),
    ("power off pve3", node("shutdown", "pve3")),
    ("take pve2 offline", node("shutdown", "pve2")),
    ("halt pve3", node("shutdown", "pve3")),
    ("wake pve4", node("wake", "pve4")),
    ("wake node 4", node("wake", "pve4")),
    ("power pve4 on", node("wake", "pve4")),
    ("boot pve4", node("wake", "pve4")),
    ("wake on lan pve4", node("wake", "pve4")),
    # docker containers
    ("restart nginx on docker1", docker("restart", "docker1", "nginx")),
    ("nginx on docker1 restart", docker("restart", "docker1", "nginx")),
    ("docker1 nginx restart", docker("restart", "docker1", "nginx")),
    ("restart the nginx container on docker 1", docker("restart", "docker1", "nginx")),
    ("give nginx on docker1 a kick", docker("restart", "docker1", "nginx")),
    ("restart portainer", docker("restart", "docker1", "portainer")),
    ("restart traefk", docker("restart", "docker1", "traefik")),
    ("stop the nginx container on docker2", docker("stop", "docker2", "nginx")),
    ("kill redis", docker("stop", "docker2", "redis")),
    ("start postgres", docker("start", "docker2", "postgres")),
    ("start postgres on docker2", docker("start", "docker2", "postgres")),
    # several targets, several clauses
    ("restart web-01 and web-02", guest("reboot", 101) + guest("reboot", 102)),
    ("start 107, 112 and 116", start(107) + start(112) + start(116)),
    ("start 107 112", start(107) + start(112)),
    ("restart both web servers", guest("reboot", 101) + guest("reboot", 102)),
    ("start 107 then reboot 101", start(107) + guest("reboot", 101)),
    ("reboot pve1 pls, then wake pve4", node("reboot", "pve1") + node("wake", "pve4")),
    ("reboot pve1 and pve2", node("reboot", "pve1") + node("reboot", "pve2")),
    ("reboot 101 and then check its status", guest("reboot", 101) + guest("status", 101)),
    ("stop ct 105 and vm 108", guest("stop", 105) + guest("stop", 108)),
    # a tag names a guest when it is the only one carrying it
    ("stop the media server", guest("stop", 122)),
]


@pytest.mark.parametrize(("text", "expected"), PHRASINGS, ids=[p[0] for p in PHRASINGS])
def test_a_power_request_becomes_these_calls(text: str, expected: list[tuple[str, dict[str, object]]]) -> None:
    assert calls_of(ask(text)) == expected


def test_the_phrasing_table_is_broad() -> None:
    assert len({text for text, _ in PHRASINGS}) >= 100


def test_a_request_says_what_it_will_do_in_plain_words() -> None:
    intent = ask("please boot win11")
    assert isinstance(intent, ToolRequest)
    assert intent.summary == "Start the VM win11 (107) on pve3."
    assert (intent.tool, dict(intent.args)) == ("proxmox.guest_start", {"vmid": 107})


@pytest.mark.parametrize(("text", "said"), [
    ("start web-01", "already running"),
    ("start 101 and 102", "web-02 (102) is already running"),
    ("stop win11", "already stopped"),
    ("shut down unifi", "already stopped"),
    ("wake pve2", "pve2 is already online"),
    ("reboot pve4", "pve4 is offline already"),
    ("start debian-12-template", "template"),
    ("start nginx on docker1", "already running"),
    ("stop postgres on docker2", "already stopped"),
    ("wake nas", "already up"),
])
def test_a_request_the_state_makes_pointless_is_answered_without_a_call(text: str, said: str) -> None:
    intent = ask(text)
    assert isinstance(intent, Answer), intent
    assert said in intent.text


@pytest.mark.parametrize(("text", "offered"), [
    ("reboot win11", ("start 107",)),  # stopped: start it instead?
    ("reset nginx on pve2", ("reboot 105",)),  # containers cannot be hard-reset
    ("reset 105", ("reboot 105",)),
    ("start ci-runner", ("wake pve4",)),  # its node is offline
])
def test_a_request_the_state_contradicts_is_asked_back_with_the_sensible_alternative(text: str, offered: tuple[str, ...]
                                                                                     ) -> None:
    intent = ask(text)
    assert isinstance(intent, AskBack), intent
    assert intent.options == offered


def test_restart_nginx_asks_between_the_lxc_and_both_docker_containers() -> None:
    intent = ask("restart nginx")
    assert isinstance(intent, AskBack)
    assert intent.options == ("restart 105", "restart nginx on docker1", "restart nginx on docker2")
    assert "?" in intent.text


def test_without_the_docker_plugin_restart_nginx_means_the_lxc() -> None:
    assert calls_of(ask("restart nginx", NO_DOCKER)) == guest("reboot", 105)


def test_without_the_docker_plugin_a_docker_only_container_is_explained() -> None:
    intent = ask("restart portainer", NO_DOCKER)
    assert isinstance(intent, Answer)
    assert "Docker tools are not available" in intent.text


def test_only_tools_that_exist_are_proposed() -> None:
    tools = {"proxmox.guest_start"}
    assert calls_of(interpret("boot win11", WORLD, tools=tools)) == start(107)
    refused = interpret("reboot pve1", WORLD, tools=tools)
    assert not isinstance(refused, ToolRequest)
    assert "Proxmox tools are not available" in refused.text  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "options"), [
    ("start the vm", ("start 107",)),
    ("start a container on pve2", ("start 112",)),
    ("stop web", ("stop 101", "stop 102")),
    ("start the k3s", ("start 110", "start 111")),
    ("restart the dns container", ("restart 100", "restart 114")),
    ("start 999", ("start 122", "start 121", "start 120")),
    ("plz start windows", ("start 107",)),
])
def test_an_incomplete_or_ambiguous_request_asks_back_with_ready_to_say_options(text: str, options: tuple[str, ...]
                                                                                ) -> None:
    intent = ask(text)
    assert isinstance(intent, AskBack), intent
    assert intent.options == options


@pytest.mark.parametrize(("text", "options"), [
    ("restart redis on docker1", ("restart redis on docker2",)),
    ("start web-01 on pve2", ("start 101",)),
    ("restart nginx on pve1", ("restart 105", "restart nginx on docker1", "restart nginx on docker2")),
])
def test_a_thing_said_to_be_where_it_is_not_is_asked_about_not_acted_on(text: str, options: tuple[str, ...]) -> None:
    intent = ask(text)
    assert isinstance(intent, AskBack), intent
    assert intent.question.startswith("There is no")
    assert intent.options == options


@pytest.mark.parametrize(("text", "verb"), [
    ("migrate 101 to pve2", "migrate"), ("delete vm 101", "delete"), ("destroy 107", "delete"),
    ("create a new vm", "create"), ("snapshot 101", "snapshot"), ("backup 101", "back up"), ("clone 101", "clone"),
    ("resize disk of 101", "resize"), ("ssh to pve1", "open a shell on"), ("open a console to 101", "open a shell on"),
    ("should I delete 101", "delete"),
])
def test_verbs_no_tool_serves_are_refused_with_what_can_be_done(text: str, verb: str) -> None:
    intent = ask(text)
    assert isinstance(intent, Answer), intent
    assert intent.facts == {"refused": "unsupported", "verb": verb}
    assert "I can start, stop" in intent.text


@pytest.mark.parametrize("text", ["reboot", "stop", "restart it", "start foo", "shut down the thing"])
def test_a_verb_without_a_known_target_asks_which(text: str) -> None:
    intent = ask(text)
    assert isinstance(intent, AskBack), intent
    assert intent.options, "it offers things to pick from"


def test_a_weak_fuzzy_match_is_offered_not_acted_on() -> None:
    intent = ask("stop vltwrdn")
    assert isinstance(intent, AskBack)
    assert intent.options == ("stop 106",)


def test_a_wrong_qualifier_is_pointed_out() -> None:
    intent = ask("start vm 112")
    assert isinstance(intent, AskBack)
    assert "not a VM" in intent.question
    assert intent.options == ("start 112",)
