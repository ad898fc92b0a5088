"""The fast tier's typed decoding of /cluster/resources gives exactly what the tolerant path gives."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from jarvis.plugins.proxmox.entities import ClusterModel, all_entities, guest_tally
from jarvis.plugins.proxmox.guests import GuestTable, count_row
from jarvis.plugins.proxmox.models import parse_cluster_resources, parse_cluster_status
from jarvis.plugins.proxmox.resources import ResourceItem, decode_resources

from tests.test_proxmox_models import load

RESOURCE_FIXTURES = ["cluster_resources.json", "ansible_cluster_resources_type_vm.json"]


def body_of(data: list[dict[str, Any]]) -> bytes:
    """Return a PVE answer's body for ``data``."""
    return orjson.dumps({"data": data})


def as_json(value: Any) -> bytes:
    """Encode as published: 0 and False, or 1 and 1.0, must not pass for each other."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=repr)


def both_paths(data: list[dict[str, Any]], previous: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """Parse ``data`` typed and tolerantly (each reusing its own previous parse)."""
    typed = decode_resources(body_of(data))
    assert typed and all(isinstance(item, ResourceItem) for item in typed)
    before_typed, before_plain = previous or (None, None)
    return (parse_cluster_resources(typed, before_typed.guests if before_typed else None),
            parse_cluster_resources(json.loads(json.dumps(data)),
                                    before_plain.guests if before_plain else None))


@pytest.mark.parametrize("fixture", RESOURCE_FIXTURES)
def test_typed_and_tolerant_parsing_agree_on_every_fixture(fixture: str) -> None:
    typed, plain = both_paths(load(fixture))
    assert as_json(typed.guests.rows) == as_json(plain.guests.rows)
    assert typed.nodes == plain.nodes
    assert typed.storage == plain.storage
    status = parse_cluster_status(load("cluster_status.json"))
    typed_entities = {"/".join(e.key): e.data for e in all_entities(ClusterModel(resources=typed, status=status))}
    plain_entities = {"/".join(e.key): e.data for e in all_entities(ClusterModel(resources=plain, status=status))}
    assert as_json(typed_entities) == as_json(plain_entities)


def test_an_unusual_shape_takes_the_tolerant_path_with_the_same_result() -> None:
    data = load("cluster_resources.json")
    odd = copy.deepcopy(data)
    for item in odd:
        if item.get("type") == "qemu":
            item["vmid"] = str(item["vmid"])  # strings where PVE usually sends numbers
            item["mem"] = str(item.get("mem", 0))
    decoded = decode_resources(body_of(odd))
    assert decoded and all(isinstance(item, dict) for item in decoded)
    assert as_json(parse_cluster_resources(decoded).guests.rows) == as_json(parse_cluster_resources(data).guests.rows)


def test_a_fractional_container_cpu_limit_stays_on_the_typed_path() -> None:
    data = [{"id": "lxc/300", "type": "lxc", "vmid": 300, "node": "n1", "status": "running",
             "cpu": 0, "maxcpu": 1.5, "mem": 1, "maxmem": 2, "name": "ct"}]
    typed, plain = both_paths(data)
    assert as_json(typed.guests.rows[300]) == as_json(plain.guests.rows[300])
    assert typed.guests.rows[300]["cpu_cores"] == 1 and typed.guests.rows[300]["cpu_pct"] == 0.0


def test_an_unchanged_guest_keeps_its_row_object_and_a_changed_one_gets_a_new_row() -> None:
    data = load("cluster_resources.json")
    first = parse_cluster_resources(decode_resources(body_of(data)))
    later = copy.deepcopy(data)
    moved = next(item for item in later if item.get("vmid") == 100)
    moved["cpu"] = 0.5
    second = parse_cluster_resources(decode_resources(body_of(later)), first.guests)
    assert second.guests.rows[101] is first.guests.rows[101]
    assert second.guests.rows[100] is not first.guests.rows[100]
    assert second.guests.rows[100]["cpu_pct"] == 50.0
    assert second.guests.rows[102]["tags"] is first.guests.rows[102]["tags"]


def test_switching_between_paths_from_poll_to_poll_changes_no_row() -> None:
    data = load("cluster_resources.json")
    typed = parse_cluster_resources(decode_resources(body_of(data)))
    plain = parse_cluster_resources(json.loads(json.dumps(data)), typed.guests)
    typed_again = parse_cluster_resources(decode_resources(body_of(data)), plain.guests)
    assert as_json(plain.guests.rows) == as_json(typed.guests.rows) == as_json(typed_again.guests.rows)


def tally_from_scratch(table: GuestTable) -> dict[str, list[int]]:
    """Count the table's rows one by one."""
    tally: dict[str, list[int]] = {}
    for row in table.rows.values():
        count_row(tally, row)
    return tally


def test_the_guest_tally_counted_while_parsing_matches_a_recount() -> None:
    parsed = parse_cluster_resources(decode_resources(body_of(load("cluster_resources.json"))))
    assert parsed.guests.tally() == tally_from_scratch(parsed.guests)
    model = ClusterModel(resources=parsed)
    counts = guest_tally(model).values()
    assert (sum(c[0] for c in counts), sum(c[1] for c in counts), sum(c[2] for c in counts)) == (1, 3, 1)


def test_the_tally_follows_an_overridden_guest_and_counts_a_duplicate_once() -> None:
    data = load("cluster_resources.json")
    parsed = parse_cluster_resources(decode_resources(body_of(data + [d for d in data if d.get("vmid") == 100])))
    assert parsed.guests.tally() == tally_from_scratch(parsed.guests)
    parsed.guests[100] = {**parsed.guests[100], "status": "stopped", "node": "node9"}
    assert parsed.guests.tally() == tally_from_scratch(parsed.guests)
    assert parsed.guests.tally()["node9"][1] == 1
