"""config.yaml: validation errors name the key path, ``$env`` secrets resolve and never leak."""

from __future__ import annotations

import io
import logging
import secrets
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jarvis.core import Event, Risk, Tool, ToolCall, ToolError, hookimpl
from jarvis.core.config import Config, ConfigError, parse_config
from jarvis.core.hub import Hub
from jarvis.core.redact import install_log_redaction
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tests.fixtures.hub import running_hub
from tests.fixtures.thirdparty import VENV_BIN, run_jarvis

NO_PLUGINS = {"JARVIS_LOAD_PLUGINS": ""}


def problems_of(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


# -- core sections --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, {}, {"mqtt": {"host": "broker.lan"}, "plugins": {"proxmox": None}}])
def test_a_minimal_config_is_valid_with_defaults(raw: Any) -> None:
    config = parse_config(raw)
    assert isinstance(config, Config)
    assert config.mqtt.base_topic == "jarvis"
    assert config.mqtt.port == 1883
    assert config.safety.autonomy == "notify"
    assert config.hub.discovery_prefix == "homeassistant"


def test_an_unknown_key_is_named_with_its_path() -> None:
    problems = problems_of({"mqtt": {"hots": "broker.lan"}})
    assert problems == ["mqtt.hots: unknown key (remove it or check its spelling) (got 'broker.lan')"]
    assert problems_of({"mqt": {}})[0].startswith("mqt: unknown key")
    assert problems_of({"safety": {"protected": {"guest": [100]}}})[0].startswith("safety.protected.guest: unknown key")


def test_a_wrong_type_names_the_path_and_what_is_expected() -> None:
    [problem] = problems_of({"mqtt": {"port": "eighteen"}})
    assert problem.startswith("mqtt.port: ")
    assert "valid integer" in problem and "'eighteen'" in problem
    [too_big] = problems_of({"mqtt": {"port": 70000}})
    assert too_big.startswith("mqtt.port: ") and "65535" in too_big
    [mode] = problems_of({"safety": {"autonomy": "yolo"}})
    assert mode.startswith("safety.autonomy: ") and "'off'" in mode and "'act'" in mode


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of({"mqtt": {"port": "x", "hots": 1}, "hub": {"log_level": "LOUD"}})
    assert sorted(p.split(":")[0] for p in problems) == ["hub.log_level", "mqtt.hots", "mqtt.port"]


def test_the_top_level_must_be_a_mapping() -> None:
    assert "expected a mapping" in problems_of(["mqtt"])[0]


# -- plugin blocks --------------------------------------------------------------------------------


class DemoConfig(BaseModel):
    """A plugin's config model."""

    model_config = ConfigDict(extra="forbid")
    url: str = "https://pve.lan:8006"
    token: SecretStr | None = None
    retries: int = Field(3, ge=0)


class DemoPlugin:
    """Registers DemoConfig and keeps the validated instance it was started with."""

    def __init__(self) -> None:
        self.config: DemoConfig | None = None

    @hookimpl
    def register_config(self, register: Any) -> None:
        register(DemoConfig)

    @hookimpl
    def on_start(self, ctx: Any) -> None:
        self.config = ctx.config


def validate(raw: dict[str, Any], **extra: Any) -> Hub:
    hub = Hub(parse_config(raw), entrypoints=False, plugins=list(extra), extra_plugins=extra)
    hub.validate_config()
    return hub


def test_a_plugin_block_is_validated_against_its_model() -> None:
    plugin = DemoPlugin()
    hub = validate({"plugins": {"demo": {"retries": 5}}}, demo=plugin)
    config = hub.contexts["demo"].config
    assert isinstance(config, DemoConfig)
    assert config.retries == 5 and config.url == "https://pve.lan:8006"


def test_an_empty_plugin_block_gets_the_defaults() -> None:
    hub = validate({"plugins": {"demo": None}}, demo=DemoPlugin())
    assert hub.contexts["demo"].config == DemoConfig()


def test_plugin_block_errors_name_plugins_dot_name_dot_field() -> None:
    with pytest.raises(ConfigError) as caught:
        validate({"plugins": {"demo": {"retries": "many", "colour": "red"}}}, demo=DemoPlugin())
    problems = caught.value.problems
    assert any(p.startswith("plugins.demo.retries: ") and "'many'" in p for p in problems), problems
    assert any(p.startswith("plugins.demo.colour: unknown key") for p in problems), problems


def test_a_plugin_without_a_model_takes_no_settings() -> None:
    class Bare:
        @hookimpl
        def on_start(self) -> None:
            pass

    validate({"plugins": {"bare": {"enabled": True}}}, bare=Bare())
    with pytest.raises(ConfigError, match=r"plugins\.bare: this plugin takes no settings"):
        validate({"plugins": {"bare": {"speed": 3}}}, bare=Bare())


def test_an_unknown_plugin_name_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        validate({"plugins": {"demo": {}, "proxmax": {"url": "x"}}}, demo=DemoPlugin())
    [problem] = caught.value.problems
    assert problem.startswith("plugins.proxmax: no plugin named 'proxmax'")
    assert "demo" in problem, "the message lists what is installed"


async def test_the_started_plugin_receives_its_validated_config() -> None:
    plugin = DemoPlugin()
    async with running_hub({"plugins": {"demo": {"url": "https://a:8006"}}}, extra_plugins={"demo": plugin}):
        assert plugin.config == DemoConfig(url="https://a:8006")


# -- environment references -----------------------------------------------------------------------


def test_env_references_are_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JARVIS_T_PASS", "hunter22")
    monkeypatch.setenv("JARVIS_T_HOST", "broker.lan")
    config = parse_config({"mqtt": {"password": {"$env": "JARVIS_T_PASS"}, "host": "${JARVIS_T_HOST}",
                                    "username": "u-${JARVIS_T_HOST}-${JARVIS_T_HOST}"}})
    assert config.mqtt.password is not None and config.mqtt.password.get_secret_value() == "hunter22"
    assert config.mqtt.host == "broker.lan"
    assert config.mqtt.username == "u-broker.lan-broker.lan"
    assert "hunter22" not in repr(config)


def test_env_references_in_plugin_blocks_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JARVIS_T_TOKEN", "tok-1234")
    hub = validate({"plugins": {"demo": {"token": {"$env": "JARVIS_T_TOKEN"}}},
                    "safety": {"protected": {"nodes": ["${JARVIS_T_TOKEN}"]}}}, demo=DemoPlugin())
    assert hub.contexts["demo"].config.token.get_secret_value() == "tok-1234"
    assert hub.config.safety.protected.nodes == ["tok-1234"]


def test_a_missing_env_var_names_the_key_and_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JARVIS_T_MISSING", raising=False)
    [problem] = problems_of({"plugins": {"demo": {"token": {"$env": "JARVIS_T_MISSING"}}}})
    assert problem.startswith("plugins.demo.token: ") and "'JARVIS_T_MISSING' is not set" in problem
    [inline] = problems_of({"mqtt": {"host": "${JARVIS_T_MISSING}"}})
    assert inline.startswith("mqtt.host: ") and "JARVIS_T_MISSING" in inline
    [listed] = problems_of({"safety": {"protected": {"nodes": ["${JARVIS_T_MISSING}"]}}})
    assert listed.startswith("safety.protected.nodes.0: ")


# -- jarvis check-config --------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_check_config_accepts_a_good_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "good.yaml", """\
        mqtt:
          host: 127.0.0.1
          base_topic: lab
        safety:
          autonomy: "off"
        """)
    result = run_jarvis("check-config", "-c", str(cfg), env=NO_PLUGINS)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_check_config_names_the_bad_key_and_exits_2(tmp_path: Path) -> None:
    cfg = write(tmp_path / "bad.yaml", """\
        mqtt:
          hots: 127.0.0.1
          port: many
        """)
    result = run_jarvis("check-config", "-c", str(cfg), env=NO_PLUGINS)
    assert result.returncode == 2
    assert "mqtt.hots: unknown key" in result.stderr
    assert "mqtt.port:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("text", "expected"), [
    ("mqtt: {host: [unclosed\n", "not valid YAML"),
    ("mqtt:\n  host: a\n    port: 1\n", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_check_config_explains_malformed_yaml(tmp_path: Path, text: str, expected: str) -> None:
    cfg = tmp_path / "broken.yaml"
    cfg.write_text(text)
    result = run_jarvis("check-config", "-c", str(cfg), env=NO_PLUGINS)
    assert result.returncode == 2
    assert expected in result.stderr and str(cfg) in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_reports_a_missing_file_and_env_var(tmp_path: Path) -> None:
    missing = run_jarvis("check-config", "-c", str(tmp_path / "nope.yaml"), env=NO_PLUGINS)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    cfg = write(tmp_path / "env.yaml", "mqtt:\n  password: {$env: JARVIS_T_UNSET}\n")
    unset = run_jarvis("check-config", "-c", str(cfg), env=NO_PLUGINS)
    assert unset.returncode == 2
    assert "mqtt.password" in unset.stderr and "JARVIS_T_UNSET" in unset.stderr


# -- secrets never leak ---------------------------------------------------------------------------


class VaultConfig(BaseModel):
    """A plugin config holding a secret."""

    token: SecretStr
    url: str


class VaultPlugin:
    """Misbehaves with its secret every way a plugin might."""

    @hookimpl
    def register_config(self, register: Any) -> None:
        register(VaultConfig)

    @hookimpl
    def on_start(self, ctx: Any) -> None:
        ctx.log.error("login to %s failed with token %s", ctx.config.url, ctx.config.token.get_secret_value())

    @hookimpl
    def register_tools(self, register: Any, ctx: Any) -> None:
        token = ctx.config.token.get_secret_value()

        class Say(BaseModel):
            text: str = ""

        async def reveal(args: Say, call: ToolCall) -> dict[str, Any]:
            return {"token": token, "nested": [f"Bearer {token}"]}

        async def crash(args: Say, call: ToolCall) -> None:
            raise RuntimeError(f"upstream rejected token {token}")

        async def refuse(args: Say, call: ToolCall) -> None:
            raise ToolError("denied", f"token {token} has expired")

        async def echo(args: Say, call: ToolCall) -> str:
            return args.text

        for name, handler in (("reveal", reveal), ("crash", crash), ("refuse", refuse), ("echo", echo)):
            register(Tool(name=name, description=f"{name} via {ctx.config.url}", args=Say, risk=Risk.READ,
                          handler=handler))


class FailsWithSecret:
    """Fails to start with the secret in its exception."""

    @hookimpl
    def register_config(self, register: Any) -> None:
        register(VaultConfig)

    @hookimpl
    def on_start(self, ctx: Any) -> None:
        raise PermissionError(f"401 for token {ctx.config.token.get_secret_value()}")


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"s3cr3t-{secrets.token_hex(8)}"
    monkeypatch.setenv("JARVIS_T_SECRET", value)
    return value


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything logged while the test runs, through a root handler with the redacting filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    install_log_redaction()
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def vault_config(*names: str) -> dict[str, Any]:
    block = {"token": {"$env": "JARVIS_T_SECRET"}, "url": "https://api:${JARVIS_T_SECRET}@vault.lan"}
    return {"plugins": {name: block for name in names}}


async def test_a_secret_never_reaches_the_logs(secret: str, log_output: io.StringIO) -> None:
    plugins = {"vault": VaultPlugin(), "broken": FailsWithSecret()}
    async with running_hub(vault_config("vault", "broken"), extra_plugins=plugins) as hub:
        assert (await hub.call_tool("vault.crash", {}, source="cli"))["status"] == "error"
    logged = log_output.getvalue()
    assert "login to https://api:***@vault.lan failed with token ***" in logged
    assert "RuntimeError: upstream rejected token ***" in logged, "the traceback is logged, masked"
    assert "PermissionError" in logged
    assert secret not in logged


def test_setup_logging_masks_secrets_in_a_real_process(secret: str) -> None:
    code = textwrap.dedent("""\
        import logging, os
        from jarvis.core.config import parse_config
        from jarvis.core.runner import setup_logging
        parse_config({"mqtt": {"password": {"$env": "JARVIS_T_SECRET"}}})
        setup_logging("INFO")
        log = logging.getLogger("jarvis.test")
        log.error("password is %s", os.environ["JARVIS_T_SECRET"])
        try:
            raise ValueError("bad password " + os.environ["JARVIS_T_SECRET"])
        except ValueError:
            log.exception("it failed")
        """)
    result = subprocess.run([str(VENV_BIN / "python"), "-c", code], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "password is ***" in result.stderr
    assert "ValueError: bad password ***" in result.stderr
    assert secret not in result.stderr + result.stdout


async def test_a_secret_never_reaches_bridge_info_or_health(secret: str) -> None:
    plugins = {"vault": VaultPlugin(), "broken": FailsWithSecret()}
    async with running_hub(vault_config("vault", "broken"), extra_plugins=plugins) as hub:
        info, health = hub.info(), hub.health()
        broken = next(p for p in info["plugins"] if p["name"] == "broken")
        assert broken["status"] == "failed" and "401 for token ***" in broken["reason"]
        described = next(t for t in info["tools"] if t["name"] == "vault.echo")
        assert described["description"] == "echo via https://api:***@vault.lan"
        for payload in (info, health, hub.state.get(("bridge", "info")), hub.state.get(("bridge", "health"))):
            assert secret not in repr(payload)


async def test_a_secret_never_reaches_tool_replies_or_events(secret: str) -> None:
    async with running_hub(vault_config("vault"), extra_plugins={"vault": VaultPlugin()}) as hub:
        events: list[Event] = []
        hub.events_subscribe(events.append)
        revealed = await hub.call_tool("vault.reveal", {}, source="llm")
        assert revealed == {"status": "ok", "data": {"token": "***", "nested": ["Bearer ***"]}}
        crashed = await hub.call_tool("vault.crash", {}, source="cli")
        assert crashed["error"]["message"].endswith("upstream rejected token ***")
        refused = await hub.call_tool("vault.refuse", {}, source="cli")
        assert refused["error"] == {"code": "denied", "message": "token *** has expired"}
        echoed = await hub.call_tool("vault.echo", {"text": f"my token is {secret}"}, source="web")
        assert echoed["data"] == "my token is ***"
        hub.emit(Event(type="alert", summary=f"token {secret} leaked", details={"why": [secret]}))
        assert len(events) == 5
        for event in events:
            assert secret not in repr(event.to_dict())
        assert events[3].details["args"] == {"text": "my token is ***"}
