"""Requests on ``<base>/bridge/request/<command>``: the core's own, and how any is dispatched.

The core registers the contract's commands (``tool/<name>``, ``confirm``, ``autonomy``,
``refresh``, ``plugins``) through the same registry as plugins do, so every request, built-in or
not, is found, described and answered the same way.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

from jarvis.core.providers import Caller, Reply, ReplyStream, RequestCommand
from jarvis.core.tools import error, ok

if TYPE_CHECKING:
    from jarvis.core.hub import Hub

log = logging.getLogger("jarvis.requests")


def builtin_requests(hub: Hub) -> list[RequestCommand]:
    """Return the contract's request commands, bound to one hub."""

    async def tool(args: dict[str, Any], caller: Caller) -> Reply:
        name = args.pop("_path", "")
        if not name:
            return error("unknown_command", "name the tool: bridge/request/tool/<plugin>.<tool>")
        return await hub.call_tool(name, args, source=caller.source, caller=caller)

    async def confirm(args: dict[str, Any], caller: Caller) -> Reply:
        return await hub.pipeline.resolve_confirmation(args.get("id"), args.get("approve"), source=caller.source,
                                                       caller=caller)

    async def autonomy(args: dict[str, Any], caller: Caller) -> Reply:
        return await hub.set_autonomy(args.get("mode"), caller=caller)

    async def refresh(args: dict[str, Any], caller: Caller) -> Reply:
        return ok({"sources": await hub.refresh()})

    async def plugins(args: dict[str, Any], caller: Caller) -> Reply:
        return ok(hub.plugin_statuses())

    return [
        RequestCommand(name="tool", handler=tool, prefix=True,
                       description="run a registered tool: tool/<plugin>.<tool> with its args"),
        RequestCommand(name="confirm", handler=confirm, control=True,
                       description='approve or deny a pending confirmation: {"id", "approve"}'),
        RequestCommand(name="autonomy", handler=autonomy, control=True,
                       description='set the autonomy mode: {"mode": "off"|"notify"|"act"}'),
        RequestCommand(name="refresh", handler=refresh, description="poll every source now"),
        RequestCommand(name="plugins", handler=plugins, description="every plugin's status"),
    ]


def find_request(hub: Hub, command: str) -> tuple[RequestCommand | None, str]:
    """Return the request command for ``name`` or ``name/rest`` (prefix commands), and ``rest``."""
    registry = hub.registrations.requests
    found = registry.get(command)
    if found is not None and not found.prefix:
        return found, ""
    head, _, rest = command.partition("/")
    found = registry.get(head)
    if found is not None and (found.prefix or not rest):
        return found, rest
    return None, ""


async def handle_request(
    hub: Hub, command: str, args: dict[str, Any], caller: Caller, *, permission: str | None = None
) -> Reply | ReplyStream:
    """Dispatch one request to its command, if the caller's role allows; a reply, or a stream.

    A request needs the ``requests`` permission, unless its command names a permission of its
    own (``chat``, ``autonomy``...): then that one is what counts. ``permission`` overrides both
    (the chat-in topics need ``chat``, whatever the ``chat`` command declares).
    """
    found, rest = find_request(hub, command)
    needed = permission or (found.permission if found and found.permission else "requests")
    refusal = hub.auth.check(caller, needed)
    if refusal is not None:
        log.warning("refused request %s: %s", (found.name if found else "?"), refusal)
        return error("forbidden", refusal)
    if found is None:
        known = ", ".join(sorted(hub.registrations.requests))
        # The name is not echoed: a reply must never depend on what the caller guessed.
        return error("unknown_command", f"no such request; use one of {known}")
    if found.prefix:
        args = {**args, "_path": rest}
    try:
        result = found.handler(args, caller)
        # An async generator (a handler that yields) is the stream itself; anything else is awaited.
        return await result if inspect.isawaitable(result) else result
    except Exception as exc:  # noqa: BLE001 - a plugin's bug becomes an error reply, not a crash
        log.exception("request %s failed", command[:80])
        return error("internal", f"{type(exc).__name__}: {exc}")
