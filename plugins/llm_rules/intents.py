"""What the parser makes of a request: tool calls, an answer, a question back, or "I don't know"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias


@dataclass(frozen=True, slots=True)
class Call:
    """One tool call: a registered tool name and its arguments."""

    tool: str
    args: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolRequest:
    """Run these calls in order (one or more); ``summary`` says what they do in plain words.

    Dangerous tools are requested like any other: the hub's pipeline asks a human to confirm.
    """

    calls: tuple[Call, ...]
    summary: str

    @classmethod
    def single(cls, tool: str, args: Mapping[str, Any], summary: str) -> ToolRequest:
        """Return a request of exactly one call."""
        return cls((Call(tool, dict(args)),), summary)

    @property
    def tool(self) -> str:
        """Return the first call's tool name."""
        return self.calls[0].tool

    @property
    def args(self) -> Mapping[str, Any]:
        """Return the first call's arguments."""
        return self.calls[0].args


@dataclass(frozen=True, slots=True)
class Answer:
    """A reply from the world alone (no tool), with the structured ``facts`` it was built from."""

    text: str
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AskBack:
    """The request is incomplete or ambiguous: ask ``question``; ``options`` are ready-to-say replies."""

    question: str
    options: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """Return the question with its options, as one message."""
        if not self.options:
            return self.question
        return self.question + "\n" + "\n".join(f"- {option}" for option in self.options)


@dataclass(frozen=True, slots=True)
class Unknown:
    """Nothing understood; ``text`` is a helpful message with example phrasings."""

    text: str


Intent: TypeAlias = ToolRequest | Answer | AskBack | Unknown
