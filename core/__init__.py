"""Jarvis core: the public API plugins import (``from jarvis.core import hookimpl, Tool, ...``)."""

from jarvis.core import fields
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
    tool_errors,
    utcnow,
)
from jarvis.core.entities import EntityKind, Payload, StateField, Verb, freeze
from jarvis.core.providers import (
    Caller,
    CallSource,
    DiscoveryBuilder,
    LlmBackend,
    MemoryStore,
    Reply,
    ReplyStream,
    RequestCommand,
    WebBlueprint,
)
from jarvis.core.redact import redact
from jarvis.core.state import Change

__version__ = "0.1.0"

__all__ = [
    "HUMAN_SOURCES",
    "CallSource",
    "Caller",
    "Change",
    "Command",
    "DiscoveryBuilder",
    "Entity",
    "EntityKind",
    "Event",
    "LlmBackend",
    "MemoryStore",
    "Payload",
    "Playbook",
    "PluginContext",
    "Reply",
    "ReplyStream",
    "RequestCommand",
    "StateField",
    "Risk",
    "Snapshot",
    "Source",
    "Target",
    "Tool",
    "ToolCall",
    "ToolError",
    "UpdateFailed",
    "Verb",
    "WebBlueprint",
    "__version__",
    "fields",
    "freeze",
    "hookimpl",
    "redact",
    "slugify",
    "tool_errors",
    "utcnow",
]
