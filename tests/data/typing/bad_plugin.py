"""A plugin whose hook implementations break the typed hookspecs in every way mypy should catch."""

from collections.abc import Callable

from jarvis.core import PluginContext, Source, Tool, hookimpl


@hookimpl
def register_tools(register: Callable[[int], str], ctx: PluginContext) -> None:  # wrong register type
    register(1)


@hookimpl
def register_tool(register: Callable[[Tool], str]) -> None:  # misspelt hook
    """Never called by the hub."""


@hookimpl
def register_sources(register, ctx: PluginContext, extra: int) -> None:  # unannotated; unknown argument
    """Takes an argument the hook does not pass."""


@hookimpl
def on_stop(ctx: PluginContext) -> int:  # wrong return type
    return 1


class Good:
    """Correct hooks, with the body misusing register: plain mypy catches that once it is typed."""

    @hookimpl
    def register_sources(self, register: Callable[[Source], None]) -> None:
        register("not a source")  # type: ignore[arg-type]
