"""Network plugin: Wake-on-LAN and host reachability (see plugin.py)."""

from jarvis.plugins.network.plugin import (
    on_stop,
    register_config,
    register_sources,
    register_tools,
)

__all__ = ["on_stop", "register_config", "register_sources", "register_tools"]
