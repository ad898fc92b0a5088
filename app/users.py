"""``jarvis passwd`` and ``jarvis broker-users``: users, the broker's accounts and grants, together.

One command changes all three places a user lives, so they never disagree: the users file
(role and argon2 hash of the dashboard password, read by the hub), mosquitto's password file
and mosquitto's ACL (regenerated from the users file and the roles in config). The broker
re-reads its files on SIGHUP; the hub notices the users file by itself.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from jarvis.core.config import Config
from jarvis.core.users import LEGACY_ROLES, UserRecord, check_username, hash_password, read_users, write_users
from jarvis.mqtt import accounts
from jarvis.mqtt.broker import mosquitto_dir

RELOAD_HINT = ("mosquitto re-reads its password file and ACL on SIGHUP: `docker compose kill -s HUP mosquitto`, "
               "`systemctl reload mosquitto` or `kill -HUP <pid>`")


def _paths(config: Config, users_file: str | None, passwd_file: str | None, acl_file: str | None) -> tuple[Path, ...]:
    auth = config.auth
    return (
        Path(users_file) if users_file else config.resolve_path(auth.users_file),
        Path(passwd_file) if passwd_file else config.resolve_path(auth.broker_passwd_file),
        Path(acl_file) if acl_file else config.resolve_path(auth.broker_acl_file),
    )


def _template(acl_path: Path) -> str:
    """The ACL's fixed part: the file in use if there is one, else the shipped mosquitto/acl."""
    if acl_path.is_file():
        return acl_path.read_text(encoding="utf-8")
    folder = mosquitto_dir()
    if folder is None:
        raise SystemExit("jarvis: mosquitto/acl is not part of this installation; pass --acl-file")
    return (folder / "acl").read_text(encoding="utf-8")


def _topic_roots(config: Config) -> list[str]:
    """The first topic level of every entity kind the configured plugins publish (users may read them)."""
    from jarvis.core.hub import Hub

    async def roots() -> list[str]:
        hub = Hub(config)
        await hub.start(run_sources=False)
        try:
            return sorted({kind.topic.split("/")[0] for kind in hub.registrations.kinds.items.values()})
        finally:
            await hub.stop()

    return asyncio.run(roots())


def regenerate_acl(config: Config, users: dict[str, UserRecord], acl_path: Path) -> None:
    """Rewrite the ACL's generated part from the users and the roles in config."""
    from jarvis.core.auth import BUILTIN_ROLES

    roles = {**BUILTIN_ROLES, **config.auth.roles}
    text = accounts.render_acl(_template(acl_path), {n: u.role for n, u in users.items()}, roles,
                               config.mqtt.base_topic, _topic_roots(config), config.hub.discovery_prefix)
    accounts.write_acl(acl_path, text)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("jarvis passwd: the passwords differ; nothing changed")
    return first


def passwd(config: Config, ns: Any) -> int:
    """Add or change a user (role and password), or delete one; keep the broker's files in step."""
    users_path, passwd_path, acl_path = _paths(config, ns.users_file, ns.passwd_file, ns.acl_file)
    try:
        name = check_username(ns.user)
    except ValueError as error:
        print(f"jarvis passwd: {error}", file=sys.stderr)
        return 2
    users = read_users(users_path)
    entries = accounts.read_passwd(passwd_path)
    if ns.delete:
        if name not in users and name not in entries:
            print(f"jarvis passwd: no user {name!r}", file=sys.stderr)
            return 1
        users.pop(name, None)
        entries.pop(name, None)
    else:
        known = {"viewer", "operator", "admin", "homeassistant", *config.auth.roles}
        role = ns.role or (users[name].role if name in users else None)
        if role is None or role not in known:
            print(f"jarvis passwd: give a role with --role (one of {', '.join(sorted(known))}); "
                  "define others under auth.roles in config.yaml", file=sys.stderr)
            return 2
        password = _read_password(ns.password_stdin)
        try:
            digest = hash_password(password)
        except ValueError as error:
            print(f"jarvis passwd: {error}", file=sys.stderr)
            return 2
        users[name] = UserRecord(name, role, digest)
        entries[name] = accounts.mosquitto_hash(password)
    write_users(users_path, users)
    accounts.write_passwd(passwd_path, entries)
    regenerate_acl(config, users, acl_path)
    what = "deleted" if ns.delete else f"role {users[name].role}"
    print(f"{name}: {what} ({users_path}, {passwd_path}, {acl_path})")
    print(RELOAD_HINT)
    return 0


def broker_users(config: Config, ns: Any) -> int:
    """Create the contract's accounts (hub, dashboard, homeassistant) and regenerate the ACL."""
    users_path, passwd_path, acl_path = _paths(config, ns.users_file, ns.passwd_file, ns.acl_file)
    users = read_users(users_path)
    if ns.list:
        for name in sorted(users):
            print(f"{name:<20} {users[name].role:<14} {'web login' if users[name].password_hash else ''}")
        return 0
    entries = accounts.read_passwd(passwd_path)
    generated: list[str] = []
    for name in accounts.SERVICE_ACCOUNTS:
        password = os.environ.get(f"JARVIS_MQTT_{name.upper()}_PASSWORD")
        if not password and name in entries and not ns.regenerate:
            print(f"{name}: unchanged")
            continue
        if not password:
            password = secrets.token_urlsafe(18)
            generated.append(f"{name}={password}")
        entries[name] = accounts.mosquitto_hash(password)
        print(f"{name}: set")
    for name, role in LEGACY_ROLES.items():
        users.setdefault(name, UserRecord(name, role))
    write_users(users_path, users)
    accounts.write_passwd(passwd_path, entries)
    regenerate_acl(config, users, acl_path)
    if generated:
        print("\nGenerated passwords (shown only this once; store them in the clients' config):")
        print("".join(f"  {line}\n" for line in generated), end="")
    print(f"Users file: {users_path}\nPassword file: {passwd_path}\nACL: {acl_path}\n{RELOAD_HINT}")
    return 0
