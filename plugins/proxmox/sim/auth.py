"""Authentication and privileges as pveproxy checks them: API tokens, tickets, CSRF tokens."""

from __future__ import annotations

import base64
import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import unquote

from .errors import ApiError, AuthFailed

AUDIT_PRIVS = frozenset(
    {
        "Sys.Audit",
        "VM.Audit",
        "Datastore.Audit",
        "SDN.Audit",
        "Pool.Audit",
        "Mapping.Audit",
        "VM.GuestAgent.Audit",
    }
)
TOKEN_ID_RE = re.compile(r"^(.+)!([A-Za-z][A-Za-z0-9.\-_]+)$")
USERS = {"root@pam"}


@dataclass
class Token:
    """An API token of root@pam; privsep tokens get only their role's privileges."""

    userid: str
    tokenid: str
    secret: str
    role: str = "Administrator"
    revoked: bool = False
    denied: set[str] = field(default_factory=set)

    @property
    def full_id(self) -> str:
        """USER@REALM!TOKENID."""
        return f"{self.userid}!{self.tokenid}"


@dataclass
class Identity:
    """Who a request runs as: `user` is what task UPIDs record."""

    user: str
    role: str
    denied: frozenset[str] = frozenset()

    def has(self, privilege: str) -> bool:
        """True if this identity holds `privilege` (on every path: the sim has one ACL)."""
        if privilege in self.denied:
            return False
        return self.role == "Administrator" or privilege in AUDIT_PRIVS


def extract_auth_value(header: str | None, key: str) -> str | None:
    """Find `KEY=value` or `KEY value` in a header, as PVE::APIServer::Formatter does."""
    if not header:
        return None
    m = re.search(r"(?:^|\s)" + re.escape(key) + r"(?:=| )([^;]*)", header)
    return unquote(m.group(1)) if m and m.group(1) else None


class Authenticator:
    """Holds tokens, the root password and issued tickets; verifies requests."""

    def __init__(self, tokens: list[Token], password: str) -> None:
        self.tokens = {t.full_id: t for t in tokens}
        self.password = password
        self.tickets: dict[str, tuple[str, str]] = {}  # ticket -> (user, csrf)

    def verify_token(self, value: str) -> Token:
        """Check `USER@REALM!TOKENID=SECRET` with PVE's messages (pve-access-control)."""
        if "=" not in value:
            raise AuthFailed("no tokenid specified")
        token_id, secret = value.rsplit("=", 1)
        m = TOKEN_ID_RE.match(token_id)
        if not m:
            raise AuthFailed(f"'{token_id}' is not a valid token ID")
        userid, name = m.groups()
        if userid not in USERS:
            raise AuthFailed(f"no such user ('{userid}')")
        token = self.tokens.get(token_id)
        if token is None or token.revoked:
            raise AuthFailed(f"no such token '{name}' for user '{userid}'")
        if not secrets.compare_digest(token.secret, secret):
            raise AuthFailed("invalid token value!")
        return token

    def authenticate(self, method: str, headers: dict[str, str], cookie: str | None) -> Identity:
        """Return the identity of a request or raise AuthFailed (HTTP 401)."""
        auth_header = headers.get("Authorization")
        ticket = extract_auth_value(cookie, "PVEAuthCookie") or extract_auth_value(
            auth_header, "PVEAuthCookie"
        )
        if ticket:
            entry = self.tickets.get(ticket)
            if entry is None:
                raise AuthFailed("authentication failure")
            user, csrf = entry
            if method != "GET" and headers.get("CSRFPreventionToken") != csrf:
                raise AuthFailed("Permission denied - invalid csrf token")
            return Identity(user, "Administrator")
        api_token = extract_auth_value(auth_header, "PVEAPIToken")
        if not api_token:
            raise AuthFailed("No ticket")
        token = self.verify_token(api_token)
        return Identity(token.full_id, token.role, frozenset(token.denied))

    def login(self, username: str, password: str, clustername: str) -> dict[str, object]:
        """POST /access/ticket: return a ticket, CSRF token and capabilities."""
        if "@" not in username:
            username += "@pam"
        if username not in USERS or not secrets.compare_digest(password, self.password):
            raise ApiError(401, "authentication failure\n")
        stamp = f"{int(time.time()):08X}"
        sig = base64.b64encode(secrets.token_bytes(256)).decode()
        ticket = f"PVE:{username}:{stamp}::{sig}"
        csrf = f"{stamp}:{base64.b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"
        self.tickets[ticket] = (username, csrf)
        return {
            "username": username,
            "ticket": ticket,
            "CSRFPreventionToken": csrf,
            "clustername": clustername,
            "cap": _capabilities(),
        }


def _capabilities() -> dict[str, dict[str, int]]:
    groups = {
        "vms": "VM.Allocate VM.Audit VM.Backup VM.Clone VM.Config.CDROM VM.Config.CPU "
        "VM.Config.Cloudinit VM.Config.Disk VM.Config.HWType VM.Config.Memory VM.Config.Network "
        "VM.Config.Options VM.Console VM.GuestAgent.Audit VM.Migrate VM.PowerMgmt VM.Snapshot "
        "VM.Snapshot.Rollback Permissions.Modify",
        "storage": "Datastore.Allocate Datastore.AllocateSpace Datastore.AllocateTemplate "
        "Datastore.Audit Permissions.Modify",
        "nodes": "Sys.Audit Sys.Console Sys.Incoming Sys.Modify Sys.PowerMgmt Sys.Syslog "
        "Permissions.Modify",
        "dc": "SDN.Allocate SDN.Audit SDN.Use Sys.Audit",
        "sdn": "SDN.Allocate SDN.Audit SDN.Use Permissions.Modify",
        "access": "Group.Allocate User.Modify Permissions.Modify",
    }
    return {k: {p: 1 for p in v.split()} for k, v in groups.items()}
