"""Configured secrets never reach a file: the hub's redactor masks every string before it is stored."""

from __future__ import annotations

from pathlib import Path

import orjson
from jarvis.core.redact import redact, register_secret

from tests.fixtures.memory import FakeClock, open_store

SECRET = "pve-T0ken-9f3a1c77e2"


def test_a_configured_secret_is_in_no_file_and_not_searchable(tmp_path: Path) -> None:
    register_secret(SECRET)
    clock = FakeClock()
    with open_store(tmp_path, clock, mask=redact, segment_records=3) as db:
        alert = db.events.add(type="alert", summary=f"login failed with {SECRET}",
                              details={"headers": {"Authorization": f"PVEAPIToken=root@pam!jarvis={SECRET}"},
                                       SECRET: [SECRET, {"deep": SECRET}]})  # fmt: skip
        db.events.add(type="status", summary="ok", source=SECRET, node=f"node-{SECRET}")
        db.actions.add(tool="ssh.run", status="error", args={"command": f"curl -H 'token: {SECRET}'"},
                       result={"stdout": SECRET}, error=f"exit 1: {SECRET}", requested_by=SECRET)  # fmt: skip
        db.conversations.add("s1", "user", f"my token is {SECRET}", tool_calls=[{"args": {"t": SECRET}}])
        db.snapshots.add({"nodes": [{"name": "pve1", "note": SECRET}]})
        db.preferences.set(f"key-{SECRET}", f"value-{SECRET}")
        db.memories.remember(f"the token is {SECRET}", tags=[SECRET])
        clock.advance(3600)
        db.events.resolve(alert, by=SECRET)  # rewrites a sealed segment
        db.events.add(type="status", summary="newest")

        assert db.search(SECRET) == []
        assert db.events.get(alert)["summary"] == "login failed with ***"  # type: ignore[index]

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 8
    assert [str(p.relative_to(tmp_path)) for p in files if SECRET.encode() in p.read_bytes()] == []
    assert any(b"***" in p.read_bytes() for p in files)


def test_without_a_mask_values_are_stored_as_given(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        db.events.add(type="status", summary="plain text stays")

    assert b"plain text stays" in next((tmp_path / "events").glob("*.json")).read_bytes()


def test_a_secret_with_quotes_and_backslashes_is_masked_in_escaped_json(tmp_path: Path) -> None:
    secret = 'pa"ss\\w0rd!'  # JSON writes it as pa\"ss\\w0rd!
    register_secret(secret)
    with open_store(tmp_path, mask=redact) as db:
        db.events.add(type="alert", summary=f"login with {secret}", details={"cmd": f"mysql -p'{secret}'"})
        db.events.add(type="status", summary='plain "quoted" text, C:\\path, no secret')
        stored = [e["summary"] for e in db.events.recent()]

    raw = next((tmp_path / "events").glob("*.json")).read_bytes()
    assert secret.encode() not in raw and orjson.dumps(secret)[1:-1] not in raw
    assert stored == ['plain "quoted" text, C:\\path, no secret', "login with ***"]
