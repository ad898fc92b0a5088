"""Who sent a message, from what the broker enforces (the topic), never from the payload.

Per-user topics: the ACL lets broker user ``u`` write only under ``<base>/user/<u>/`` (see
``mqtt/accounts.py``), so a message there comes from ``u``; it gets ``u``'s role from the users
file. Replies go only to ``<base>/reply/<u>/...``, which only ``u`` can read.

Today's shared topics keep working with a fixed identity per family, never more privileged
than the least privileged account the ACL lets write that family:

| family (under ``<base>/``) | broker accounts that may write it | recorded as | role |
|---|---|---|---|
| ``bridge/request/#`` | dashboard | ``mqtt:dashboard`` | dashboard's |
| ``chat/<session>/in`` | dashboard | ``mqtt:dashboard`` | dashboard's |
| ``chat/homeassistant/in`` | dashboard, homeassistant | ``mqtt:homeassistant`` | the least of both |
| ``bridge/autonomy/set`` | homeassistant | ``mqtt:homeassistant`` | homeassistant's |
| ``<kind>/<id>/set``, ``.../action`` | dashboard, homeassistant | ``mqtt:homeassistant`` | the least of both |

On a broker with anonymous access (the demo, ``auth.anonymous_role``) every shared topic is
``mqtt:anonymous`` with that role, and its replies may go anywhere under ``<base>/reply/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jarvis.core import Caller
from jarvis.core.users import USERNAME
from jarvis.mqtt.packets import valid_publish_topic

if TYPE_CHECKING:
    from jarvis.core.hub import Hub

COMMAND_VERBS = ("set", "action")
RESERVED_KINDS = frozenset({"bridge", "chat", "user", "reply", "event", "alert", "confirm"})
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$", re.ASCII)
_SESSION = re.compile(r"^[A-Za-z0-9_-]{1,64}$", re.ASCII)
ANONYMOUS = "anonymous"

# family -> (recorded user, broker accounts that may write it); see the table above.
LEGACY = {
    "request": ("dashboard", ("dashboard",)),
    "chat": ("dashboard", ("dashboard",)),
    "chat_homeassistant": ("homeassistant", ("dashboard", "homeassistant")),
    "autonomy": ("homeassistant", ("homeassistant",)),
    "command": ("homeassistant", ("dashboard", "homeassistant")),
}


@dataclass(frozen=True, slots=True)
class Origin:
    """A message's sender and what it asks, relative to the sender's topic space.

    ``rel`` is the topic below ``<base>/`` (shared topics) or ``<base>/user/<u>/``;
    ``family`` is ``request``, ``autonomy``, ``chat``, ``command`` or ``unknown``. ``caller`` is
    None when the sender has no role (``refusal`` says why). ``readers`` are the users whose
    reply spaces may receive the answer (None: anywhere under ``<base>/reply/``, the demo).
    """

    rel: str
    family: str
    caller: Caller | None
    user: str | None
    readers: tuple[str, ...] | None
    namespaced: bool
    refusal: str | None = None


def family_of(rel: str) -> str:
    """Classify a topic below the sender's space: request, autonomy, chat, command or unknown."""
    if rel.startswith("bridge/request/"):
        return "request"
    if rel == "bridge/autonomy/set":
        return "autonomy"
    parts = rel.split("/")
    if len(parts) == 3 and parts[0] == "chat" and parts[2] == "in":
        return "chat"
    if len(parts) >= 3 and parts[-1] in COMMAND_VERBS and parts[0] not in RESERVED_KINDS:
        return "command"
    return "unknown"


def valid_ids(parts: list[str]) -> bool:
    """True when every id segment of a command topic is canonical ASCII ``[A-Za-z0-9_-]``."""
    return all(_ID.match(p) for p in parts)


def valid_session(session: str) -> bool:
    """True for a chat session id that can be a topic level of its own."""
    return bool(_SESSION.match(session))


class Identities:
    """Resolves the sender of messages under one base topic, with the hub's roles."""

    def __init__(self, hub: Hub, base: str) -> None:
        self.hub = hub
        self.base = base
        self._user_prefix = f"{base}/user/"

    def origin(self, topic: str) -> Origin | None:
        """Return who sent a message on ``topic`` (None when it is not under the base topic)."""
        prefix = self.base + "/"
        if not topic.startswith(prefix):
            return None
        if topic.startswith(self._user_prefix):
            user, _, rel = topic[len(self._user_prefix):].partition("/")
            return self._personal(user, rel)
        rel = topic[len(prefix):]
        return self._shared(rel, family_of(rel))

    def _personal(self, user: str, rel: str) -> Origin:
        family = family_of(rel)
        if not USERNAME.match(user):
            return Origin(rel, family, None, None, None, True, "not a user name in the topic")
        caller = self.hub.auth.caller(user)
        refusal = None if caller is not None else f"user {user} has no role (add it with `jarvis passwd`)"
        return Origin(rel, family, caller, user, (user,), True, refusal)

    def _shared(self, rel: str, family: str) -> Origin:
        auth = self.hub.auth
        if auth.config.anonymous_role is not None:
            caller = Caller("mqtt", ANONYMOUS, auth.config.anonymous_role)
            return Origin(rel, family, caller, ANONYMOUS, None, False)
        key = family
        if family == "chat" and rel.split("/")[1] == "homeassistant":
            key = "chat_homeassistant"
        if key not in LEGACY:
            return Origin(rel, family, None, None, ("dashboard", "homeassistant"), False, "not an input topic")
        user, writers = LEGACY[key]
        roles = [auth.role_of(w) for w in writers]
        least = auth.least([r for r in roles if r is not None]) if all(roles) else None
        if least is None:
            return Origin(rel, family, None, user, writers, False,
                          f"the {' and '.join(writers)} account(s) have no role in the users file")
        return Origin(rel, family, Caller("mqtt", user, least.name), user, writers, False)

    # -- replies -----------------------------------------------------------------------------------

    def reply_allowed(self, origin: Origin, topic: str) -> bool:
        """True when ``topic`` lies in a reply space the sender can read (and is a topic name)."""
        if not valid_publish_topic(topic):
            return False
        space = f"{self.base}/reply/"
        if origin.readers is None:
            return topic.startswith(space) and len(topic) > len(space)
        return any(topic == space + user or topic.startswith(f"{space}{user}/") for user in origin.readers)

    def default_reply(self, origin: Origin, rel: str) -> str:
        """Where an answer goes without a Response Topic: the contract's topic, or the user's space."""
        if origin.namespaced and origin.user is not None:
            return f"{self.base}/reply/{origin.user}/{rel}"
        return f"{self.base}/{rel}"
