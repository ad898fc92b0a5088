"""Entity kinds described once: fields, units, meaning, deadbands and the commands a kind takes.

A plugin registers an :class:`EntityKind` for each kind of thing it publishes (``guest``,
``node``...). Everything else is a view of that description: the payload's fields and their
order, the publisher's deadbands, ``<base>/bridge/schema``, the documentation table, Home
Assistant discovery, the dashboard's formatting and the assistant's context lines.

Published payloads are :class:`Payload` objects: dicts that refuse in-place change, so a
change can only reach MQTT through the state store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

JsonType = Literal["integer", "number", "string", "boolean", "array", "object"]
_PLACEHOLDER = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


class Payload(dict[str, Any]):
    """A published payload: a dict that refuses in-place change (build a new one instead)."""

    __slots__ = ()

    def _refuse(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("a published payload is immutable: build a new one and hand it to the store")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore[assignment]

    def __copy__(self) -> Payload:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Payload:
        import copy

        return Payload(copy.deepcopy(dict(self), memo))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Payload, (dict(self),))


def freeze(data: Mapping[str, Any]) -> Payload:
    """Return ``data`` as a Payload (itself when it already is one)."""
    return data if type(data) is Payload else Payload(data)


@dataclass(frozen=True, slots=True, kw_only=True)
class StateField:
    """One field of a payload: its name, JSON type, unit, meaning and how it is published.

    ``deadband`` (absolute) or ``relative_deadband`` (a fraction of the last published value)
    hold back a republish while a number moves less. ``device_class``/``state_class`` are Home
    Assistant's; ``ha`` says whether the field becomes an entity there (``sensor`` or
    ``binary_sensor``, with ``ha_on`` the value meaning on). ``summary`` fields make the one-line
    view of a thing (dashboard cards, the assistant's compact context).
    """

    name: str
    type: JsonType
    description: str
    unit: str | None = None
    label: str | None = None
    nullable: bool = True
    values: tuple[str, ...] = ()
    deadband: float | None = None
    relative_deadband: float | None = None
    device_class: str | None = None
    state_class: str | None = None
    ha: Literal["sensor", "binary_sensor"] | None = None
    ha_on: str | None = None
    icon: str | None = None
    summary: bool = False

    def __post_init__(self) -> None:
        if not _FIELD_NAME.match(self.name):
            raise ValueError(f"field name {self.name!r} must match {_FIELD_NAME.pattern}")
        if self.type not in _PY_TYPES:
            raise ValueError(f"field {self.name}: type {self.type!r} is not one of {', '.join(_PY_TYPES)}")
        if self.deadband is not None and self.relative_deadband is not None:
            raise ValueError(f"field {self.name}: give deadband or relative_deadband, not both")
        if self.ha == "binary_sensor" and self.type != "boolean" and self.ha_on is None:
            raise ValueError(f"field {self.name}: a binary_sensor on a {self.type} field needs ha_on")

    def accepts(self, value: Any) -> bool:
        """Return True when ``value`` has this field's type (None when nullable)."""
        if value is None:
            return self.nullable
        if self.type in ("integer", "number") and isinstance(value, bool):
            return False
        return isinstance(value, _PY_TYPES[self.type])

    def describe(self) -> dict[str, Any]:
        """Return the field as published on ``bridge/schema``."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "description": self.description}
        for key in ("unit", "label", "device_class", "state_class", "ha", "ha_on", "icon"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.values:
            out["values"] = list(self.values)
        if self.nullable:
            out["nullable"] = True
        if self.deadband is not None:
            out["deadband"] = self.deadband
        if self.relative_deadband is not None:
            out["relative_deadband"] = self.relative_deadband
        if self.summary:
            out["summary"] = True
        return out

    def with_(self, **changes: Any) -> StateField:
        """Return a copy with some attributes changed (e.g. another description)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return StateField(**{**values, **changes})


STALE = StateField(name="stale", type="boolean", nullable=False,
                   description="present (true) only while the source cannot reach the thing: the other "
                               "fields are as they were at as_of")
AS_OF = StateField(name="as_of", type="string", nullable=False,
                   description="present only while stale: when the fields were last fresh (ISO-8601 UTC)")
FRESHNESS: tuple[StateField, ...] = (STALE, AS_OF)
"""Added by the hub to a kind with ``freshness`` while the source that publishes it fails."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Verb:
    """A command a kind accepts on ``<base>/<id topic>/<topic>``: its plain payloads and tools."""

    topic: str  # "action" or "set"
    payloads: tuple[str, ...]
    description: str
    tools: Mapping[str, str] = field(default_factory=dict)  # payload -> tool it runs
    dangerous: tuple[str, ...] = ()  # payloads that ask for a confirmation

    def describe(self) -> dict[str, Any]:
        """Return the command as published on ``bridge/schema``."""
        return {"topic": self.topic, "payloads": list(self.payloads), "description": self.description,
                "tools": dict(self.tools), "dangerous": list(self.dangerous)}


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityKind:
    """A kind of thing published as retained state, e.g. ``guest`` on ``guest/{vmid}/state``.

    ``topic`` is the key pattern under the base topic: literal segments and ``{id}``
    placeholders. ``id_topic`` is where its commands live (``guest/{vmid}``, commands on
    ``guest/{vmid}/action``). ``name_field`` names the field holding a display name.
    """

    name: str
    topic: str
    description: str
    fields: tuple[StateField, ...]
    verbs: tuple[Verb, ...] = ()
    name_field: str | None = None
    strict: bool = True  # payloads carry exactly these fields
    freshness: bool = False  # its source may go stale: payloads then also carry stale and as_of

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"entity kind {self.name}: fields listed twice: {', '.join(duplicates)}")
        if not self.segments or any(not (_PLACEHOLDER.match(s) or _SEGMENT.match(s)) for s in self.segments):
            raise ValueError(f"entity kind {self.name}: topic {self.topic!r} must be segments of "
                             "[A-Za-z0-9_-] or {placeholder}")
        if _PLACEHOLDER.match(self.segments[0]):
            raise ValueError(f"entity kind {self.name}: topic {self.topic!r} must start with a literal segment")
        if self.name_field is not None and self.name_field not in names:
            raise ValueError(f"entity kind {self.name}: name_field {self.name_field!r} is not a field")

    @property
    def segments(self) -> tuple[str, ...]:
        """The topic's segments."""
        return tuple(self.topic.split("/"))

    @property
    def ids(self) -> tuple[str, ...]:
        """The placeholders of the topic, in order (``("vmid",)`` for ``guest/{vmid}/state``)."""
        return tuple(m.group(1) for s in self.segments if (m := _PLACEHOLDER.match(s)))

    @property
    def published_fields(self) -> tuple[StateField, ...]:
        """The fields a payload may carry: the kind's own, then ``stale``/``as_of`` if it has ``freshness``."""
        return self.fields + (FRESHNESS if self.freshness else ())

    @property
    def field_names(self) -> tuple[str, ...]:
        """The field names, in payload order."""
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> StateField:
        """Return one field by name (KeyError if the kind has none of that name)."""
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(f"{self.name} has no field {name!r}")

    def matches(self, key: tuple[str, ...]) -> bool:
        """Return True when an entity key is of this kind."""
        segments = self.segments
        return len(key) == len(segments) and all(
            part == s or _PLACEHOLDER.match(s) is not None for part, s in zip(key, segments, strict=True)
        )

    def ids_of(self, key: tuple[str, ...]) -> dict[str, str]:
        """Return the placeholder values of a key of this kind."""
        return {m.group(1): part for part, s in zip(key, self.segments, strict=True)
                if (m := _PLACEHOLDER.match(s))}

    def key(self, **ids: Any) -> tuple[str, ...]:
        """Build an entity key from the placeholder values."""
        return tuple(str(ids[m.group(1)]) if (m := _PLACEHOLDER.match(s)) else s for s in self.segments)

    def payload(self, values: Mapping[str, Any]) -> Payload:
        """Build a payload with exactly this kind's fields, in order (missing ones are None)."""
        unknown = set(values) - set(self.field_names)
        if unknown and self.strict:
            raise ValueError(f"{self.name}: unknown field(s) {', '.join(sorted(unknown))}")
        out = {name: values.get(name) for name in self.field_names}
        if not self.strict:
            out.update((k, v) for k, v in values.items() if k not in out)
        return Payload(out)

    def problems(self, data: Mapping[str, Any]) -> list[str]:
        """Return what is wrong with a payload of this kind (empty when it matches)."""
        found: list[str] = []
        names = self.field_names
        if self.freshness and "stale" in data:
            names = names + tuple(f.name for f in FRESHNESS)
        if self.strict and tuple(data) != names:
            missing = [n for n in names if n not in data]
            extra = [n for n in data if n not in names]
            if missing or extra:
                found.append(f"{self.name}: missing {missing}, unexpected {extra}")
        for item in self.published_fields:
            if item.name in data and not item.accepts(data[item.name]):
                found.append(f"{self.name}.{item.name}: {data[item.name]!r:.60} is not a {item.type}")
            value = data.get(item.name)
            if item.values and value is not None and value not in item.values:
                found.append(f"{self.name}.{item.name}: {value!r:.60} is not one of {list(item.values)}")
        return found

    def describe(self) -> dict[str, Any]:
        """Return the kind as published on ``bridge/schema``."""
        return {
            "kind": self.name,
            "topic": self.topic,
            "description": self.description,
            "ids": list(self.ids),
            "name_field": self.name_field,
            "fields": [f.describe() for f in self.published_fields],
            "commands": [v.describe() for v in self.verbs],
        }


class KindIndex:
    """Finds the kind of an entity key (kinds bucketed by key length and first segment)."""

    def __init__(self, kinds: Iterable[EntityKind] = ()) -> None:
        self.kinds: list[EntityKind] = []
        self._heads: dict[tuple[int, str], list[EntityKind]] = {}
        for kind in kinds:
            self.add(kind)

    def add(self, kind: EntityKind) -> None:
        """Index one more kind; a topic pattern that overlaps another kind's is refused."""
        for other in self.kinds:
            if _overlap(other, kind):
                raise ValueError(f"entity kind {kind.name!r} (topic {kind.topic}) overlaps "
                                 f"kind {other.name!r} (topic {other.topic})")
        self.kinds.append(kind)
        self._heads.setdefault((len(kind.segments), kind.segments[0]), []).append(kind)

    def remove(self, names: Iterable[str]) -> None:
        """Forget kinds by name."""
        gone = set(names)
        kept = [k for k in self.kinds if k.name not in gone]
        self.kinds, self._heads = [], {}
        for kind in kept:
            self.add(kind)

    def kind_of(self, key: tuple[str, ...]) -> EntityKind | None:
        """Return the kind of ``key``, or None for state no kind describes."""
        if not key:
            return None
        for kind in self._heads.get((len(key), key[0]), ()):
            if kind.matches(key):
                return kind
        return None

    def __iter__(self) -> Iterator[EntityKind]:
        return iter(self.kinds)


def _overlap(a: EntityKind, b: EntityKind) -> bool:
    """True when some key would match both kinds."""
    if len(a.segments) != len(b.segments):
        return False
    return all(x == y or _PLACEHOLDER.match(x) or _PLACEHOLDER.match(y)
               for x, y in zip(a.segments, b.segments, strict=True))


def deadband_rules(kinds: Iterable[EntityKind], base: Iterable[StateField] = ()) -> dict[str, tuple[float, bool]]:
    """Return field name -> (band, relative?) for every field with a deadband.

    Deadbands are per field name, so every kind that publishes ``cpu_pct`` shares one band; two
    kinds describing different bands for one name are refused.
    """
    rules: dict[str, tuple[float, bool]] = {}
    owners: dict[str, str] = {}
    items = [("core", f) for f in base] + [(k.name, f) for k in kinds for f in k.fields]
    for owner, item in items:
        if item.deadband is not None:
            rule = (float(item.deadband), False)
        elif item.relative_deadband is not None:
            rule = (float(item.relative_deadband), True)
        else:
            continue
        if item.name in rules and rules[item.name] != rule and owner != "core":
            raise ValueError(f"field {item.name!r} has deadband {rule} in {owner} but {rules[item.name]} "
                             f"in {owners[item.name]}: one field name, one deadband")
        rules.setdefault(item.name, rule)
        owners.setdefault(item.name, owner)
    return rules


def markdown_table(kind: EntityKind) -> str:
    """Return the documentation table of one kind (docs/mqtt.md carries these, generated)."""
    lines = [f"#### `{kind.name}` — `<base>/{kind.topic}`", "", kind.description, "",
             "| field | type | unit | meaning |", "|---|---|---|---|"]
    for item in kind.published_fields:
        kind_text = item.type + (" \\| null" if item.nullable else "")
        meaning = item.description + (f" (one of {', '.join(item.values)})" if item.values else "")
        lines.append(f"| `{item.name}` | {kind_text} | {item.unit or ''} | {meaning} |")
    if kind.verbs:
        lines += ["", "Commands: " + "; ".join(
            f"`{kind.topic.rsplit('/', 1)[0]}/{v.topic}` ← {', '.join(v.payloads)}" for v in kind.verbs)]
    return "\n".join(lines) + "\n"
