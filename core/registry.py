"""One registry type for everything plugins register: attributed, validated, de-duplicated.

Each ``register_*`` hook hands a plugin its own ``register`` callback (``registry.register_for
(plugin)``), so every entry knows its owner; an entry of the wrong type is refused with what was
expected, a second entry under a taken name is refused naming both plugins, and everything a
plugin registered goes away with ``drop`` when the plugin fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one provider kind by name, each attributed to the plugin that registered it."""

    def __init__(
        self,
        kind: str,
        expected: type | tuple[type, ...],
        *,
        check: Callable[[str, T], None] | None = None,
    ) -> None:
        self.kind = kind
        self.expected = expected
        self.check = check
        self.items: dict[str, T] = {}
        self.owner: dict[str, str] = {}

    def add(self, plugin: str, name: str, item: T) -> str:
        """Validate and store ``item`` under ``name`` for ``plugin``; return the name."""
        if not isinstance(item, self.expected):
            kinds = self.expected if isinstance(self.expected, tuple) else (self.expected,)
            wanted = " or ".join(t.__name__ for t in kinds)
            missing = "; ".join(f"it lacks {m}" for t in kinds if (m := missing_members(item, t)))
            raise TypeError(f"plugin {plugin!r} registered {item!r:.80} as a {self.kind}; expected a {wanted}"
                            + (f" ({missing})" if missing else ""))
        if not isinstance(name, str) or not name:
            raise ValueError(f"plugin {plugin!r}: a {self.kind} needs a non-empty name, got {name!r}")
        if name in self.items:
            first = self.owner[name]
            if first == plugin:
                raise ValueError(f"plugin {plugin!r} registered {self.kind} {name!r} twice")
            raise ValueError(f"{self.kind} {name!r} is registered by both plugin {first!r} and plugin {plugin!r}")
        if self.check is not None:
            self.check(name, item)
        self.items[name] = item
        self.owner[name] = plugin
        return name

    def register_for(self, plugin: str, name_of: Callable[[T], str]) -> Callable[[T], str]:
        """Return a ``register(item)`` callback for one plugin; ``name_of`` names the item."""
        return lambda item: self.add(plugin, name_of(item), item)

    def drop(self, plugins: Iterable[str]) -> None:
        """Forget everything the given plugins registered."""
        gone = set(plugins)
        for name in [n for n, owner in self.owner.items() if owner in gone]:
            del self.items[name], self.owner[name]

    def remove(self, name: str) -> None:
        """Forget one entry (no error when it is not there)."""
        self.items.pop(name, None)
        self.owner.pop(name, None)

    def get(self, name: str) -> T | None:
        """Return the entry registered under ``name``, or None."""
        return self.items.get(name)

    def of(self, plugin: str) -> dict[str, T]:
        """Return the entries one plugin registered."""
        return {n: item for n, item in self.items.items() if self.owner[n] == plugin}

    def __contains__(self, name: object) -> bool:
        return name in self.items

    def __iter__(self) -> Iterator[str]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"<Registry {self.kind}: {', '.join(self.items) or 'empty'}>"


def missing_members(item: Any, protocol: type) -> str:
    """Name the members of a Protocol class that ``item`` lacks ("" for other classes)."""
    if not getattr(protocol, "_is_protocol", False):
        return ""
    members: set[str] = set()
    for cls in protocol.__mro__:
        if cls is object or cls.__module__ == "typing":
            continue
        members |= {n for n in vars(cls) if not n.startswith("_")}
        members |= {n for n in getattr(cls, "__annotations__", {}) if not n.startswith("_")}
    return ", ".join(sorted(m for m in members if not hasattr(item, m)))
