"""Loading plugins: in-tree and third-party alike, isolated failures, namespaced registrations."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jarvis.core import hookimpl
from jarvis.core.plugins import DEFAULT_PLUGINS, LOAD_ENV, await_me_maybe, hook_names, load_plugins

from tests.fixtures.hub import running_hub
from tests.fixtures.testplugins import ToolPlugin, guest_source, tool
from tests.fixtures.thirdparty import config_without_in_tree, install_hello, run_jarvis


def statuses(hub: Any) -> dict[str, dict[str, Any]]:
    """Plugin name -> its entry in bridge/info."""
    return {p["name"]: p for p in hub.info()["plugins"]}


# -- one way in, for in-tree and external plugins --------------------------------------------------


def test_in_tree_plugins_are_ordinary_plugins() -> None:
    loaded = load_plugins(entrypoints=False)
    for name, module in DEFAULT_PLUGINS.items():
        assert module.startswith("jarvis.plugins."), "in-tree plugins live in the jarvis.plugins package"
        assert name in loaded.versions, loaded.failed.get(name)
        assert loaded.pm.get_plugin(name) is importlib.import_module(module)
        impls = [impl for caller in loaded.pm.get_hookcallers(loaded.pm.get_plugin(name)) or []
                 for impl in caller.get_hookimpls() if impl.plugin_name == name]
        assert impls, f"{name} implements no hook"
        # the very marker a third-party package imports from jarvis.core
        assert all(hasattr(impl.function, "jarvis_impl") for impl in impls)


def test_load_env_var_chooses_which_plugins_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOAD_ENV, "beta, ")
    loaded = load_plugins(entrypoints=False, extra={"alpha": ToolPlugin(), "beta": ToolPlugin()})
    assert list(loaded.versions) == ["beta"]
    assert {"alpha", *DEFAULT_PLUGINS} <= loaded.skipped


async def test_config_blocks_of_plugins_left_out_by_the_env_var_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOAD_ENV, "alpha")
    from jarvis.core.config import parse_config
    from jarvis.core.hub import Hub

    hub = Hub(parse_config({"plugins": {"proxmox": {"enabled": False}, "alpha": {}}}),
              entrypoints=False, extra_plugins={"alpha": ToolPlugin(tool("ping"))})
    await hub.start(run_sources=False)
    try:
        assert list(hub.pipeline.registry.tools) == ["alpha.ping"]
    finally:
        await hub.stop()


def test_hook_names_list_every_hookspec() -> None:
    names = hook_names()
    assert {"register_config", "register_tools", "register_sources", "on_start", "on_stop", "on_event"} <= set(names)


# -- status and isolation --------------------------------------------------------------------------


async def test_a_disabled_plugin_is_reported_and_does_nothing() -> None:
    sleeper = ToolPlugin(tool("nap"))
    async with running_hub({"plugins": {"sleeper": {"enabled": False}}},
                           extra_plugins={"sleeper": sleeper, "alpha": ToolPlugin(tool("ping"))}) as hub:
        assert statuses(hub)["sleeper"]["status"] == "disabled"
        assert hub.health()["plugins"]["sleeper"]["status"] == "disabled"
        assert statuses(hub)["alpha"]["status"] == "ok"
        assert "sleeper.nap" not in hub.pipeline.registry.tools
        assert sleeper.started == []
    assert sleeper.stopped == []


class FailingStart(ToolPlugin):
    """A plugin whose client cannot start."""

    @hookimpl
    async def on_start(self, ctx: Any) -> None:
        raise ConnectionError("cannot reach the API at 10.0.0.1")


async def test_a_plugin_failing_to_start_is_failed_and_the_hub_carries_on() -> None:
    broken = FailingStart(tool("never"))
    async with running_hub(extra_plugins={"broken": broken, "alpha": ToolPlugin(tool("ping"))}) as hub:
        entry = statuses(hub)["broken"]
        assert entry["status"] == "failed"
        assert "ConnectionError" in entry["reason"] and "cannot reach the API" in entry["reason"]
        assert hub.health()["plugins"]["broken"] == {"status": "failed", "reason": entry["reason"]}
        assert hub.state.get(("bridge", "info"))["plugins"] == hub.info()["plugins"]
        assert "broken.never" not in hub.pipeline.registry.tools
        assert (await hub.call_tool("alpha.ping", {}, source="cli"))["status"] == "ok"
    assert broken.stopped == [], "a plugin that never started is not stopped"


async def test_a_duplicate_tool_name_fails_only_that_plugin() -> None:
    twice = ToolPlugin(tool("dup"), tool("other"), tool("dup"), sources=(guest_source({1: "a"}),))
    alpha = ToolPlugin(tool("dup"))
    async with running_hub(extra_plugins={"twice": twice, "alpha": alpha}) as hub:
        entry = statuses(hub)["twice"]
        assert entry["status"] == "failed"
        assert "twice.dup" in entry["reason"] and "twice" in entry["reason"]
        # nothing of the failed plugin stays behind: tools, sources
        assert sorted(hub.pipeline.registry.tools) == ["alpha.dup"]
        assert all(r.ctx.name != "twice" for r in hub.runners)
        assert (await hub.call_tool("alpha.dup", {}, source="cli"))["status"] == "ok"
    assert twice.stopped == ["twice"], "it started, so it is stopped (its clients closed)"


async def test_tool_names_are_namespaced_by_plugin() -> None:
    returned: list[str] = []

    class Namer:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            returned.append(register(tool("status")))
            returned.append(register(tool("namer.restart")))  # already prefixed: accepted as is

    async with running_hub(extra_plugins={"namer": Namer(), "other": ToolPlugin(tool("status"))}) as hub:
        assert returned == ["namer.status", "namer.restart"]
        assert sorted(hub.pipeline.registry.tools) == ["namer.restart", "namer.status", "other.status"]
        described = hub.pipeline.registry.describe("namer.status")
        assert described["plugin"] == "namer" and described["risk"] == "read"
        assert described["args_schema"]["type"] == "object"


@pytest.mark.parametrize("bad_name", ["other.status", "Bad Name", "", "x" * 49])
async def test_a_tool_name_outside_the_plugin_namespace_is_refused(bad_name: str) -> None:
    async with running_hub(extra_plugins={"namer": ToolPlugin(tool(bad_name))}) as hub:
        entry = statuses(hub)["namer"]
        assert entry["status"] == "failed" and "must match" in entry["reason"]


# -- hook calling conventions ---------------------------------------------------------------------


class SyncAndAsync:
    """Mixes sync and async implementations, and opts in to fewer arguments than the spec."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    async def register_tools(self, register: Any) -> None:  # no ctx: opt-in arguments
        self.seen.append("tools")
        register(tool("a"))

    @hookimpl
    def register_sources(self, ctx: Any) -> None:  # no register: only ctx
        self.seen.append(f"sources:{ctx.name}")

    @hookimpl
    def on_start(self) -> None:  # no argument at all
        self.seen.append("start")

    @hookimpl
    async def on_stop(self, ctx: Any) -> None:
        self.seen.append("stop")


