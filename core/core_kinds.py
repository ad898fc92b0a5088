"""The kinds of state the hub itself publishes: bridge info, health, schema, autonomy, confirmations."""

from __future__ import annotations

from jarvis.core.entities import EntityKind, StateField

CONFIRMATION = EntityKind(
    name="confirmation",
    topic="confirm/{id}",
    description="A dangerous call waiting for a human's approval; cleared when approved, denied or expired.",
    fields=(
        StateField(name="id", type="string", nullable=False, description="the confirmation id to approve or deny"),
        StateField(name="tool", type="string", nullable=False, description="the tool that would run"),
        StateField(name="args", type="object", nullable=False, description="its validated arguments (secrets masked)"),
        StateField(name="risk", type="string", nullable=False, values=("read", "write", "dangerous"),
                   description="the call's risk tier"),
        StateField(name="reason", type="string", nullable=False, description="why it needs a confirmation"),
        StateField(name="requested_by", type="string", nullable=False,
                   description="who asked: the call source, with the user when known (source:user)"),
        StateField(name="expires_at", type="string", nullable=False,
                   description="when it expires unanswered (ISO-8601 UTC)"),
    ),
    strict=False,
)

AUTONOMY = EntityKind(
    name="autonomy",
    topic="bridge/autonomy",
    description="What automation may do: off (the kill switch), notify, act.",
    fields=(StateField(name="mode", type="string", nullable=False, values=("off", "notify", "act"),
                       description="off: no automated writes; notify: the monitor only reports; "
                                   "act: it may remediate"),),
)

BRIDGE_INFO = EntityKind(
    name="bridge_info",
    topic="bridge/info",
    description="What this hub is: version, plugins, tools, commands and settings.",
    fields=(
        StateField(name="version", type="string", nullable=False, description="Jarvis version"),
        StateField(name="plugins", type="array", nullable=False,
                   description="each plugin: name, version, status, reason"),
        StateField(name="tools", type="array", nullable=False,
                   description="each tool: name, plugin, risk, description, disruptive, args_schema"),
        StateField(name="commands", type="array", nullable=False, description="command topics on things"),
        StateField(name="requests", type="array", nullable=False, description="request commands under bridge/request/"),
        StateField(name="sources", type="array", nullable=False, description="call sources of the tool pipeline"),
        StateField(name="autonomy", type="string", nullable=False, description="the autonomy mode"),
        StateField(name="discovery_prefix", type="string", nullable=False,
                   description="Home Assistant discovery prefix"),
        StateField(name="base_topic", type="string", nullable=False, description="the base topic"),
    ),
    strict=False,
)

BRIDGE_HEALTH = EntityKind(
    name="bridge_health",
    topic="bridge/health",
    description="How the hub is doing, refreshed every mqtt.health_interval_s.",
    fields=(
        StateField(name="uptime_s", type="integer", unit="s", nullable=False,
                   description="seconds since the hub started"),
        StateField(name="rss_bytes", type="integer", unit="B", nullable=False,
                   description="resident memory of the hub"),
        StateField(name="entities", type="integer", nullable=False, description="entities in the state store"),
        StateField(name="pending_confirmations", type="integer", nullable=False,
                   description="confirmations waiting for a human"),
        StateField(name="plugins", type="object", nullable=False, description="plugin -> {status, reason}"),
        StateField(name="sources", type="object", nullable=False,
                   description="source -> last poll: duration_ms, cpu_ms, entities, changes, api_calls..."),
        StateField(name="memory", type="object",
                   description="the memory store in use (hub.memory), its records, last flush and any problem"),
        StateField(name="mqtt", type="object", description="broker link and publisher counters (with the MQTT bridge)"),
    ),
    strict=False,
)

BRIDGE_SCHEMA = EntityKind(
    name="bridge_schema",
    topic="bridge/schema",
    description="This description: every entity kind the hub publishes, its fields and commands.",
    fields=(
        StateField(name="version", type="string", nullable=False, description="Jarvis version"),
        StateField(name="base_topic", type="string", nullable=False, description="the base topic"),
        StateField(name="kinds", type="array", nullable=False,
                   description="each kind: kind, topic, description, ids, name_field, fields, commands, plugin"),
    ),
)

CORE_KINDS: tuple[EntityKind, ...] = (CONFIRMATION, AUTONOMY, BRIDGE_INFO, BRIDGE_HEALTH, BRIDGE_SCHEMA)
