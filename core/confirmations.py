"""Pending confirmations: created for dangerous (or protected) calls, answered by a human, capped.

Each is retained on ``<base>/confirm/<id>`` until approved, denied or expired. An approval
needs a role that may itself run the call (and, with ``auth.two_person_rule``, another user
than the requester); the call then runs as its requester, recorded with ``approved_by``.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from jarvis.core.api import Event, Risk, Target
from jarvis.core.providers import Caller
from jarvis.core.redact import redact_value
from jarvis.core.safety import Confirmation
from jarvis.core.tools import Reply, error, ok

if TYPE_CHECKING:
    from jarvis.core.hub import Hub

log = logging.getLogger("jarvis.confirmations")


class Confirmations:
    """The hub's pending confirmations, by id."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.pending: dict[str, Confirmation] = {}

    def ask(
        self, name: str, args: dict[str, Any], risk: Risk, target: Target | None, protected: bool, source: str,
        caller: Caller, trusted: bool,
    ) -> Reply:
        """Create a confirmation (unless a limit is reached) and return ``confirmation_required``."""
        refusal = self._over_limit(caller, target)
        if refusal is not None:
            return error("too_many_confirmations", refusal)
        what = f" on {target.kind} {target.id}" if target else ""
        reason = f"{name}{what} is {risk.value}" + (" and the target is protected" if protected else "")
        confirmation = Confirmation(
            tool=name, args=args, risk=risk.value, reason=reason, caller=caller, source=source, target=target,
            trusted=trusted, ttl_s=self.hub.config.safety.confirmation_ttl_s,
        )
        self.pending[confirmation.id] = confirmation
        self.hub.state.put("hub", ("confirm", confirmation.id), redact_value(confirmation.public()))
        self.hub.emit(Event(type="confirmation", severity="warning", source=source,
                            summary=f"confirmation needed: {reason}", details=confirmation.public()))
        return {
            "status": "confirmation_required",
            "confirmation": {"id": confirmation.id, "expires_at": confirmation.expires_at,
                             "tool": name, "reason": reason},
        }

    def _over_limit(self, caller: Caller, target: Target | None) -> str | None:
        limits = self.hub.config.safety.confirmation_limits
        live = [c for c in self.pending.values() if not c.expired()]
        if len(live) >= limits.total:
            return (f"{limits.total} confirmations are already waiting; answer or let some expire "
                    "(safety.confirmation_limits.total)")
        by_caller = Counter(c.requested_by for c in live)
        if by_caller[caller.label] >= limits.per_caller:
            return (f"{caller.label} already has {limits.per_caller} confirmations waiting "
                    "(safety.confirmation_limits.per_caller)")
        if target is not None:
            same = sum(1 for c in live if c.target == target)
            if same >= limits.per_target:
                return (f"{limits.per_target} confirmations already wait for {target.kind} {target.id} "
                        "(safety.confirmation_limits.per_target)")
        return None

    async def resolve(self, confirmation_id: Any, approve: Any, source: str, caller: Caller | None) -> Reply:
        """Approve (run) or deny a pending confirmation; only humans whose role allows it may answer."""
        pipeline = self.hub.pipeline
        if not pipeline.is_human(source):
            humans = ", ".join(sorted(n for n, s in self.hub.registrations.call_sources.items.items() if s.human))
            return error("denied", f"only a human ({humans}) may answer a confirmation")
        if not isinstance(confirmation_id, str) or not isinstance(approve, bool):
            return error("invalid_args", 'confirm needs {"id": "<string>", "approve": true|false}')
        pending = self.pending.get(confirmation_id)
        if pending is None or pending.expired():
            # The id is not echoed: an answer must never depend on what the caller guessed.
            return error("not_found", "no such pending confirmation (expired, answered or never asked)")
        answerer = caller or Caller(source)
        if caller is not None:
            refusal = self.hub.auth.check_answer(caller, pending, approve)
            if refusal is not None:
                log.warning("confirmation %s: %s", pending.id, refusal)
                return error("forbidden", refusal)
        del self.pending[pending.id]
        self.hub.state.remove("hub", ("confirm", pending.id))
        if not approve:
            self.hub.emit(Event(type="action", source=source, summary=f"denied {pending.tool}",
                                details={"confirmation": pending.id, "tool": pending.tool, "status": "denied",
                                         "requested_by": pending.requested_by, "denied_by": answerer.label}))
            return ok({"id": pending.id, "approved": False})
        # Runs as its requester: the pipeline refuses a protected target to an automated one,
        # and checks the requester's role again (it may have changed meanwhile).
        return await pipeline.call(pending.tool, pending.args, pending.source, confirmed=True,
                                   caller=None if pending.trusted else pending.caller, approved_by=answerer)

    def expire(self) -> None:
        """Clear confirmations whose time is up."""
        for cid, pending in list(self.pending.items()):
            if pending.expired():
                del self.pending[cid]
                self.hub.state.remove("hub", ("confirm", cid))
                self.hub.emit(Event(type="action", source="hub", summary=f"confirmation for {pending.tool} expired",
                                    details={"confirmation": cid, "tool": pending.tool, "status": "expired",
                                             "requested_by": pending.requested_by}))
