"""Docker plugin: containers of Docker Engine API hosts as state, and tools to act on them."""

from jarvis.plugins.docker.plugin import (
    on_start,
    on_stop,
    register_commands,
    register_config,
    register_sources,
    register_tools,
)

__all__ = [
    "on_start",
    "on_stop",
    "register_commands",
    "register_config",
    "register_sources",
    "register_tools",
]
