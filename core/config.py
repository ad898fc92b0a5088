"""config.yaml: pydantic models, ``$env`` secret resolution and errors that name the key path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from jarvis.core.redact import register_secret
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

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


class SafetyConfig(_Strict):
    """Autonomy, confirmations, protection and rate limits."""

    autonomy: Literal["off", "notify", "act"] = "notify"
    confirmation_ttl_s: float = Field(300.0, gt=0)
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


class Config(_Strict):
    """The whole config.yaml; ``plugins`` blocks are validated against each plugin's model."""

    mqtt: MqttConfig = MqttConfig()
    hub: HubConfig = HubConfig()
    safety: SafetyConfig = SafetyConfig()
    web: WebConfig = WebConfig()
    plugins: dict[str, dict[str, Any] | None] = Field(default_factory=dict)

    def plugin_block(self, name: str) -> dict[str, Any]:
        """Return the raw block of one plugin (empty when absent)."""
        return dict(self.plugins.get(name) or {})

    def plugin_enabled(self, name: str) -> bool:
        """Return False only when the plugin's block says ``enabled: false``."""
        return self.plugin_block(name).get("enabled", True) is not False


def _resolve_env(value: Any, path: str, problems: list[str], secrets: bool = True) -> Any:
    """Replace ``{"$env": NAME}`` (always a secret) and ``${NAME}`` / ``${NAME:-default}``.

    With ``secrets=False`` a ``$env`` value is not read at all: it becomes ``<$env NAME>``, and
    an unset ``${NAME}`` stays as written (for commands that only describe what could run).
    """
    if isinstance(value, dict):
        if set(value) == {"$env"}:
            name = value["$env"]
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
        return {k: _resolve_env(v, f"{path}.{k}" if path else str(k), problems, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{path}.{i}", problems, secrets) for i, v in enumerate(value)]
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


def format_validation_error(error: ValidationError, prefix: str = "") -> list[str]:
    """Turn a pydantic error into lines of ``key.path: what is expected (got ...)``."""
    lines = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"])
        path = ".".join(p for p in (prefix, loc) if p) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (remove it or check its spelling)"
        got = item.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        lines.append(f"{path}: {message}{shown}")
    return lines


def parse_config(raw: dict[str, Any] | None, *, secrets: bool = True) -> Config:
    """Validate a config dict (env references resolved); raise ConfigError naming each key.

    ``secrets=False`` leaves ``$env`` secrets unread (see ``_resolve_env``).
    """
    problems: list[str] = []
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(["(top level): expected a mapping of sections (mqtt, hub, plugins...)"])
    resolved = _resolve_env(raw or {}, "", problems, secrets)
    try:
        config = Config.model_validate(resolved)
    except ValidationError as error:
        problems.extend(format_validation_error(error))
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    if secrets and config.mqtt.password is not None:
        register_secret(config.mqtt.password.get_secret_value())
    return config


def load_config(path: str | Path, *, secrets: bool = True) -> Config:
    """Read and validate a config.yaml file (``secrets=False``: leave ``$env`` secrets unread)."""
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{file}: no such file (pass -c PATH or create config.yaml)"]) from None
    except yaml.YAMLError as error:
        raise ConfigError([f"{file}: not valid YAML: {error}"]) from None
    return parse_config(raw, secrets=secrets)


def validate_plugin_block(model: type[BaseModel] | None, name: str, block: dict[str, Any]) -> Any:
    """Validate one plugin's block against its model; raise ConfigError naming the key path."""
    block = {k: v for k, v in block.items() if k != "enabled"}
    if model is None:
        if block:
            raise ConfigError([f"plugins.{name}: this plugin takes no settings (remove {sorted(block)})"])
        return None
    try:
        instance = model.model_validate(block)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, f"plugins.{name}")) from None
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
