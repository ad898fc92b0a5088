"""Who may do what: roles (built-in and from config), their permissions, and the checks the hub makes.

A role grants tools up to a risk tier (by tool name, glob or target kind) and a few permissions
(requests, commands, approve, autonomy, terminal, chat, unrestricted). Every caller that comes
from outside the process (``mqtt``, ``web``) carries a role; callers inside it (the CLI, the
monitor, plugins) carry none and are bound only by the safety rules (autonomy, protection,
confirmations).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jarvis.core.api import Risk, Target
from jarvis.core.config import BUILTIN_ROLE_NAMES, Config, RoleConfig, Tier
from jarvis.core.providers import Caller
from jarvis.core.users import UserDirectory

if TYPE_CHECKING:
    from jarvis.core.safety import Confirmation

TIERS: tuple[Tier, ...] = ("none", "read", "write", "dangerous")
RANK = {name: index for index, name in enumerate(TIERS)}
PERMISSIONS = ("requests", "commands", "approve", "autonomy", "terminal", "chat", "unrestricted")
REMOTE_SOURCES = frozenset({"mqtt", "web"})
"""Sources that always carry a role: without one they may do nothing."""

BUILTIN_ROLES: Mapping[str, RoleConfig] = {
    "viewer": RoleConfig(tools={"*": "read"}),
    "operator": RoleConfig(
        tools={"*": "write", "ssh.exec": "read", "ssh.pct_exec": "none"},
        targets={"guest": "dangerous", "docker": "dangerous"},
        commands=True, approve=True, chat=True,
    ),
    "admin": RoleConfig(tools={"*": "dangerous"}, commands=True, approve=True, autonomy=True, terminal=True,
                        chat=True, unrestricted=True),
    "homeassistant": RoleConfig(
        tools={"*": "write", "ssh.exec": "read", "ssh.pct_exec": "none"},
        targets={"guest": "dangerous", "docker": "dangerous"},
        requests=False, commands=True, chat=True,
    ),
}
"""The roles every install has; ``auth.roles`` in config may replace them or add more."""
assert tuple(BUILTIN_ROLES) == BUILTIN_ROLE_NAMES


def _specificity(pattern: str) -> tuple[int, int]:
    """Exact names first, then globs with more literal characters."""
    literal = sum(ch not in "*?" for ch in pattern)
    return (0 if any(ch in "*?" for ch in pattern) else 1, literal)


@dataclass(frozen=True)
class Role:
    """A role (or the least of several, for a topic more than one account may write)."""

    name: str
    configs: tuple[RoleConfig, ...]

    def tier(self, tool: str, target: Target | None = None) -> Tier:
        """The highest risk tier this role may run ``tool`` at (aimed at ``target``)."""
        return min((self._tier(c, tool, target) for c in self.configs), key=RANK.__getitem__)

    @staticmethod
    def _tier(config: RoleConfig, tool: str, target: Target | None) -> Tier:
        rules = sorted((p for p in config.tools if p != "*" and fnmatch.fnmatchcase(tool, p)),
                       key=_specificity, reverse=True)
        if rules:
            return config.tools[rules[0]]
        if target is not None and target.kind in config.targets:
            return config.targets[target.kind]
        return config.tools.get("*", "none")

    def allows(self, permission: str) -> bool:
        """Return True when every part of this role has ``permission``."""
        return all(bool(getattr(c, permission)) for c in self.configs)

    def may_run(self, tool: str, risk: Risk, target: Target | None = None) -> bool:
        """Return True when this role may run ``tool`` at ``risk`` aimed at ``target``."""
        return RANK[self.tier(tool, target)] >= RANK[risk.value]


class Authorizer:
    """The hub's role checks: built from config, with users from the users file."""

    def __init__(self, config: Config) -> None:
        self.config = config.auth
        self.roles: dict[str, Role] = {
            name: Role(name, (cfg,)) for name, cfg in {**BUILTIN_ROLES, **config.auth.roles}.items()
        }
        self.users = UserDirectory(config.resolve_path(config.auth.users_file))

    def problems(self) -> list[str]:
        """What is wrong with the users file (for `jarvis check-config`): each line names the key."""
        if self.users.error:
            return [self.users.error]
        found = []
        for name in self.users.names():
            record = self.users.get(name)
            if record is not None and record.role not in self.roles:
                found.append(f"{self.users.path}: users.{name}.role: no role named {record.role!r} "
                             f"(roles: {', '.join(sorted(self.roles))}); define it under auth.roles")
        return found

    # -- who ---------------------------------------------------------------------------------------

    def role(self, name: str | None) -> Role | None:
        """Return a role by name (None for an unknown one)."""
        return self.roles.get(name) if name else None

    def least(self, names: Iterable[str]) -> Role | None:
        """Return a role granting only what every named role grants (None if one is unknown)."""
        roles = [self.roles.get(n) for n in names]
        if not roles or any(r is None for r in roles):
            return None
        if len(roles) == 1:
            return roles[0]
        known = [r for r in roles if r is not None]
        return Role("&".join(r.name for r in known), tuple(c for r in known for c in r.configs))

    def role_of(self, user: str) -> str | None:
        """Return a user's role name (users file, else the shared accounts' defaults)."""
        return self.users.role_of(user)

    def caller(self, user: str, source: str = "mqtt") -> Caller | None:
        """Return the caller for a user the broker (or a login) vouched for; None if it has no role."""
        role = self.role_of(user)
        if role is None and self.config.anonymous_role is not None:
            role = self.config.anonymous_role  # the demo: anyone on the loopback broker is its admin
        if role is None or role not in self.roles:
            return None
        return Caller(source, user, role)

    def verify_password(self, user: str, password: str) -> Caller | None:
        """Return the dashboard caller (source ``web``) when the web password is right, else None."""
        if not self.users.verify(user, password):
            return None
        return self.caller(user, "web")

    # -- what ----------------------------------------------------------------------------------------

    def _role_for(self, caller: Caller | None) -> tuple[Role | None, str | None]:
        """(role, refusal): no role is fine only for callers inside the process."""
        if caller is None or caller.role is None:
            if caller is not None and caller.source in REMOTE_SOURCES:
                return None, f"{caller.label} has no role; add the user with `jarvis passwd`"
            return None, None
        if "&" in caller.role:  # the least of several roles (a shared topic, identity.py)
            role = self.least(caller.role.split("&"))
        else:
            role = self.roles.get(caller.role)
        if role is None:
            return None, f"{caller.label}: role {caller.role!r} is not defined (auth.roles)"
        return role, None

    def check(self, caller: Caller | None, permission: str) -> str | None:
        """Return why ``caller`` may not use ``permission`` (None when it may)."""
        role, refusal = self._role_for(caller)
        if refusal or role is None:
            return refusal
        if not role.allows(permission):
            assert caller is not None
            return f"{caller.label} (role {role.name}) may not {_VERBS.get(permission, permission)}"
        return None

    def check_autonomy(self, caller: Caller | None, mode: object) -> str | None:
        """Return why ``caller`` may not set autonomy to ``mode``.

        Switching automation off is the emergency stop: a role that may approve dangerous calls
        may also pull it. Anything else (notify, act) needs the ``autonomy`` permission.
        """
        if mode == "off" and self.check(caller, "approve") is None:
            return None
        return self.check(caller, "autonomy")

    def check_tool(self, caller: Caller | None, tool: str, risk: Risk, target: Target | None) -> str | None:
        """Return why ``caller`` may not run ``tool`` at ``risk`` (None when it may)."""
        role, refusal = self._role_for(caller)
        if refusal or role is None:
            return refusal
        assert caller is not None
        if role.may_run(tool, risk, target):
            return None
        allowed = role.tier(tool, target)
        aimed = f" on a {target.kind}" if target is not None else ""
        return (f"{caller.label} (role {role.name}) may not run {tool}{aimed} at risk {risk.value} "
                f"(its role allows {allowed})")

    def unrestricted(self, caller: Caller | None) -> bool:
        """Return True when the caller may aim tools anywhere (inside the process, or the permission)."""
        role, refusal = self._role_for(caller)
        if refusal:
            return False
        return role is None or role.allows("unrestricted")

    def check_answer(self, answerer: Caller | None, pending: Confirmation, approve: bool) -> str | None:
        """Return why ``answerer`` may not approve (or deny) ``pending`` (None when it may)."""
        requester = pending.caller
        own = requester.user is not None and answerer is not None and answerer.user == requester.user
        if not approve and own:
            return None  # withdrawing one's own request needs no approval right
        refusal = self.check(answerer, "approve")
        if refusal:
            return refusal
        role, _ = self._role_for(answerer)
        risk = Risk(pending.risk)
        if role is not None and not role.may_run(pending.tool, risk, pending.target):
            assert answerer is not None
            return (f"{answerer.label} (role {role.name}) may not approve {pending.tool}: approving needs a role "
                    f"that may run it at risk {risk.value}")
        if approve and self.config.two_person_rule:
            if answerer is None or answerer.user is None or requester.user is None:
                return "the two-person rule needs a known requester and approver (auth.two_person_rule)"
            if answerer.user == requester.user:
                return f"{answerer.label} asked for this call: another user must approve it (auth.two_person_rule)"
        return None


_VERBS = {
    "requests": "send requests (bridge/request/...)",
    "commands": "send commands on things",
    "approve": "approve or deny confirmations",
    "autonomy": "switch autonomy",
    "terminal": "open a terminal",
    "chat": "chat with the assistant",
    "unrestricted": "aim tools at things Jarvis does not know",
}
