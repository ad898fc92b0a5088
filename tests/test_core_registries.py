"""Every registry is real: attributed to its plugin, validated, de-duplicated, dropped on failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from jarvis.core import (
    CallSource,
    EntityKind,
    Playbook,
    PluginContext,
    RequestCommand,
    StateField,
    hookimpl,
)
from jarvis.core.hub import Hub
from jarvis.core.providers import Caller

from tests.fixtures.hub import running_hub
from tests.fixtures.testplugins import ToolPlugin, tool


class Backend:
    """A minimal LLM backend: what the Protocol asks for."""

    kind = "local"
    model = "tiny"

    def chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], **options: Any) -> Any:
        return iter(())


class Store:
    """A minimal memory store: every member of the MemoryStore protocol, remembering nothing."""

    def record_event(self, event: Any) -> str:
        return ""

    def record_action(self, action: Any) -> str:
        return ""

    def add_message(self, session: str, role: str, content: str, **fields: Any) -> str:
        return ""

    def set_preference(self, key: str, value: Any) -> None:
        pass

    def remember(self, text: str, tier: str = "30d", tags: Any = ()) -> str:
        return ""

    def forget(self, key: str) -> bool:
        return False

    def save_value(self, key: str, value: Any) -> None:
        pass

    def load_value(self, key: str, default: Any = None) -> Any:
        return default

    async def resolve_event(self, event_id: str, by: str = "user") -> None:
        return None

    async def recent_events(self, **filters: Any) -> list[dict[str, Any]]:
        return []

    async def actions(self, **filters: Any) -> list[dict[str, Any]]:
        return []

    async def history(self, session: str, limit: int | None = None) -> list[dict[str, Any]]:
        return []

    async def search(self, text: str, **filters: Any) -> list[dict[str, Any]]:
        return []

    async def preferences(self) -> dict[str, Any]:
        return {}

    async def memories(self, tag: str | None = None) -> list[dict[str, Any]]:
        return []

    async def context(self, budget: Any = "small", **options: Any) -> dict[str, Any]:
        return {"text": "", "tokens": 0}


class Provider(ToolPlugin):
    """Registers an LLM backend and a memory store under the given names."""

    def __init__(self, llm: str | None = "local", memory: str | None = "tinydb", backend: Any = None) -> None:
        super().__init__(tool("ping"))
        self.llm, self.memory, self.backend = llm, memory, backend

    @hookimpl
    def register_llm_backends(self, register: Callable[[str, Any], None]) -> None:
        if self.llm:
            register(self.llm, self.backend or Backend())

    @hookimpl
    def register_memory_stores(self, register: Callable[[str, Any], None]) -> None:
        if self.memory:
            register(self.memory, Store())


def status_of(hub: Hub, name: str) -> dict[str, Any]:
    return next(p for p in hub.info()["plugins"] if p["name"] == name)


async def test_providers_are_registered_under_their_plugin() -> None:
    async with running_hub(extra_plugins={"alpha": Provider()}) as hub:
        regs = hub.registrations
        assert isinstance(regs.llm_backends.get("local"), Backend)
        assert regs.llm_backends.owner["local"] == "alpha"
        assert regs.memory_stores.owner["tinydb"] == "alpha"


@pytest.mark.parametrize("what", ["llm", "memory"])
async def test_a_duplicate_provider_fails_the_second_plugin_naming_both(what: str) -> None:
    first = Provider()
    second = Provider(llm="local" if what == "llm" else None, memory="tinydb" if what == "memory" else None)
    async with running_hub(extra_plugins={"first": first, "second": second}) as hub:
        entry = status_of(hub, "second")
        assert entry["status"] == "failed"
        assert "'first'" in entry["reason"] and "'second'" in entry["reason"], entry["reason"]
        assert status_of(hub, "first")["status"] == "ok"
        registry = hub.registrations.llm_backends if what == "llm" else hub.registrations.memory_stores
        assert set(registry.owner.values()) == {"first"}
        # the failed plugin's other registrations are gone too
        assert "second.ping" not in hub.pipeline.registry.tools and "first.ping" in hub.pipeline.registry.tools


async def test_a_provider_that_breaks_its_protocol_fails_with_what_it_lacks() -> None:
    class NoChat:
        kind = "local"
        model = "x"

    async with running_hub(extra_plugins={"odd": Provider(memory=None, backend=NoChat())}) as hub:
        entry = status_of(hub, "odd")
        assert entry["status"] == "failed" and "LlmBackend" in entry["reason"] and "chat" in entry["reason"]
        assert "local" not in hub.registrations.llm_backends


class Kinds(ToolPlugin):
    """Registers one entity kind and one playbook, one call source and one request command."""

    def __init__(self, kind: str = "widget", topic: str = "widget/{id}/state") -> None:
        super().__init__()
        self.kind = EntityKind(name=kind, topic=topic, description="a widget",
                               fields=(StateField(name="level", type="number", description="how full"),))

    @hookimpl
    def register_entity_kinds(self, register: Callable[[EntityKind], None]) -> None:
        register(self.kind)

    @hookimpl
    def register_playbooks(self, register: Callable[[Playbook], None]) -> None:
        register(Playbook(name=f"{self.kind.name}_stuck", description="unstick it"))

    @hookimpl
    def register_call_sources(self, register: Callable[[CallSource], None]) -> None:
        register(CallSource(name="mcp", human=False, description="an MCP client"))

    @hookimpl
    def register_request_commands(self, register: Callable[[RequestCommand], None], ctx: PluginContext) -> None:
        async def hello(args: dict[str, Any], caller: Caller) -> dict[str, Any]:
            return {"status": "ok", "data": {"hello": caller.source, "plugin": ctx.name}}

        register(RequestCommand(name="hello", handler=hello, description="say hello"))


async def test_kinds_playbooks_sources_and_requests_are_attributed() -> None:
    async with running_hub(extra_plugins={"w": Kinds()}) as hub:
        regs = hub.registrations
        assert regs.kinds.owner["widget"] == "w" and regs.kind_index.kind_of(("widget", "7", "state")) is not None
        assert regs.playbooks.owner["widget_stuck"] == "w"
        assert regs.call_sources.owner["mcp"] == "w" and regs.call_sources.owner["mqtt"] == "hub"
        assert regs.requests.owner["hello"] == "w" and regs.requests.owner["confirm"] == "hub"
        assert "mcp" in hub.info()["sources"] and "hello" in hub.info()["requests"]


async def test_an_entity_kind_overlapping_another_fails_the_later_plugin() -> None:
    plugins = {"a": Kinds(), "b": Kinds(kind="gadget", topic="widget/{x}/state")}
    async with running_hub(extra_plugins=plugins) as hub:
        entry = status_of(hub, "b")
        assert entry["status"] == "failed" and "overlaps" in entry["reason"] and "widget" in entry["reason"]
        assert "gadget" not in hub.registrations.kinds
        assert [k.name for k in hub.registrations.kind_index if k.name in ("widget", "gadget")] == ["widget"]


async def test_a_builtin_name_cannot_be_taken_by_a_plugin() -> None:
    class Thief(ToolPlugin):
        @hookimpl
        def register_call_sources(self, register: Callable[[CallSource], None]) -> None:
            register(CallSource(name="cli", human=True, description="pretends to be the CLI"))

    async with running_hub(extra_plugins={"thief": Thief()}) as hub:
        entry = status_of(hub, "thief")
        assert entry["status"] == "failed" and "'hub'" in entry["reason"] and "'thief'" in entry["reason"]
        assert hub.registrations.call_sources.owner["cli"] == "hub"


async def test_a_registered_call_source_is_not_human() -> None:
    async with running_hub({"safety": {"autonomy": "act"}}, extra_plugins={"w": Kinds()}) as hub:
        assert (await hub.call_tool("w.nothing", {}, source="mcp"))["error"]["code"] == "unknown_tool"
        denied = await hub.pipeline.resolve_confirmation("x", True, source="mcp")
        assert denied["error"]["code"] == "denied"
        assert (await hub.call_tool("w.nothing", {}, source="martian"))["error"]["code"] == "invalid_source"


async def test_a_registered_request_command_answers() -> None:
    async with running_hub(extra_plugins={"w": Kinds()}) as hub:
        reply = await hub.request("hello", {}, Caller("mqtt", "alice", "viewer"))
        assert reply == {"status": "ok", "data": {"hello": "mqtt", "plugin": "w"}}
        # A caller from outside the process without a role may do nothing (fail closed).
        assert (await hub.request("hello", {}, Caller("mqtt")))["error"]["code"] == "forbidden"


async def test_a_web_blueprint_is_mounted_under_its_plugin_prefix() -> None:
    from quart import Blueprint

    class Web(ToolPlugin):
        @hookimpl
        def register_web_routes(self, register: Callable[[Any], None]) -> None:
            blueprint = Blueprint("hello", __name__)
            blueprint.get("/hi")(self.hi)
            register(blueprint)

        async def hi(self) -> str:
            return "hi there"

    async with running_hub(extra_plugins={"greeter": Web()}) as hub:
        from jarvis.web.app import create_app

        client = create_app(hub).test_client()
        response = await client.get("/plugins/greeter/hi")
        assert response.status_code == 200 and await response.get_data(as_text=True) == "hi there"
        assert (await client.get("/hi")).status_code == 404
