"""``plugins.memory`` in config.yaml: where memory lives, how often it commits, what it keeps."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from jarvis.plugins.memory.context import BUDGETS, Budget
from jarvis.plugins.memory.db import DEFAULT_RETENTION, Retention
from pydantic import BaseModel, ConfigDict, Field, field_validator

DATA_DIR_ENV = "JARVIS_DATA_DIR"


def data_dir() -> Path:
    """Return Jarvis's data directory: ``$JARVIS_DATA_DIR``, else ``$XDG_DATA_HOME/jarvis`` (~/.local/share)."""
    explicit = os.environ.get(DATA_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_DATA_HOME") or "~/.local/share").expanduser() / "jarvis"


def default_path() -> Path:
    """Return where memory lives when config does not say: ``<data dir>/memory``."""
    return data_dir() / "memory"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetentionConfig(_Strict):
    """How long a table keeps records: whole segments go once past either limit."""

    max_age_days: float | None = Field(None, gt=0, description="drop records older than this")
    max_records: int | None = Field(None, ge=1000, description="keep about this many of the newest")


class BudgetConfig(_Strict):
    """One context budget (see docs/memory.md, "Context")."""

    tokens: int = Field(ge=100, description="estimated tokens of the context text")
    unresolved: int | None = Field(ge=0, description="open alerts listed (null: all that fit)")
    actions: int | None = Field(ge=0, description="recent actions listed (null: all that fit)")
    actions_hours: float | None = Field(gt=0, description="only actions this recent (null: any age)")
    events_hours: float = Field(ge=0, description="a recent-events section over this many hours (0: none)")
    messages: int | None = Field(ge=0, description="the session's last messages returned (null: all)")
    history_tokens: int = Field(ge=0, description="estimated tokens of those messages")
    top: int = Field(ge=1, le=50, description="things in each 'top by CPU/memory' list")
    full_detail_upto: int = Field(ge=0, description="kinds with at most this many things show every field")
    snippets: int = Field(ge=0, le=50, description="past user messages on the topic (0: none)")

    def budget(self, name: str) -> Budget:
        """Return the context builder's budget."""
        return Budget(name=name, **self.model_dump())


class MemoryConfig(_Strict):
    """The memory plugin's settings."""

    path: str | None = Field(None, description="the memory directory (default: $JARVIS_DATA_DIR/memory, "
                             "else ~/.local/share/jarvis/memory)")
    commit_interval_s: float = Field(1.0, gt=0, le=60, description="a kill -9 loses at most this much")
    retention: dict[Literal["events", "actions", "conversations", "snapshots"], RetentionConfig] = Field(
        default_factory=dict, description="per table: max_age_days, max_records (defaults in docs/memory.md)")
    snapshot_interval_s: float = Field(1800.0, ge=10, description="a compact cluster snapshot this often")
    context: dict[str, BudgetConfig] = Field(default_factory=dict,
                                             description="context budgets by name: small, large, or your own")
    context_order: list[str] = Field(default_factory=lambda: ["cluster", "node", "guest", "storage",
                                                              "docker_container", "host"],
                                     description="entity kinds in the order the context shows them")

    @field_validator("context", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """A block for ``small`` or ``large`` changes only the keys it names."""
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = {name: _fields(b) for name, b in BUDGETS.items()}
        for name, block in value.items():
            merged[name] = {**merged.get(name, _fields(BUDGETS["small"])), **(block or {})}
        return merged

    def directory(self) -> Path:
        """Return the memory directory."""
        return Path(self.path).expanduser() if self.path else default_path()

    def retentions(self) -> dict[str, Retention]:
        """Return the engine's retention rules; a key config leaves out keeps its default (null: no limit)."""
        rules: dict[str, Retention] = {}
        for name, rule in self.retention.items():
            base = DEFAULT_RETENTION[name]
            given = rule.model_fields_set
            rules[name] = Retention(rule.max_age_days if "max_age_days" in given else base.max_age_days,
                                    rule.max_records if "max_records" in given else base.max_records)
        return rules

    def budgets(self) -> dict[str, Budget]:
        """Return every context budget by name (the defaults unless config changes them)."""
        configured = {name: block.budget(name) for name, block in self.context.items()}
        return {**BUDGETS, **configured}


def _fields(budget: Budget) -> dict[str, Any]:
    values = asdict(budget)
    values.pop("name")
    return values
