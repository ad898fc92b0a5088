"""config.yaml: pydantic models, ``$env`` secret resolution and errors that name the key path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from jarvis.core.redact import redact, register_secret
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """Invalid configuration: one line per problem, each naming the key path and the fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TLSConfig(_Strict):
    """TLS towards the broker."""

    enabled: bool = False
    ca_file: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = Field(False, description="skip hostname verification (self-signed labs)")


class MqttConfig(_Strict):
    """How the hub reaches the broker."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: TLSConfig = TLSConfig()
    base_topic: str = Field("jarvis", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    client_id: str = Field("jarvis-hub", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    keepalive_s: int = Field(30, ge=5, le=3600)
    max_message_age_s: float = Field(
        300.0, ge=5, le=86400,
        description="a command or request older than this is answered `expired`, never run; also the "
                    "hub's session expiry (how long the broker queues commands while the hub is away)",
    )
    reconnect_max_s: float = Field(3.0, ge=0.5, le=60, description="longest wait between reconnect attempts")
    health_interval_s: float = Field(60.0, gt=0)
    max_payload_bytes: int = Field(256 * 1024, ge=1024)
    deadbands: dict[str, float] = Field(
        default_factory=dict, description="field -> absolute change needed to republish"
    )
    relative_deadbands: dict[str, float] = Field(
        default_factory=dict, description="field -> fractional change needed to republish"
    )


class ProtectedConfig(_Strict):
    """Things automation never stops, reboots or resets."""

    guests: list[int | str] = Field(default_factory=list, description="vmids or guest names")
    nodes: list[str] = Field(default_factory=list)
    containers: list[str] = Field(default_factory=list, description="'host/container'")
    hosts: list[str] = Field(default_factory=list)


class RateLimitConfig(_Strict):
    """Write/dangerous calls allowed per minute."""

    per_tool_per_min: int = Field(30, ge=1)
    per_target_per_min: int = Field(6, ge=1)


class ConfirmationLimits(_Strict):
    """How many confirmations may wait at once (a flood of requests cannot fill the broker)."""

    total: int = Field(100, ge=1)
    per_caller: int = Field(10, ge=1, description="pending confirmations one requester may have")
    per_target: int = Field(3, ge=1, description="pending confirmations for one thing (a guest, a node)")


class SafetyConfig(_Strict):
    """Autonomy, confirmations, protection and rate limits."""

    autonomy: Literal["off", "notify", "act"] = "notify"
    confirmation_ttl_s: float = Field(300.0, gt=0)
    confirmation_limits: ConfirmationLimits = ConfirmationLimits()
    protected: ProtectedConfig = ProtectedConfig()
    autonomous_allow: list[str] = Field(
        default_factory=list, description="dangerous tools the monitor may run unconfirmed"
    )
    rate_limit: RateLimitConfig = RateLimitConfig()


class HubConfig(_Strict):
    """The hub process itself."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_-]+$")
    memory: str | None = Field(
        None, description="the memory store, by name (the memory plugin's is tinydb); default: the first "
        "one registered; 'off': none"
    )


