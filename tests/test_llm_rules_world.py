"""World.from_state: a typed, frozen snapshot of the hub's state with its names indexed once."""

from __future__ import annotations

import dataclasses

import pytest
from jarvis.plugins.llm_rules import Ref, World
from jarvis.plugins.llm_rules.world import CONTAINER, DOCKER_HOST, GUEST, HOST, NODE, STORAGE, name_keys, stem_of

from tests.fixtures.rules_world import homelab_state

WORLD = World.from_state(homelab_state())


def test_every_entity_kind_is_read_from_its_state_key() -> None:
    assert len(WORLD.guests) == 23 and WORLD.guests[0].vmid == 100
    assert [n.name for n in WORLD.nodes] == ["pve1", "pve2", "pve3", "pve4"]
    assert len(WORLD.storages) == 12
    assert WORLD.docker_hosts == ("docker1", "docker2")
    assert [h.name for h in WORLD.hosts] == ["desktop", "nas"]
    assert WORLD.cluster is not None and WORLD.cluster.quorate is True


def test_payload_fields_become_typed_attributes() -> None:
    gitlab = WORLD.guest(108)
    assert gitlab is not None
    assert (gitlab.name, gitlab.type, gitlab.node, gitlab.status, gitlab.cpu_pct) == ("gitlab", "qemu", "pve1",
                                                                                     "running", 87.5)
    assert gitlab.tags == ("dev",) and gitlab.label == "gitlab (108)"
    pve1 = WORLD.node("PVE1")
    assert pve1 is not None and pve1.online and pve1.load == (4.2, pytest.approx(3.78), pytest.approx(3.36))


def test_the_world_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        WORLD.guests = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        WORLD.guests[0].name = "x"  # type: ignore[misc]


def test_other_keys_and_odd_payloads_are_ignored() -> None:
    world = World.from_state({
        ("bridge", "info"): {"version": 1},
        ("node", "pve1", "availability"): {"state": "online"},
        ("guest", "abc", "state"): {"name": "no-vmid"},
        ("guest", "101", "state"): {"vmid": "101", "name": "web", "tags": "a;b", "cpu_pct": "12.5", "mem_used": True},
        ("guest", "102", "state"): None,
        ("confirm", "c1"): {"tool": "x"},
    })
    [guest] = world.guests
    assert (guest.vmid, guest.tags, guest.cpu_pct, guest.mem_used, guest.status) == (101, ("a", "b"), 12.5, None,
                                                                                     "unknown")
    assert world.nodes == () and world.cluster is None


def test_items_may_be_given_as_pairs() -> None:
    world = World.from_state(list(homelab_state().items()))
    assert world.guests == WORLD.guests


@pytest.mark.parametrize(("spelling", "expected"), [
    ("web-01", {Ref(GUEST, "101")}),
    ("WEB01", {Ref(GUEST, "101")}),
    ("web_01", {Ref(GUEST, "101")}),
    ("web-1", {Ref(GUEST, "101")}),  # zero padding ignored
    ("homeassistant", {Ref(GUEST, "121")}),
    ("pve3", {Ref(NODE, "pve3")}),
    ("nginx", {Ref(GUEST, "105"), Ref(CONTAINER, "docker1/nginx"), Ref(CONTAINER, "docker2/nginx")}),
    ("nas", {Ref(HOST, "nas"), *(Ref(STORAGE, f"pve{n}/nas") for n in range(1, 5))}),
    ("docker2", {Ref(DOCKER_HOST, "docker2")}),
    ("local-lvm", {Ref(STORAGE, f"pve{n}/local-lvm") for n in range(1, 5)}),
    ("nope", set()),
])
def test_lookup_finds_every_thing_a_spelling_names(spelling: str, expected: set[Ref]) -> None:
    assert set(WORLD.lookup(spelling)) == expected


def test_a_stem_names_the_numbered_family() -> None:
    assert WORLD.lookup_stem("web") == (Ref(GUEST, "101"), Ref(GUEST, "102"))
    assert WORLD.lookup_stem("k3s") == (Ref(GUEST, "110"), Ref(GUEST, "111"))
    assert stem_of("web-01") == "web" and stem_of("win11") is None
    assert name_keys("Web-01") == {"web01", "web1"}


@pytest.mark.parametrize(("typo", "spelling"), [
    ("nextclod", "nextcloud"), ("vaultwardn", "vaultwarden"), ("homeasistant", "homeassistant"),
    ("jellyfn", "jellyfin"), ("paperles", "paperless"), ("gitlb", "gitlab"),
])
def test_fuzzy_finds_the_name_a_typo_misspells_first(typo: str, spelling: str) -> None:
    best = WORLD.fuzzy(typo)[0]
    assert best.spelling == spelling and best.score >= 0.78


def test_fuzzy_returns_nothing_for_words_far_from_every_name() -> None:
    assert WORLD.fuzzy("xyzzyplugh") == []
    assert WORLD.fuzzy("ab") == []


def test_node_by_number_needs_a_unique_trailing_number() -> None:
    node = WORLD.node_by_number(2)
    assert node is not None and node.name == "pve2"
    assert WORLD.node_by_number(9) is None


def test_ssh_hosts_are_indexed_as_machines() -> None:
    world = World.from_state(homelab_state(), ssh_hosts=["backup-box"])
    assert world.lookup("backup-box") == (Ref("ssh_host", "backup-box"),)
    assert "backup-box" in world.ssh_targets() and "pve1" in world.ssh_targets()


def test_labels_name_things_as_a_person_would() -> None:
    assert WORLD.label(Ref(GUEST, "105")) == "nginx (105)"
    assert WORLD.label(Ref(CONTAINER, "docker1/nginx")) == "nginx on docker1"
    assert WORLD.label(Ref(STORAGE, "pve1/local")) == "local on pve1"
    assert WORLD.label(Ref(NODE, "pve1")) == "pve1"
