"""The hub's state store: typed entities by key, owned by the source that produced them.

What the store holds is immutable (a :class:`Payload`; a plain dict is frozen on the way in), so
the only way to change published state is to hand the store a new payload.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from jarvis.core.api import Entity, Snapshot
from jarvis.core.entities import Payload

Key = tuple[str, ...]


class Change(NamedTuple):  # a tuple: thousands are made per cycle in a big cluster
    """One entity that appeared, changed (``data``) or vanished (``data`` is None)."""

    key: Key
    data: Mapping[str, Any] | None


Listener = Callable[[list[Change]], None]


class StateStore:
    """Current state of every entity; listeners hear only real changes."""

    def __init__(self) -> None:
        self._data: dict[Key, Mapping[str, Any]] = {}
        self._owned: dict[str, set[Key]] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(changes)`` after every update; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def apply(self, owner: str, snapshot: Snapshot) -> list[Change]:
        """Merge a source's snapshot; a complete one clears what the owner no longer lists."""
        changes: list[Change] = []
        seen: set[Key] = set()
        owned = self._owned.setdefault(owner, set())
        data_of = self._data.get
        for key, data in snapshot.entities:
            seen.add(key)
            old = data_of(key)
            # Sources may hand back the very object they published last time: skip the compare.
            if old is not data and old != data:
                if type(data) is not Payload:
                    data = Payload(data)
                self._data[key] = data
                changes.append(Change(key, data))
        if snapshot.complete:
            for key in owned - seen:
                if self._data.pop(key, None) is not None:
                    changes.append(Change(key, None))
            self._owned[owner] = seen
        else:
            owned |= seen
        self._notify(changes)
        return changes

    def put(self, owner: str, key: Key, data: Mapping[str, Any]) -> None:
        """Set one entity outside any poll (bridge info, confirmations...)."""
        self.apply(owner, Snapshot([Entity(key, data)], complete=False))

    def remove(self, owner: str, key: Key) -> None:
        """Clear one entity."""
        self._owned.get(owner, set()).discard(key)
        if self._data.pop(key, None) is not None:
            self._notify([Change(key, None)])

    def owned(self, owner: str) -> list[Key]:
        """Return the keys a source has published and not cleared."""
        return [k for k in self._owned.get(owner, ()) if k in self._data]

    def get(self, key: Key) -> Mapping[str, Any] | None:
        """Return one entity's data, or None."""
        return self._data.get(key)

    def items(self, prefix: Key = ()) -> dict[Key, Mapping[str, Any]]:
        """Return every entity whose key starts with ``prefix``."""
        n = len(prefix)
        return {k: v for k, v in self._data.items() if k[:n] == prefix}

    def __len__(self) -> int:
        return len(self._data)

    def _notify(self, changes: list[Change]) -> None:
        if changes:
            for listener in list(self._listeners):
                listener(changes)
