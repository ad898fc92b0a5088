"""A plugin whose hook implementations match the typed hookspecs."""

from collections.abc import Callable, Sequence

from jarvis.core import Change, EntityKind, PluginContext, Tool, hookimpl


@hookimpl
def register_tools(register: Callable[[Tool], str], ctx: PluginContext) -> None:
    """Registers nothing."""


@hookimpl
def register_entity_kinds(register: Callable[[EntityKind], None]) -> None:
    """Opt-in arguments: ctx may be left out."""


@hookimpl
async def on_state_changed(changes: Sequence[Change], ctx: PluginContext) -> None:
    """Async implementations return an awaitable of None."""
