"""The plugins.proxmox config block and the command topics, validated with clear errors."""

from __future__ import annotations

import pytest
from jarvis.core import ToolError
from jarvis.core.config import ConfigError, validate_plugin_block
from jarvis.plugins.proxmox.client import Endpoint, normalize_fingerprint
from jarvis.plugins.proxmox.commands import guest_action, guest_set, node_action
from jarvis.plugins.proxmox.config import ProxmoxConfig
from pydantic import ValidationError

FP = ":".join(["AB"] * 32)


def test_empty_block_is_valid_and_idle() -> None:
    config = ProxmoxConfig()
    assert config.endpoints == [] and config.verify_ssl is True
    assert (config.intervals.fast_s, config.intervals.node_s, config.intervals.storage_s) == (
        10.0, 30.0, 300.0)


def test_full_block() -> None:
    config = ProxmoxConfig.model_validate({
        "endpoints": ["pve1", "pve2:8007", "https://[::1]:8006/"],
        "token_id": "root@pam!jarvis", "token_secret": "x" * 36,
        "fingerprint": FP, "intervals": {"fast_s": 5},
    })
    assert config.fingerprint == [FP]
    assert "x" * 36 not in repr(config)  # the secret stays hidden
    assert [Endpoint.parse(e) for e in config.endpoints] == [
        Endpoint("pve1", 8006), Endpoint("pve2", 8007), Endpoint("::1", 8006)]


@pytest.mark.parametrize(("block", "expected"), [
    ({"endpoints": ["pve1"]}, "token_id and token_secret are required"),
    ({"token_id": "root-pam-jarvis"}, "user@realm!tokenname"),
    ({"endpoints": ["http://pve1"], "token_id": "a@b!c", "token_secret": "s"}, "https only"),
    ({"endpoints": ["pve1:99999"], "token_id": "a@b!c", "token_secret": "s"}, "invalid port"),
    ({"fingerprint": "abc"}, "not a SHA-256 fingerprint"),
    ({"ca_file": "/nonexistent/ca.pem"}, "does not exist"),
    ({"intervals": {"fast_s": 0}}, "greater than 0"),
    ({"endpoint": ["pve1"]}, "Extra inputs"),
])
def test_invalid_blocks_say_what_is_wrong(block: dict, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        ProxmoxConfig.model_validate(block)


def test_hub_config_errors_name_the_key_path() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_plugin_block(ProxmoxConfig, "proxmox", {"intervals": {"fast_s": -1}})
    assert "plugins.proxmox.intervals.fast_s" in str(caught.value)


def test_fingerprint_forms() -> None:
    assert normalize_fingerprint(FP) == "ab" * 32
    assert normalize_fingerprint("AB" * 32) == "ab" * 32


@pytest.mark.parametrize(("payload", "tool"), [
    ({"state": "running"}, "guest_start"), ({"state": "stopped"}, "guest_shutdown"),
    ("ON", "guest_start"), ("off", "guest_shutdown"),
])
def test_guest_set(payload: object, tool: str) -> None:
    assert guest_set(("101",), payload) == (tool, {"vmid": 101})


@pytest.mark.parametrize("verb", ["start", "shutdown", "stop", "reboot", "reset", "suspend",
                                  "resume"])
def test_guest_action(verb: str) -> None:
    assert guest_action(("7",), f" {verb.upper()}\n") == (f"guest_{verb}", {"vmid": 7})


@pytest.mark.parametrize(("verb", "tool"), [("wake", "node_wake"), ("reboot", "node_reboot"),
                                            ("shutdown", "node_shutdown")])
def test_node_action(verb: str, tool: str) -> None:
    assert node_action(("pve2",), verb) == (tool, {"node": "pve2"})


@pytest.mark.parametrize(("fn", "ids", "payload"), [
    (guest_set, ("101",), {"state": "paused"}), (guest_set, ("101",), "maybe"),
    (guest_set, ("abc",), "ON"), (guest_action, ("101",), "explode"),
    (guest_action, ("101",), {"action": "start"}), (node_action, ("pve1",), "start"),
])
def test_bad_payloads_are_invalid_args(fn: object, ids: tuple, payload: object) -> None:
    with pytest.raises(ToolError) as caught:
        fn(ids, payload)  # type: ignore[operator]
    assert caught.value.code == "invalid_args"
