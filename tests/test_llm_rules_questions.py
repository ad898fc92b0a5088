"""Questions are answered from the World alone, plainly, with the facts behind the answer."""

from __future__ import annotations

import pytest
from jarvis.plugins.llm_rules import Answer, AskBack, Unknown, World, interpret

from tests.fixtures.rules_world import ALL_TOOLS, calls_of, homelab_world

WORLD = homelab_world()


def answer(text: str, world: World = WORLD) -> Answer:
    intent = interpret(text, world, tools=set(ALL_TOOLS))
    assert isinstance(intent, Answer), f"{text!r} gave {intent!r}"
    return intent


# gitlab (108) has the highest CPU, db-01 (104) the most memory; pve4 is offline; local-lvm on pve1 is 91% full.
QUESTIONS = [
    ("what's using the most cpu", ["gitlab (108)", "87.5%"]),
    ("what is hogging the cpu?", ["gitlab"]),
    ("busiest guest", ["gitlab"]),
    ("which vm uses the most ram", ["db-01 (104)", "14.0 GiB"]),
    ("which guest is eating the most memory?", ["db-01"]),
    ("who's hogging memory on pve1", ["db-01"]),
    ("top 5 guests by memory", ["db-01", "gitlab", "nextcloud", "k3s-1", "k3s-2"]),
    ("which container uses the most cpu", ["jellyfin (122)"]),
    ("what uses the least cpu", ["wireguard (115)"]),
    ("what is the busiest node", ["pve1 is the most loaded node"]),
    ("least busy node", ["pve3 is the least loaded"]),
    ("how many guests are running", ["16 of 22 guests are running"]),
    ("how many vms are stopped", ["1 of 12 VMs is stopped"]),
    ("how many VMs do we have?", ["There are 12 VMs"]),
    ("how many containers", ["10 LXC containers", "7 of 8 Docker containers"]),
    ("how many docker containers are running", ["7 of 8 Docker containers are running"]),
    ("how many nodes are online", ["3 of 4 nodes are online"]),
    ("are all nodes up?", ["3 of 4 nodes are online"]),
    ("is web-01 up", ["Yes", "running on pve1"]),
    ("is web01 running", ["Yes", "web-01 (101)"]),
    ("is nxtcloud running", ["Yes", "nextcloud (103)"]),
    ("is win11 running?", ["No", "stopped"]),
    ("is pve4 up", ["No", "offline"]),
    ("is pve4 down?", ["Yes", "offline"]),
    ("is pve2 on?", ["Yes", "online"]),
    ("is pve1 shut down?", ["No", "online"]),
    ("is the nas up", ["Yes", "reachable"]),
    ("where is nextcloud", ["nextcloud (103) is a VM on pve2"]),
    ("which node is gitlab on", ["on pve1"]),
    ("where does vaultwarden live", ["vaultwarden (106) is a container on pve3"]),
    ("where is portainer", ["docker1"]),
    ("uptime of pve1", ["pve1 has been up for 12 days"]),
    ("how long has db-01 been up", ["db-01 (104) has been up for 4 days 2 hours"]),
    ("whats the uptime of nextclod", ["nextcloud (103) has been up"]),
    ("how much memory does db-01 use", ["14.0 GiB of 16.0 GiB (88%)"]),
    ("how much ram is free on pve1", ["48.0 GiB of 128.0 GiB"]),
    ("cpu usage of pve3", ["9.0% CPU of 8 cores"]),
    ("how much disk is vaultwarden using", ["3.0 GiB of 32.0 GiB"]),
    ("what's the ip of pve2", ["192.168.1.12"]),
    ("ip of nas", ["192.168.1.20", "aa:bb:cc:dd:ee:01"]),
    ("what version of proxmox is pve1 running", ["9.0.11"]),
    ("node temperatures", ["pve1: 58°C", "pve4: offline"]),
    ("how hot are the nodes", ["pve2: 47°C"]),
    ("is pve1 hot?", ["58°C"]),
    ("load on pve2", ["1.10, 0.99, 0.88"]),
    ("what's the load on the nodes", ["pve1: load 4.20"]),
    ("which storage is fullest", ["local-lvm on pve1 at 91.0%", "Above 85%"]),
    ("storage usage", ["local-lvm on pve1"]),
    ("disk space", ["fullest storage"]),
    ("how full is local-lvm on pve1", ["455.0 GiB of 500.0 GiB (91%)"]),
    ("check disk space on pve1", ["pve1 root disk", "local-lvm on pve1"]),
    ("is the cluster healthy", ["node pve4 is offline", "redis on docker2 is unhealthy"]),
    ("anything wrong?", ["Needs attention", "host desktop is not reachable"]),
    ("is everything ok?", ["Needs attention"]),
    ("do we have quorum", ["Yes", "quorate (3 of 4 nodes online)"]),
    ("is the cluster quorate?", ["quorate"]),
    ("cluster status", ["homelab: quorate, 3 of 4 nodes online, 16 of 22 guests running"]),
    ("how's the cluster doing", ["3 of 4 nodes online"]),
    ("list stopped guests", ["3 stopped guests", "win11 (107)", "unifi (112)", "paperless (116)"]),
    ("which vms are running on pve2", ["3 running VMs on pve2", "web-02 (102)", "nextcloud (103)", "k3s-1 (110)"]),
    ("what's running on pve3", ["vaultwarden", "jellyfin"]),
    ("any vms down?", ["1 stopped VM: win11 (107)"]),
    ("what's down", ["node pve4", "win11 (107)", "host desktop", "postgres on docker2"]),
    ("is anything down?", ["Down or stopped"]),
    ("which guests are tagged prod", ["4 guests tagged prod", "db-01 (104)"]),
    ("show prod vms", ["4 VMs tagged prod"]),
    ("show templates", ["1 template: debian-12-template (120)"]),
    ("list nodes", ["pve1 (online)", "pve4 (offline)"]),
    ("list hosts", ["desktop (not reachable)", "nas (reachable)"]),
    ("which containers are on docker1", ["grafana", "nginx (running, healthy)", "portainer", "traefik"]),
    ("what's on docker2", ["mosquitto", "redis (running, unhealthy)"]),
    ("list docker containers", ["on docker1", "on docker2"]),
    ("unhealthy containers", ["redis (running, unhealthy)"]),
    ("show all running containers", ["pihole (100)", "Docker containers"]),
    ("is redis healthy on docker2", ["unhealthy", "restarted 12 times"]),
    ("why is redis unhealthy", ["restarted 12 times"]),
    ("how many restarts has redis had", ["redis on docker2 has restarted 12 times"]),
    ("which guests live on pve1", ["7 guests on pve1", "kuma (117)"]),
    ("vms on pve3", ["3 VMs on pve3", "win11 (107) (stopped)"]),
    ("what is running where", ["16 running guests", "gitlab (108) on pve1"]),
    ("list guests by memory", ["db-01 (104) on pve1 is using the most memory", "k3s-2"]),
    ("what's the biggest vm", ["db-01 (104) on pve1 is the biggest: 16.0 GiB RAM, 4 cores"]),
    ("what is the smallest container", ["pihole (100) on pve1 is the smallest: 512.0 MiB RAM, 1 core,"]),
    ("total memory", ["memory 70.0 GiB of 288.0 GiB"]),
    ("what image is nginx on docker1 running", ["nginx on docker1 runs the image nginx:1.27"]),
    ("which node has the most free memory", ["pve1 has the most free memory: 80.0 GiB"]),
    ("where should I put a new vm", ["pve3 has the most headroom"]),
    ("is pve3 overheating", ["pve3 is at 44°C"]),
    ("free memory on pve3", ["24.0 GiB of 64.0 GiB"]),
    ("uptime on pve1", ["pve1 has been up for 12 days"]),
    ("why did nginx restart", ["nginx (105)", "nginx on docker1", "nginx on docker2"]),
    ("when did pve1 last reboot", ["up 12 days"]),
    ("what is win11", ["win11 (107) is a VM on pve3; it is stopped"]),
    ("101", ["web-01 (101) is a VM on pve1", "Tags: prod"]),
    ("nextcloud?", ["nextcloud (103)"]),
    ("show me pve3", ["pve3 is online"]),
    ("how's pve2 doing?", ["pve2 is online"]),
    ("help", ["start vm 101"]),
    ("what can you do", ["For example"]),
    ("thanks", ["You're welcome"]),
    ("yes", ["say the whole request"]),
    ("no!", ["say the whole request"]),
    ("hello", ["Hello!"]),
]