class WebConfig(_Strict):
    """The dashboard."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    mqtt_ws_url: str | None = None


Tier = Literal["none", "read", "write", "dangerous"]
NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
_TOOL_GLOB = re.compile(r"^[a-z0-9_.*?-]{1,64}$")


class RoleConfig(_Strict):
    """What one role may do: tools up to a risk tier, and the other permissions."""

    tools: dict[str, Tier] = Field(
        default_factory=dict,
        description="tool name or glob (ssh.*, *) -> the highest risk tier it may run; the most specific wins",
    )
    targets: dict[str, Tier] = Field(
        default_factory=dict,
        description="target kind (guest, node, docker, host) -> the highest tier of a call aimed at one; "
                    "a tool rule other than * wins over it",
    )
    requests: bool = Field(True, description="may send requests (bridge/request/...)")
    commands: bool = Field(False, description="may send commands on things (guest/<vmid>/action...)")
    approve: bool = Field(False, description="may approve or deny confirmations (of tools it may run itself)")
    autonomy: bool = Field(False, description="may switch autonomy (the kill switch)")
    terminal: bool = Field(False, description="may open the dashboard's SSH terminal")
    chat: bool = Field(False, description="may talk to the assistant")
    unrestricted: bool = Field(False, description="may aim tools anywhere (network.ping at any address)")

    @field_validator("tools")
    @classmethod
    def _globs(cls, value: dict[str, Tier]) -> dict[str, Tier]:
        bad = [k for k in value if not _TOOL_GLOB.match(k)]
        if bad:
            raise ValueError(f"tool patterns must be tool names or globs like ssh.* (got {bad})")
        return value


class AuthConfig(_Strict):
    """Who may do what: roles, the users file, the two-person rule."""

    users_file: str = Field("users.yaml", description="users and their roles (relative to config.yaml)")
    broker_passwd_file: str = Field("mosquitto/passwd", description="mosquitto's password file, for `jarvis passwd`")
    broker_acl_file: str = Field("mosquitto/acl", description="mosquitto's ACL file, for `jarvis passwd`")
    two_person_rule: bool = Field(False, description="a different user must approve a confirmation")
    anonymous_role: str | None = Field(
        None, description="role of anonymous broker clients (the demo's loopback broker: admin)"
    )
    roles: dict[str, RoleConfig] = Field(default_factory=dict, description="added roles, or built-in ones replaced")
    session_ttl_s: float = Field(12 * 3600.0, ge=60, description="lifetime of a dashboard's broker identity")

    @field_validator("roles")
    @classmethod
    def _role_names(cls, value: dict[str, RoleConfig]) -> dict[str, RoleConfig]:
        bad = [k for k in value if not re.match(NAME_PATTERN, k)]
        if bad:
            raise ValueError(f"role names must match {NAME_PATTERN} (got {bad})")
        return value


class Config(_Strict):
    """The whole config.yaml; ``plugins`` blocks are validated against each plugin's model."""

    mqtt: MqttConfig = MqttConfig()
    hub: HubConfig = HubConfig()
    safety: SafetyConfig = SafetyConfig()
    web: WebConfig = WebConfig()
    auth: AuthConfig = AuthConfig()
    plugins: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    _env_paths: set[str] = PrivateAttr(default_factory=set)
    _base_dir: Path | None = PrivateAttr(default=None)

    @property
    def env_paths(self) -> frozenset[str]:
        """Key paths whose values came from ``$env`` (never echoed in an error)."""
        return frozenset(self._env_paths)

    def resolve_path(self, value: str) -> Path:
        """Return a path from config, relative to the folder of config.yaml (or the working directory)."""
        path = Path(value).expanduser()
        if path.is_absolute() or self._base_dir is None:
            return path
        return self._base_dir / path

    def plugin_block(self, name: str) -> dict[str, Any]:
        """Return the raw block of one plugin (empty when absent)."""
        return dict(self.plugins.get(name) or {})

    def plugin_enabled(self, name: str) -> bool:
        """Return False only when the plugin's block says ``enabled: false``."""
        return self.plugin_block(name).get("enabled", True) is not False


