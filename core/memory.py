"""The hub's memory: which store config chose, and what the hub keeps in it across restarts.

Plugins register memory stores (``register_memory_stores``); ``hub.memory`` in config picks one
by name (default: the first registered, the memory plugin's ``tinydb``; ``off``: none). The hub
keeps its pending confirmations there, so a restart loses none that has not expired.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jarvis.core.api import Event
from jarvis.core.providers import MemoryStore
from jarvis.core.redact import MASK, redact_value
from jarvis.core.registry import Registry
from jarvis.core.safety import Confirmation
from jarvis.core.state import Change

if TYPE_CHECKING:
    from jarvis.core.hub import Hub

log = logging.getLogger("jarvis.hub")
OFF = "off"
CONFIRMATIONS_KEY = "hub.confirmations"


def choose_store(stores: Registry[MemoryStore], wanted: str | None) -> tuple[str | None, str | None]:
    """Return the name of the store ``hub.memory`` picks (None: no memory) and a problem to report."""
    if wanted == OFF:
        return None, None
    if wanted is None:
        return next(iter(stores), None), None
    if wanted in stores:
        return wanted, None
    known = ", ".join(stores) or "none"
    return None, (f"hub.memory: no memory store named {wanted!r} is registered (registered: {known}); "
                  f"install the plugin that provides it, set it to one of those, or remove the key")


class ConfirmationKeeper:
    """Saves the pending confirmations in memory on every change; restores the unexpired ones at start."""

    def __init__(self, hub: Hub, store: MemoryStore) -> None:
        self.hub = hub
        self.store = store

    def restore(self) -> int:
        """Put the saved, unexpired confirmations back (pending, and retained on ``confirm/<id>``)."""
        try:
            saved = self.store.load_value(CONFIRMATIONS_KEY) or []
        except Exception as exc:  # noqa: BLE001 - a broken store must not stop the hub
            log.warning("could not read the pending confirmations from memory: %s", exc)
            return 0
        pipeline = self.hub.pipeline
        restored = []
        for item in saved if isinstance(saved, list) else []:
            confirmation = Confirmation.restore(item) if isinstance(item, dict) else None
            if confirmation is None or confirmation.id in pipeline.confirmations:
                continue  # expired while the hub was down: dropped
            if _holds_mask(confirmation.args):
                # Memory never keeps secrets: approving would run with "***" in place of one.
                log.warning("dropped confirmation %s for %s: its arguments held a secret", confirmation.id,
                            confirmation.tool)
                continue
            pipeline.confirmations[confirmation.id] = confirmation
            self.hub.state.put("hub", ("confirm", confirmation.id), redact_value(confirmation.public()))
            restored.append(confirmation)
        self.save()
        if restored:
            self.hub.emit(Event(type="status", source="hub", summary=f"{len(restored)} pending confirmation(s) "
                                "restored from memory", details={"confirmations": [c.id for c in restored]}))
        return len(restored)

    def changed(self, changes: Sequence[Change]) -> None:
        """Save the pending confirmations after a ``confirm/<id>`` appeared or went."""
        if any(change.key[0] == "confirm" for change in changes if change.key):
            self.save()

    def save(self) -> None:
        """Save every pending confirmation."""
        pending = [c.saved() for c in self.hub.pipeline.confirmations.values() if not c.expired()]
        try:
            self.store.save_value(CONFIRMATIONS_KEY, pending)
        except Exception as exc:  # noqa: BLE001 - e.g. a read-only store in a CLI process
            log.debug("pending confirmations not saved: %s", exc)


def _holds_mask(value: Any) -> bool:
    if isinstance(value, str):
        return MASK in value
    if isinstance(value, dict):
        return any(_holds_mask(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_mask(v) for v in value)
    return False


def memory_health(hub: Hub) -> dict[str, Any]:
    """Return the ``memory`` part of ``bridge/health``: the store in use and its own figures."""
    name, store = hub.memory_name, hub.memory()
    out: dict[str, Any] = {"store": name}
    if hub.memory_problem:
        out["problem"] = hub.memory_problem
    health = getattr(store, "health", None)
    if callable(health):
        try:
            out.update(health())
        except Exception as exc:  # noqa: BLE001
            out["problem"] = f"{type(exc).__name__}: {exc}"
    return out
