"""The ``jarvis`` command: listing tools, calling them, confirmations and usage errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from jarvis.core import __version__
from jarvis.core.cli import parse_kv
from jarvis.core.plugins import DEFAULT_PLUGINS

from tests.fixtures.thirdparty import config_without_in_tree, install_hello, run_jarvis


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
