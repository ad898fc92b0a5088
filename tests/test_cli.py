"""The ``jarvis`` command: listing tools, calling them, confirmations and usage errors."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from jarvis.app.cli import parse_kv
from jarvis.core import __version__
from jarvis.core.plugins import DEFAULT_PLUGINS

from tests.fixtures.thirdparty import JARVIS, config_without_in_tree, install_hello, run_jarvis


@pytest.fixture(scope="module")
def hello_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield install_hello(tmp_path_factory.mktemp("hello"))


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return config_without_in_tree(tmp_path / "config.yaml")


def test_version() -> None:
    result = run_jarvis("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"jarvis {__version__}"


def test_tools_lists_each_tool_with_its_risk(hello_site: Path, cfg: Path) -> None:
    result = run_jarvis("tools", "-c", str(cfg), site=hello_site)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(None, 2) for line in lines] == [
        ["hello.forget", "dangerous", "Forget everything about someone"],
        ["hello.greet", "read", "Greet someone by name"],
    ]


def test_tools_lists_the_in_tree_plugins_too(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("plugins: {}\n")
    result = run_jarvis("tools", "--json", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    tools = json.loads(result.stdout)
    assert {t["plugin"] for t in tools} == set(DEFAULT_PLUGINS)
    assert {t["risk"] for t in tools} <= {"read", "write", "dangerous"}
    assert all(t["name"].startswith(f"{t['plugin']}.") for t in tools)


def test_call_prints_the_json_reply(hello_site: Path, cfg: Path) -> None:
    result = run_jarvis("call", "hello.greet", "name=Ada", "-c", str(cfg), site=hello_site)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["data"]["greeting"] == "Hello, Ada!"


def test_call_of_an_unknown_tool_exits_1_with_a_json_error(hello_site: Path, cfg: Path) -> None:
    result = run_jarvis("call", "hello.nope", "-c", str(cfg), site=hello_site)
    assert result.returncode == 1
    reply = json.loads(result.stdout)
    assert reply["status"] == "error" and reply["error"]["code"] == "unknown_tool"
    assert "hello.greet" in reply["error"]["message"], "the error lists the known tools"


def test_call_with_invalid_args_exits_1(hello_site: Path, cfg: Path) -> None:
    result = run_jarvis("call", "hello.greet", "name=[1]", "-c", str(cfg), site=hello_site)
    assert result.returncode == 1
    reply = json.loads(result.stdout)
    assert reply["error"]["code"] == "invalid_args" and "name" in reply["error"]["message"]


def test_a_dangerous_call_needs_confirm(hello_site: Path, cfg: Path) -> None:
    asked = run_jarvis("call", "hello.forget", "who=Bob", "-c", str(cfg), site=hello_site)
    assert asked.returncode == 1
    reply = json.loads(asked.stdout)
    assert reply["status"] == "confirmation_required"
    assert reply["confirmation"]["tool"] == "hello.forget"
    assert "--confirm" in asked.stderr

    confirmed = run_jarvis("call", "hello.forget", "who=Bob", "--confirm", "-c", str(cfg), site=hello_site)
    assert confirmed.returncode == 0, confirmed.stderr
    assert json.loads(confirmed.stdout) == {"status": "ok", "data": {"forgotten": "Bob"}}


@pytest.mark.parametrize("word", ["name", "=World"])
def test_a_bad_key_value_is_a_usage_error(hello_site: Path, cfg: Path, word: str) -> None:
    result = run_jarvis("call", "hello.greet", word, "-c", str(cfg), site=hello_site)
    assert result.returncode == 2
    assert "usage: jarvis" in result.stderr and "is not key=value" in result.stderr
    assert result.stdout == ""


def test_parse_kv_reads_json_values_and_falls_back_to_strings() -> None:
    assert parse_kv(["vmid=100", "force=true", "name=web 1", "tags=[\"a\"]", "empty=", "eq=a=b"]) == {
        "vmid": 100, "force": True, "name": "web 1", "tags": ["a"], "empty": "", "eq": "a=b",
    }


def test_an_unknown_subcommand_is_a_usage_error() -> None:
    result = run_jarvis("frobnicate")
    assert result.returncode == 2 and "usage: jarvis" in result.stderr


def test_tools_needs_no_secret_and_no_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text('plugins:\n  proxmox:\n    endpoints: [https://pve.lan:8006]\n    token_id: root@pam!jarvis\n'
                   '    token_secret: {"$env": JARVIS_TEST_UNSET_SECRET}\n')
    listed = run_jarvis("tools", "-c", str(cfg))
    assert listed.returncode == 0, listed.stderr
    assert "proxmox.guest_start" in listed.stdout
    assert "JARVIS_TEST_UNSET_SECRET" not in listed.stdout + listed.stderr
    # without a config.yaml (none in the working directory) it lists the default plugin set
    bare = subprocess.run([str(JARVIS), "tools", "--json"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120, check=False, env={k: v for k, v in os.environ.items()
                                                          if k != "JARVIS_LOAD_PLUGINS"})
    assert bare.returncode == 0, bare.stderr
    assert {t["plugin"] for t in json.loads(bare.stdout)} == set(DEFAULT_PLUGINS)
    # an explicitly named file that is missing is still an error
    missing = run_jarvis("tools", "-c", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_run_still_refuses_an_unset_secret(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text('mqtt: {password: {"$env": JARVIS_TEST_UNSET_SECRET}}\n')
    result = run_jarvis("check-config", "-c", str(cfg))
    assert result.returncode == 2 and "JARVIS_TEST_UNSET_SECRET" in result.stderr


def test_schema_prints_every_kind_and_the_markdown_tables(tmp_path: Path) -> None:
    result = run_jarvis("schema", "-c", str(tmp_path / "config.yaml"), "--markdown")
    assert result.returncode == 2  # an explicitly named missing file
    described = subprocess.run([str(JARVIS), "schema"], capture_output=True, text=True, cwd=tmp_path,
                               timeout=120, check=False)
    assert described.returncode == 0, described.stderr
    kinds = {k["kind"] for k in json.loads(described.stdout)["kinds"]}
    assert {"guest", "node", "storage", "cluster", "docker_container", "host", "confirmation"} <= kinds
