"""The hooks later capabilities build on: state changes, named source wake-ups, immutable state."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from jarvis.core import Change, Entity, Payload, PluginContext, Snapshot, Source, hookimpl

from tests.fixtures.hub import running_hub
from tests.fixtures.testplugins import ToolPlugin


class Watcher(ToolPlugin):
    """Publishes what the test sets, and records every state change it is told about."""

    def __init__(self, *, asynchronous: bool = False) -> None:
        super().__init__()
        self.values: dict[str, dict[str, Any]] = {"a": {"level": 1}}
        self.seen: list[list[Change]] = []
        self.polls: dict[str, int] = {"fast": 0, "slow": 0}
        self.asynchronous = asynchronous

    def poller(self, name: str) -> Callable[[], Any]:
        async def poll() -> Snapshot:
            self.polls[name] += 1
            if name == "slow":
                return Snapshot([], complete=False)
            return Snapshot([Entity(("thing", k, "state"), dict(v)) for k, v in self.values.items()])
        return poll

    @hookimpl
    def register_sources(self, register: Callable[[Source], None]) -> None:
        register(Source(name="fast", interval_s=3600, poll=self.poller("fast")))
        register(Source(name="slow", interval_s=3600, poll=self.poller("slow")))

    @hookimpl
    def on_state_changed(self, changes: Sequence[Change], ctx: PluginContext) -> Any:
        if self.asynchronous:
            async def later() -> None:
                await asyncio.sleep(0)
                self.seen.append(list(changes))
            return later()
        self.seen.append(list(changes))
        return None


def thing_changes(watcher: Watcher) -> list[tuple[tuple[str, ...], Any]]:
    return [(c.key, None if c.data is None else dict(c.data)) for batch in watcher.seen for c in batch
            if c.key[0] == "thing"]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_a_plugin_sees_what_changed_after_the_store(asynchronous: bool) -> None:
    watcher = Watcher(asynchronous=asynchronous)
    async with running_hub(extra_plugins={"w": watcher}) as hub:
        await hub.refresh()
        await asyncio.sleep(0.05)
        assert thing_changes(watcher) == [(("thing", "a", "state"), {"level": 1})]
        watcher.seen.clear()
        await hub.refresh()  # nothing moved: nothing to tell
        await asyncio.sleep(0.05)
        assert thing_changes(watcher) == []
        watcher.values = {"a": {"level": 2}}
        await hub.refresh()
        watcher.values = {}
        await hub.refresh()
        await asyncio.sleep(0.05)
        assert thing_changes(watcher) == [(("thing", "a", "state"), {"level": 2}), (("thing", "a", "state"), None)]
        assert hub.state.get(("thing", "a", "state")) is None


async def test_an_observer_that_raises_does_not_stop_the_store_or_the_others() -> None:
    class Broken(ToolPlugin):
        @hookimpl
        def on_state_changed(self, changes: Sequence[Change]) -> None:
            raise RuntimeError("observer bug")

    watcher = Watcher()
    async with running_hub(extra_plugins={"broken": Broken(), "w": watcher}) as hub:
        await hub.refresh()
        assert hub.state.get(("thing", "a", "state")) == {"level": 1}
        assert thing_changes(watcher)


async def test_wake_sources_by_name_wakes_only_those() -> None:
    watcher = Watcher()
    async with running_hub(extra_plugins={"w": watcher}) as hub:
        await asyncio.sleep(0.1)  # each source polled once at start
        before = dict(watcher.polls)
        hub.contexts["w"].wake_sources("fast")
        await asyncio.sleep(0.1)
        assert watcher.polls == {"fast": before["fast"] + 1, "slow": before["slow"]}
        hub.contexts["w"].wake_sources()
        await asyncio.sleep(0.1)
        assert watcher.polls == {"fast": before["fast"] + 2, "slow": before["slow"] + 1}
        with pytest.raises(ValueError, match="no source named nope"):
            hub.contexts["w"].wake_sources("nope")


async def test_published_state_cannot_be_changed_in_place() -> None:
    watcher = Watcher()
    async with running_hub(extra_plugins={"w": watcher}) as hub:
        await hub.refresh()
        data = hub.state.get(("thing", "a", "state"))
        assert isinstance(data, Payload)
        with pytest.raises(TypeError, match="immutable"):
            data["level"] = 99  # type: ignore[index]
        with pytest.raises(TypeError):
            data.update(level=99)  # type: ignore[union-attr]
        assert hub.state.get(("thing", "a", "state")) == {"level": 1}
        assert copy.deepcopy(data) == data and dict(data) == {"level": 1}