@pytest.mark.parametrize(("text", "contains"), QUESTIONS, ids=[q[0] for q in QUESTIONS])
def test_a_question_is_answered_from_state(text: str, contains: list[str]) -> None:
    said = answer(text).text
    for piece in contains:
        assert piece in said


def test_the_top_cpu_answer_names_the_busiest_guest_first_and_carries_its_facts() -> None:
    reply = answer("what's using the most cpu")
    assert reply.text.startswith("gitlab (108) on pve1 is using the most CPU")
    assert [row["vmid"] for row in reply.facts["top"]] == [108, 104, 103]


def test_counts_carry_their_numbers_as_facts() -> None:
    assert answer("how many guests are running").facts == {"total": 22, "running": 16, "stopped": 3, "other": 3}


@pytest.mark.parametrize("text", ["is nxcd up", "status of vltwrdn"])
def test_a_question_about_a_doubtful_name_asks_which_was_meant(text: str) -> None:
    intent = interpret(text, WORLD, tools=set(ALL_TOOLS))
    assert isinstance(intent, AskBack), intent


@pytest.mark.parametrize("text", ["", "   ", "?", "asdfgh", "it", "the"])
def test_nothing_understood_is_unknown_with_example_phrasings(text: str) -> None:
    intent = interpret(text, WORLD, tools=set(ALL_TOOLS))
    assert isinstance(intent, Unknown), intent
    assert "start vm 101" in intent.text


def test_with_an_empty_world_questions_go_to_the_live_read_tools() -> None:
    empty = World.from_state({})
    assert calls_of(interpret("how many guests are running", empty, tools=set(ALL_TOOLS))) == [
        ("proxmox.guest_list", {})]
    assert calls_of(interpret("cluster status", empty, tools=set(ALL_TOOLS))) == [("proxmox.cluster_status", {})]
    assert calls_of(interpret("list docker containers", empty, tools=set(ALL_TOOLS))) == [("docker.list", {})]
    assert calls_of(interpret("storage usage", empty, tools=set(ALL_TOOLS))) == [("proxmox.storage_list", {})]


def test_help_lists_only_the_tool_families_present() -> None:
    reply = interpret("help", WORLD, tools={"proxmox.guest_start", "network.ping"})
    assert isinstance(reply, Answer)
    assert reply.facts["families"] == ["network", "proxmox"]
