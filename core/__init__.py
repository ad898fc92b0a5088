"""Jarvis core: the public API plugins import (``from jarvis.core import hookimpl, Tool, ...``)."""

from jarvis.core.api import (
    HUMAN_SOURCES,
    Command,
    Entity,
    Event,
    Playbook,
    PluginContext,
    Risk,
    Snapshot,
    Source,
    Target,
    Tool,
    ToolCall,
    ToolError,
    UpdateFailed,
    hookimpl,
    slugify,
    utcnow,
)

__version__ = "0.1.0"

__all__ = [
    "HUMAN_SOURCES",
    "Command",
    "Entity",
    "Event",
    "Playbook",
    "PluginContext",
    "Risk",
    "Snapshot",
    "Source",
    "Target",
    "Tool",
    "ToolCall",
    "ToolError",
    "UpdateFailed",
    "__version__",
    "hookimpl",
    "slugify",
    "utcnow",
]
