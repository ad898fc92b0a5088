"""Broker identities for dashboard logins, minted through mosquitto's dynamic-security plugin.

At login the dashboard asks ``hub.broker_sessions.mint(user)``: the hub creates a dynsec client
``web-<user>-<token>`` with a random password and a role of its own whose ACL is the user's
(the same grants as its ACL-file account: public reads, its reply space, writes only under
``<base>/user/<user>/`` as its role allows). The browser connects with it, so the broker,
not the page, enforces the role. ``revoke`` deletes it (mosquitto drops the connection);
identities expire after ``auth.session_ttl_s``, and leftovers of an earlier run are deleted
when the hub connects. The hub's own account may publish to ``$CONTROL/dynamic-security/#``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from jarvis.core import BrokerIdentity, BrokerSessionError
from jarvis.core.redact import register_secret
from jarvis.mqtt.accounts import grants

if TYPE_CHECKING:
    from jarvis.core.hub import Hub
    from jarvis.mqtt.client import BrokerLink, InMessage

log = logging.getLogger("jarvis.mqtt.sessions")
CONTROL = "$CONTROL/dynamic-security/v1"
RESPONSE = CONTROL + "/response"
PREFIX = "web-"
ROLE_PREFIX = "jarvis-web-"
_ACL_TYPES = {"read": ("publishClientReceive",), "write": ("publishClientSend",),
              "readwrite": ("publishClientReceive", "publishClientSend")}


@dataclass(slots=True)
class _Minted:
    user: str
    role_name: str
    expires: float


def topic_roots(hub: Hub) -> list[str]:
    """The first topic level of everything the hub publishes: its kinds' and its state's (users may read them)."""
    roots = {kind.topic.split("/")[0] for kind in hub.registrations.kinds.items.values()}
    roots |= {key[0] for key in hub.state.items()}
    return sorted(roots - {"reply", "user"})


class DynsecSessions:
    """``BrokerSessions`` over the dynamic-security plugin, through the hub's own broker link."""

    def __init__(self, hub: Hub, link: BrokerLink, base: str, timeout_s: float = 5.0) -> None:
        self.hub = hub
        self.link = link
        self.base = base
        self.timeout_s = timeout_s
        self.minted: dict[str, _Minted] = {}
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def anonymous(self) -> bool:
        """True on a broker without accounts (the demo): browsers connect anonymously."""
        return self.hub.config.auth.anonymous_role is not None

    # -- broker link -----------------------------------------------------------------------------

    async def on_connect(self, link: BrokerLink) -> None:
        """Listen for the plugin's answers; delete identities left by an earlier run (in the background)."""
        if self.anonymous:
            return
        await link.subscribe([RESPONSE])
        task = asyncio.get_running_loop().create_task(self._forget_leftovers())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def handle(self, message: InMessage) -> bool:
        """Take the plugin's answers (True when ``message`` was one)."""
        if message.topic != RESPONSE:
            return False
        try:
            answers = json.loads(message.payload).get("responses", [])
        except (ValueError, AttributeError):
            return True
        for answer in answers if isinstance(answers, list) else []:
            waiter = self._waiting.pop(str(answer.get("correlationData")), None) if isinstance(answer, dict) else None
            if waiter is not None and not waiter.done():
                waiter.set_result(answer)
        return True

    async def _run(self, *commands: dict[str, Any]) -> list[dict[str, Any]]:
        """Send commands in one message and return their answers, in order."""
        loop = asyncio.get_running_loop()
        futures = []
        for command in commands:
            tag = secrets.token_hex(8)
            command["correlationData"] = tag
            futures.append(self._waiting.setdefault(tag, loop.create_future()))
        try:
            await self.link.publish(CONTROL, json.dumps({"commands": list(commands)}).encode(), qos=1)
            async with asyncio.timeout(self.timeout_s):
                return list(await asyncio.gather(*futures))
        except TimeoutError:
            raise BrokerSessionError("the broker did not answer on $CONTROL/dynamic-security/v1: is mosquitto's "
                                     "dynamic-security plugin loaded (mosquitto/mosquitto.conf)?") from None
        except Exception as error:
            raise BrokerSessionError(f"cannot reach the broker: {error}") from None
        finally:
            for command in commands:
                self._waiting.pop(command["correlationData"], None)

    # -- the API -------------------------------------------------------------------------------------

    async def mint(self, user: str, *, ttl_s: float | None = None) -> BrokerIdentity:
        """Create a broker identity for ``user`` whose ACL matches its role; raise BrokerSessionError."""
        caller = self.hub.auth.caller(user, "web")
        role = self.hub.auth.roles.get(caller.role) if caller is not None and caller.role else None
        if caller is None or role is None or "&" in (caller.role or ""):
            raise BrokerSessionError(f"user {user!r} has no role (add it with `jarvis passwd`)")
        ttl = ttl_s or self.hub.config.auth.session_ttl_s
        expires_at = (datetime.now(UTC) + timedelta(seconds=ttl)).isoformat(timespec="seconds").replace(
            "+00:00", "Z")
        reply_prefix = f"{self.base}/reply/{user}"
        if self.anonymous:
            return BrokerIdentity(user=user, role=role.name, username=None, password=None, topic_prefix=self.base,
                                  reply_prefix=reply_prefix, expires_at=expires_at)
        token = secrets.token_hex(6)
        username, role_name = f"{PREFIX}{user}-{token}", f"{ROLE_PREFIX}{user}-{token}"
        password = secrets.token_urlsafe(24)
        register_secret(password)
        acls = self._acls(user, role.name)
        answers = await self._run(
            {"command": "createRole", "rolename": role_name, "acls": acls},
            {"command": "createClient", "username": username, "password": password,
             "roles": [{"rolename": role_name}], "textname": f"Jarvis dashboard: {user}"},
        )
        errors = [a["error"] for a in answers if a.get("error")]
        if errors:
            await self._delete(username, role_name)
            raise BrokerSessionError(f"the broker refused the identity: {'; '.join(errors)}")
        self.minted[username] = _Minted(user, role_name, time.monotonic() + ttl)
        log.info("minted broker identity %s for %s (role %s, %.0f s)", username, user, role.name, ttl)
        return BrokerIdentity(user=user, role=role.name, username=username, password=password,
                              topic_prefix=f"{self.base}/user/{user}", reply_prefix=reply_prefix,
                              expires_at=expires_at)

    def _acls(self, user: str, role_name: str) -> list[dict[str, Any]]:
        role = self.hub.auth.roles[role_name].configs[0]
        pairs = grants(user, role_name, role, self.base, topic_roots(self.hub), self.hub.config.hub.discovery_prefix)
        pairs.append(("read", f"{self.base}/reply/{user}/#"))
        acls = [{"acltype": kind, "topic": topic, "priority": 0, "allow": True}
                for access, topic in pairs for kind in _ACL_TYPES[access]]
        # Subscribing reveals nothing: what arrives is filtered by publishClientReceive above.
        acls.append({"acltype": "subscribePattern", "topic": "#", "priority": 0, "allow": True})
        return acls

    async def revoke(self, username: str) -> None:
        """Delete one minted identity now; mosquitto drops its connection."""
        minted = self.minted.pop(username, None)
        if minted is None or self.anonymous:
            return
        await self._delete(username, minted.role_name)
        log.info("revoked broker identity %s of %s", username, minted.user)

    async def revoke_user(self, user: str) -> int:
        """Delete every identity minted for ``user``; return how many."""
        names = [name for name, minted in self.minted.items() if minted.user == user]
        for name in names:
            await self.revoke(name)
        return len(names)

    async def expire(self) -> None:
        """Revoke identities whose time is up (the hub's housekeeping calls this)."""
        now = time.monotonic()
        for name in [n for n, m in self.minted.items() if m.expires <= now]:
            try:
                await self.revoke(name)
            except BrokerSessionError as error:
                log.warning("could not revoke expired identity %s: %s", name, error)

    async def _delete(self, username: str, role_name: str) -> None:
        await self._run({"command": "deleteClient", "username": username},
                        {"command": "deleteRole", "rolename": role_name})

    async def _forget_leftovers(self) -> None:
        """Delete minted identities the broker still holds from an earlier run of the hub."""
        try:
            clients, roles = await self._run({"command": "listClients"}, {"command": "listRoles"})
        except BrokerSessionError as error:
            log.info("dashboard identities unavailable: %s", error)
            return
        names = [c for c in (clients.get("data") or {}).get("clients", []) if isinstance(c, str)]
        role_names = [r for r in (roles.get("data") or {}).get("roles", []) if isinstance(r, str)]
        stale = [{"command": "deleteClient", "username": n} for n in names
                 if n.startswith(PREFIX) and n not in self.minted]
        live_roles = {m.role_name for m in self.minted.values()}
        stale += [{"command": "deleteRole", "rolename": r} for r in role_names
                  if r.startswith(ROLE_PREFIX) and r not in live_roles]
        if stale:
            await self._run(*stale)
            log.info("deleted %d dashboard identities left by an earlier run", len(stale))