def _resolve_env(
    value: Any, path: str, problems: list[str], secrets: bool = True, env_paths: set[str] | None = None
) -> Any:
    """Replace ``{"$env": NAME}`` (always a secret) and ``${NAME}`` / ``${NAME:-default}``.

    With ``secrets=False`` a ``$env`` value is not read at all: it becomes ``<$env NAME>``, and
    an unset ``${NAME}`` stays as written (for commands that only describe what could run).
    ``env_paths`` collects the key paths filled from ``$env``: their values are never echoed.
    """
    if isinstance(value, dict):
        if set(value) == {"$env"}:
            name = value["$env"]
            if env_paths is not None:
                env_paths.add(path)
            if not secrets:
                return f"<$env {name}>"
            if not isinstance(name, str) or name not in os.environ:
                problems.append(
                    f"{path}: environment variable {name!r} is not set "
                    f"(export it, or write the value in config.yaml)"
                )
                return None
            register_secret(os.environ[name])
            return os.environ[name]
        return {k: _resolve_env(v, f"{path}.{k}" if path else str(k), problems, secrets, env_paths)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{path}.{i}", problems, secrets, env_paths) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name not in os.environ:
                if default is not None:
                    return default
                if not secrets:
                    return match.group(0)
                problems.append(f"{path}: environment variable {name!r} is not set (export it)")
                return ""
            # Not registered as a secret here: ${NAME} also fills hosts and names; secret
            # fields are SecretStr and get registered once validated.
            return os.environ[name]

        return _ENV_REF.sub(substitute, value)
    return value


def format_validation_error(
    error: ValidationError, prefix: str = "", secret_paths: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """Turn a pydantic error into lines of ``key.path: what is expected (got ...)``.

    The value is shown only when it did not come from ``$env`` (``secret_paths``) and holds no
    known secret: a password put in the wrong key must not be printed.
    """
    lines = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"])
        path = ".".join(p for p in (prefix, loc) if p) or "(top level)"
        message = redact(str(item["msg"]))
        if item["type"] == "extra_forbidden":
            message = "unknown key (remove it or check its spelling)"
        got = item.get("input")
        secret = any(path == p or path.startswith(p + ".") for p in secret_paths) or (
            isinstance(got, str) and redact(got) != got)
        if isinstance(got, dict | list) or got is None:
            shown = ""
        elif secret:
            shown = " (the value comes from $env and is not shown)"
        else:
            shown = f" (got {got!r})"
        lines.append(f"{path}: {message}{shown}")
    return lines


def parse_config(raw: dict[str, Any] | None, *, secrets: bool = True, base_dir: Path | None = None) -> Config:
    """Validate a config dict (env references resolved); raise ConfigError naming each key.

    ``secrets=False`` leaves ``$env`` secrets unread (see ``_resolve_env``); relative paths
    (``auth.users_file``) are taken from ``base_dir``, the folder of config.yaml.
    """
    problems: list[str] = []
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(["(top level): expected a mapping of sections (mqtt, hub, plugins...)"])
    env_paths: set[str] = set()
    resolved = _resolve_env(raw or {}, "", problems, secrets, env_paths)
    try:
        config = Config.model_validate(resolved)
    except ValidationError as error:
        problems.extend(format_validation_error(error, secret_paths=env_paths))
        raise ConfigError(problems) from None
    problems.extend(_check_auth(config.auth))
    if problems:
        raise ConfigError(problems)
    config._env_paths = env_paths
    config._base_dir = base_dir
    if secrets and config.mqtt.password is not None:
        register_secret(config.mqtt.password.get_secret_value())
    return config


BUILTIN_ROLE_NAMES = ("viewer", "operator", "admin", "homeassistant")


def _check_auth(auth: AuthConfig) -> list[str]:
    """Cross-field checks of the auth section."""
    known = set(BUILTIN_ROLE_NAMES) | set(auth.roles)
    if auth.anonymous_role is not None and auth.anonymous_role not in known:
        return [f"auth.anonymous_role: no role named {auth.anonymous_role!r} "
                f"(roles: {', '.join(sorted(known))}); add it under auth.roles or pick one of those"]
    return []


def load_config(path: str | Path, *, secrets: bool = True) -> Config:
    """Read and validate a config.yaml file (``secrets=False``: leave ``$env`` secrets unread)."""
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{file}: no such file (pass -c PATH or create config.yaml)"]) from None
    except yaml.YAMLError as error:
        raise ConfigError([f"{file}: not valid YAML: {error}"]) from None
    return parse_config(raw, secrets=secrets, base_dir=file.resolve().parent)


def validate_plugin_block(
    model: type[BaseModel] | None, name: str, block: dict[str, Any], secret_paths: frozenset[str] = frozenset()
) -> Any:
    """Validate one plugin's block against its model; raise ConfigError naming the key path."""
    block = {k: v for k, v in block.items() if k != "enabled"}
    if model is None:
        if block:
            raise ConfigError([f"plugins.{name}: this plugin takes no settings (remove {sorted(block)})"])
        return None
    try:
        instance = model.model_validate(block)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, f"plugins.{name}", secret_paths)) from None
    _register_secret_fields(instance)
    return instance


def _register_secret_fields(value: Any) -> None:
    """Remember every SecretStr in a validated model so logs can redact it."""
    if isinstance(value, SecretStr):
        register_secret(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for field_name in type(value).model_fields:
            _register_secret_fields(getattr(value, field_name))
    elif isinstance(value, dict):
        for item in value.values():
            _register_secret_fields(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _register_secret_fields(item)
