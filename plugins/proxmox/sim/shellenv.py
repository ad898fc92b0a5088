"""The types a simulated command works with: where it runs and what it returns."""

from __future__ import annotations

from dataclasses import dataclass

from .hostos import NodeHost
from .model import Guest, Node
from .state import SimState


@dataclass
class Result:
    """What a command printed, its exit status, and how long it ran (seconds)."""

    out: str = ""
    err: str = ""
    status: int = 0
    delay: float = 0.0


class ShellSyntaxError(ValueError):
    """An unterminated quote or a trailing backslash."""


@dataclass
class Where:
    """Where a command runs: on a node, or inside one of its containers (pct exec)."""

    sim: SimState
    node: Node
    host: NodeHost
    guest: Guest | None = None
    interactive: bool = False

    @property
    def hostname(self) -> str:
        """The host name a command sees."""
        return self.guest.name if self.guest else self.node.name