async def test_sync_async_and_opt_in_implementations_all_work() -> None:
    plugin = SyncAndAsync()
    async with running_hub(extra_plugins={"mix": plugin}) as hub:
        assert statuses(hub)["mix"]["status"] == "ok"
        assert list(hub.pipeline.registry.tools) == ["mix.a"]
    assert plugin.seen == ["start", "tools", "sources:mix", "stop"]


async def test_await_me_maybe_takes_values_and_awaitables() -> None:
    async def seven() -> int:
        return 7

    assert await await_me_maybe(7) == 7
    assert await await_me_maybe(seven()) == 7


async def test_plugins_stop_in_reverse_order() -> None:
    order: list[str] = []

    class Stopper:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def on_stop(self) -> None:
            order.append(self.name)

    async with running_hub(extra_plugins={"first": Stopper("first"), "second": Stopper("second")}):
        pass
    assert order == ["second", "first"]


class Misspelled:
    """Implements ``register_tool`` (no s): pluggy's check_pending would catch it."""

    @hookimpl
    def register_tool(self, register: Any) -> None:
        register(tool("x"))


class WrongArgument:
    """Implements a real hook with an argument the spec does not have."""

    @hookimpl
    def register_tools(self, registr: Any) -> None:
        registr(tool("x"))


@pytest.mark.parametrize(("plugin", "expected"), [
    (Misspelled(), "unknown hook(s) register_tool"),
    (WrongArgument(), "registr"),
])
async def test_a_malformed_plugin_is_reported_and_the_hub_still_runs(plugin: Any, expected: str) -> None:
    async with running_hub(extra_plugins={"typo": plugin, "alpha": ToolPlugin(tool("ping"))}) as hub:
        entry = statuses(hub)["typo"]
        assert entry["status"] == "failed"
        assert expected in entry["reason"]
        assert hub.health()["plugins"]["typo"]["status"] == "failed"
        assert list(hub.pipeline.registry.tools) == ["alpha.ping"]
        assert (await hub.call_tool("alpha.ping", {}, source="cli"))["status"] == "ok"


async def test_a_plugin_whose_register_config_raises_is_failed() -> None:
    class BadConfig:
        @hookimpl
        def register_config(self, register: Any) -> None:
            raise RuntimeError("no model today")

    async with running_hub(extra_plugins={"bad": BadConfig(), "alpha": ToolPlugin(tool("ping"))}) as hub:
        assert statuses(hub)["bad"]["status"] == "failed"
        assert "no model today" in statuses(hub)["bad"]["reason"]
        assert list(hub.pipeline.registry.tools) == ["alpha.ping"]


# -- a real third-party package -------------------------------------------------------------------


@pytest.fixture(scope="module")
def hello_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield install_hello(tmp_path_factory.mktemp("hello"))


def test_a_third_party_package_adds_tools_through_its_entry_point(hello_site: Path, tmp_path: Path) -> None:
    cfg = config_without_in_tree(tmp_path / "config.yaml", "hello: {greeting: Howdy}\n")
    listing = run_jarvis("tools", "-c", str(cfg), site=hello_site)
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line.split()[1] for line in listing.stdout.splitlines() if line.strip()}
    assert rows == {"hello.greet": "read", "hello.forget": "dangerous"}

    called = run_jarvis("call", "hello.greet", "name=World", "-c", str(cfg), site=hello_site)
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {"status": "ok", "data": {"greeting": "Howdy, World!", "source": "cli"}}


def test_a_third_party_plugin_reports_its_package_version(hello_site: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("plugins: {}\n")
    listing = run_jarvis("tools", "--json", "-c", str(cfg), site=hello_site, env={LOAD_ENV: "hello"})
    assert listing.returncode == 0, listing.stderr
    tools = {t["name"]: t for t in json.loads(listing.stdout)}
    assert set(tools) == {"hello.greet", "hello.forget"}
    assert tools["hello.greet"]["plugin"] == "hello"
    assert tools["hello.greet"]["args_schema"]["properties"]["name"]["default"] == "world"


def test_without_the_package_the_config_block_is_an_error(tmp_path: Path) -> None:
    cfg = config_without_in_tree(tmp_path / "config.yaml", "hello: {greeting: Howdy}\n")
    result = run_jarvis("check-config", "-c", str(cfg))
    assert result.returncode == 2
    assert "plugins.hello" in result.stderr and "no plugin named 'hello'" in result.stderr
