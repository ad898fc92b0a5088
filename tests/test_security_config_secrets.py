"""Hole 9: a value from ``$env`` is never printed, even when it lands in the wrong key.

Before: ``port: {"$env": JARVIS_MQTT_PASSWORD}`` made ``jarvis check-config`` print the password
in clear in its "(got '...')" hint. A value filled from ``$env`` (or one holding any known
secret) is now described, never shown.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from jarvis.core.config import ConfigError, parse_config


def test_a_secret_in_a_core_key_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "pw-" + secrets.token_urlsafe(12)
    monkeypatch.setenv("JARVIS_MQTT_PASSWORD", secret)
    with pytest.raises(ConfigError) as caught:
        parse_config({"mqtt": {"port": {"$env": "JARVIS_MQTT_PASSWORD"}}})
    [problem] = caught.value.problems
    assert problem.startswith("mqtt.port: ") and "$env" in problem
    assert secret not in problem


async def test_a_secret_in_a_plugin_key_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    from jarvis.core.hub import Hub

    secret = "tok-" + secrets.token_urlsafe(12)
    monkeypatch.setenv("PVE_TOKEN_SECRET", secret)
    config = parse_config({"plugins": {"proxmox": {"endpoints": ["https://pve:8006"], "token_id": "a@pam!b",
                                                   "token_secret": "x", "timeout_s": {"$env": "PVE_TOKEN_SECRET"}}}})
    with pytest.raises(ConfigError) as caught:
        Hub(config, plugins=["proxmox"], entrypoints=False).validate_config()
    text = "\n".join(caught.value.problems)
    assert "plugins.proxmox.timeout_s" in text and secret not in text


def test_check_config_does_not_print_the_password(tmp_path: Path) -> None:
    secret = "pw-" + secrets.token_urlsafe(12)
    config = tmp_path / "config.yaml"
    config.write_text('mqtt:\n  port: {"$env": JARVIS_MQTT_PASSWORD}\n')
    result = subprocess.run([str(Path(sys.executable).with_name("jarvis")), "check-config", "-c", str(config)],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "JARVIS_MQTT_PASSWORD": secret, "JARVIS_LOAD_PLUGINS": ""})
    assert result.returncode == 2
    assert "mqtt.port" in result.stderr
    assert secret not in result.stdout + result.stderr
