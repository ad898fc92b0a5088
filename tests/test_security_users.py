"""`jarvis broker-users` and `jarvis passwd`: the users file, mosquitto's accounts and its ACL, in step.

Run as a user would (the CLI in a subprocess), then checked against a real mosquitto started
from the files it wrote: the new user logs in, writes only its own topic space as its role
allows, reads only its own replies; the hub reads its role and verifies its dashboard password;
a role change or a deletion takes effect on both sides.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jarvis.core.config import load_config
from jarvis.core.hub import Hub
from jarvis.core.users import read_users
from jarvis.mqtt.broker import MosquittoProcess

from tests.fixtures.broker import MqttPeer, ensure_mosquitto

JARVIS = str(Path(sys.executable).with_name("jarvis"))
PASSWORD = "correct horse battery"


def jarvis(*args: str, stdin: str | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([JARVIS, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False,
                          cwd=cwd, env={**os.environ, "JARVIS_LOAD_PLUGINS": "network"})


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A deployment folder: config.yaml, and the files the commands write next to it."""
    os.chmod(tmp_path, 0o755)  # mosquitto reads the copies as its own user
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({
        "auth": {"users_file": "users.yaml", "broker_passwd_file": "mosquitto/passwd",
                 "broker_acl_file": "mosquitto/acl"},
        "plugins": {"network": {"hosts": {"nas": {"address": "127.0.0.1"}}}},
    }))
    return tmp_path


def start_broker(site: Path) -> MosquittoProcess:
    ensure_mosquitto()
    broker = MosquittoProcess(mode="secure", password_file=site / "mosquitto" / "passwd")
    shutil.copyfile(site / "mosquitto" / "acl", broker.workdir / "acl")
    return broker.start()


def refresh(broker: MosquittoProcess, site: Path) -> None:
    """What an operator does after `jarvis passwd`: the broker re-reads its files (SIGHUP)."""
    shutil.copyfile(site / "mosquitto" / "passwd", broker.workdir / "passwd")
    shutil.copyfile(site / "mosquitto" / "acl", broker.workdir / "acl")
    broker._prepare_workdir()
    broker.reload()


async def can_publish(broker: MosquittoProcess, user: str, password: str, topic: str) -> bool:
    """True when the broker takes the login and the QoS 1 publish (its PUBACK says so in MQTT 5)."""

    def attempt() -> bool:
        with MqttPeer(broker, user, password=password) as peer:
            if peer.connect().is_failure:
                return False
            return not peer.publish(topic, "x").is_failure

    return await asyncio.to_thread(attempt)


async def test_passwd_adds_a_user_the_broker_and_the_hub_both_know(site: Path) -> None:
    made = jarvis("broker-users", "-c", "config.yaml", cwd=site)
    assert made.returncode == 0, made.stderr
    service = dict(re.findall(r"^  (\w+)=(\S+)$", made.stdout, re.M))
    assert set(service) == {"hub", "dashboard", "homeassistant"}
    added = jarvis("passwd", "-c", "config.yaml", "alice", "--role", "operator", "--password-stdin",
                   stdin=PASSWORD + "\n", cwd=site)
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in (site / "users.yaml").read_text() + (site / "mosquitto" / "passwd").read_text()
    assert {n: u.role for n, u in read_users(site / "users.yaml").items()} == {
        "alice": "operator", "dashboard": "operator", "homeassistant": "homeassistant"}

    broker = start_broker(site)
    try:
        assert await can_publish(broker, "alice", PASSWORD, "jarvis/user/alice/guest/100/action")
        assert await can_publish(broker, "alice", PASSWORD, "jarvis/user/alice/bridge/request/tool/x")
        assert not await can_publish(broker, "alice", PASSWORD, "jarvis/user/bob/guest/100/action")
        assert not await can_publish(broker, "alice", PASSWORD, "jarvis/guest/100/action")
        assert not await can_publish(broker, "alice", "wrong password", "jarvis/user/alice/guest/100/action")
        assert await can_publish(broker, "dashboard", service["dashboard"], "jarvis/guest/100/action")

        hub = Hub(load_config(site / "config.yaml", secrets=False), plugins=[], entrypoints=False)
        caller = hub.auth.verify_password("alice", PASSWORD)
        assert caller is not None and (caller.source, caller.user, caller.role) == ("web", "alice", "operator")
        assert hub.auth.verify_password("alice", "wrong password") is None
        assert hub.auth.verify_password("dashboard", service["dashboard"]) is None  # no web login

        # Demoted to viewer: the broker (after a reload) and the hub (by itself) follow.
        demoted = jarvis("passwd", "-c", "config.yaml", "alice", "--role", "viewer", "--password-stdin",
                         stdin=PASSWORD + "\n", cwd=site)
        assert demoted.returncode == 0, demoted.stderr
        refresh(broker, site)
        await asyncio.sleep(0.5)
        assert not await can_publish(broker, "alice", PASSWORD, "jarvis/user/alice/guest/100/action")
        assert await can_publish(broker, "alice", PASSWORD, "jarvis/user/alice/bridge/request/tool/x")
        hub.auth.users.reload()
        assert hub.auth.role_of("alice") == "viewer"

        gone = jarvis("passwd", "-c", "config.yaml", "alice", "--delete", cwd=site)
        assert gone.returncode == 0, gone.stderr
        refresh(broker, site)
        await asyncio.sleep(0.5)
        assert not await can_publish(broker, "alice", PASSWORD, "jarvis/user/alice/bridge/request/tool/x")
        hub.auth.users.reload()
        assert hub.auth.role_of("alice") is None and hub.auth.verify_password("alice", PASSWORD) is None
    finally:
        broker.close()


@pytest.mark.parametrize(("args", "message"), [
    (["passwd", "hub", "--role", "admin", "--password-stdin"], "reserved"),
    (["passwd", "web-alice", "--role", "admin", "--password-stdin"], "reserved"),
    (["passwd", "Alice", "--role", "admin", "--password-stdin"], "must match"),
    (["passwd", "bob", "--role", "overlord", "--password-stdin"], "give a role"),
    (["passwd", "bob", "--role", "admin", "--password-stdin"], "at least 8"),
])
def test_passwd_refuses_what_it_cannot_keep(site: Path, args: list[str], message: str) -> None:
    result = jarvis(*args[:1], "-c", "config.yaml", *args[1:], stdin="short\n", cwd=site)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (site / "users.yaml").exists()


def test_check_config_names_a_broken_users_file(site: Path) -> None:
    (site / "users.yaml").write_text("users:\n  carol: {role: overlord}\n  dave: {role: viewer, password: hunter2}\n")
    result = jarvis("check-config", "-c", "config.yaml", cwd=site)
    assert result.returncode == 2 and "users.dave.password" in result.stderr and "argon2" in result.stderr
    assert "hunter2" not in result.stderr
    (site / "users.yaml").write_text("users:\n  carol: {role: overlord}\n")
    result = jarvis("check-config", "-c", "config.yaml", cwd=site)
    assert result.returncode == 2 and "users.carol.role: no role named 'overlord'" in result.stderr
