"""The users file: each user's role and (hashed) web password, read by the hub, written by the CLI.

    # users.yaml, written by `jarvis passwd` and `jarvis broker-users`
    users:
      alice: {role: operator, password: "$argon2id$v=19$m=65536,t=3,p=4$..."}
      homeassistant: {role: homeassistant}     # a broker account without a web login

Passwords are only ever stored as argon2id hashes. The hub re-reads the file when it changes,
so `jarvis passwd` takes effect without a restart.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

USERNAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
RESERVED = frozenset({"hub", "anonymous"})
"""Names no user may take: the hub's own account and the demo's anonymous caller."""
SESSION_PREFIX = "web-"
"""Broker usernames minted for dashboard sessions start with this; no user may."""
LEGACY_ROLES: Mapping[str, str] = {"dashboard": "operator", "homeassistant": "homeassistant"}
"""The contract's shared broker accounts and their roles when the users file does not say."""
RECHECK_S = 2.0  # stat the file at most this often
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash verified for unknown users, so they cost the same work (made on first use: ~0.3 s)."""
    return _HASHER.hash("a password nobody has")


class UsersFileError(ValueError):
    """The users file is unreadable or malformed (the message names the file and the key)."""


def check_username(name: str) -> str:
    """Return ``name`` if it can be a Jarvis user (and a broker username and a topic level)."""
    if not USERNAME.match(name):
        raise ValueError(f"user name {name!r} must match {USERNAME.pattern} (lowercase letters, digits, _ and -)")
    if name in RESERVED or name.startswith(SESSION_PREFIX):
        raise ValueError(f"user name {name!r} is reserved (hub, anonymous and web-* are the hub's own)")
    return name


def hash_password(password: str) -> str:
    """Return an argon2id hash of ``password``."""
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return _HASHER.hash(password)


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One user: a role, and a password hash when it may log into the dashboard."""

    name: str
    role: str
    password_hash: str | None = None

    def to_yaml(self) -> dict[str, Any]:
        """Return the user's entry in the file."""
        entry: dict[str, Any] = {"role": self.role}
        if self.password_hash:
            entry["password"] = self.password_hash
        return entry


def read_users(path: Path) -> dict[str, UserRecord]:
    """Read the users file (an absent file is no users); raise UsersFileError naming the key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as error:
        raise UsersFileError(f"{path}: cannot read it: {error}") from None
    if raw is None:
        return {}
    entries = raw.get("users") if isinstance(raw, dict) else None
    if entries is None:
        entries = {}
    if not isinstance(entries, dict):
        raise UsersFileError(f"{path}: users: expected a mapping of user name -> {{role, password}}")
    users: dict[str, UserRecord] = {}
    for name, entry in entries.items():
        if not isinstance(name, str) or not USERNAME.match(name):
            raise UsersFileError(f"{path}: users.{name}: not a valid user name ({USERNAME.pattern})")
        if not isinstance(entry, dict) or not isinstance(entry.get("role"), str):
            raise UsersFileError(f"{path}: users.{name}: needs a role, e.g. {{role: operator}}")
        password = entry.get("password")
        if password is not None and not (isinstance(password, str) and password.startswith("$argon2")):
            raise UsersFileError(f"{path}: users.{name}.password: must be an argon2 hash "
                                 f"(set it with `jarvis passwd {name}`), never a password in clear")
        users[name] = UserRecord(name, entry["role"], password)
    return users


def write_users(path: Path, users: Mapping[str, UserRecord]) -> None:
    """Write the users file atomically, readable by its owner only (it holds password hashes)."""
    body = {"users": {name: users[name].to_yaml() for name in sorted(users)}}
    text = ("# Jarvis users: written by `jarvis passwd` and `jarvis broker-users` (see docs/security.md).\n"
            "# Passwords are argon2id hashes; roles are defined in config.yaml (auth.roles).\n"
            + yaml.safe_dump(body, sort_keys=False, default_flow_style=False))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".users-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class UserDirectory:
    """The users file as the hub sees it: re-read when it changes, passwords verified in constant work."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._users: dict[str, UserRecord] = {}
        self._stamp: tuple[float, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self.error: str | None = None
        self.reload()

    def reload(self) -> None:
        """Read the file now; a broken file keeps the last good users and records the error."""
        try:
            stat = self.path.stat()
            stamp: tuple[float, int] | None = (stat.st_mtime, stat.st_size)
        except OSError:
            stamp = None
        try:
            users = read_users(self.path)
        except UsersFileError as error:
            self.error = str(error)
            return
        with self._lock:
            self._users, self._stamp, self.error = users, stamp, None

    def _fresh(self) -> dict[str, UserRecord]:
        now = time.monotonic()
        if now - self._checked >= RECHECK_S:
            self._checked = now
            try:
                stat = self.path.stat()
                stamp: tuple[float, int] | None = (stat.st_mtime, stat.st_size)
            except OSError:
                stamp = None
            if stamp != self._stamp:
                self.reload()
        return self._users

    def get(self, name: str) -> UserRecord | None:
        """Return one user's record, or None."""
        return self._fresh().get(name)

    def names(self) -> list[str]:
        """Return every user's name."""
        return sorted(self._fresh())

    def role_of(self, name: str) -> str | None:
        """Return a user's role: from the file, else the contract's default for a shared account."""
        record = self.get(name)
        if record is not None:
            return record.role
        return LEGACY_ROLES.get(name)

    def verify(self, name: str, password: str) -> bool:
        """Return True when ``password`` is the user's web password (same work for unknown users)."""
        record = self.get(name)
        stored = record.password_hash if record is not None and record.password_hash else None
        try:
            _HASHER.verify(stored or _dummy_hash(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return stored is not None
