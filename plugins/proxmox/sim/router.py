"""Route table and PVE-style parameter verification (PVE::JSONSchema messages)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ParamError

NODE_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$")
STORAGE_RE = re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", re.IGNORECASE)
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class P:
    """One parameter of an API method's schema."""

    type: str = "string"  # string | integer | boolean | number
    optional: bool = True
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    format: str | None = None  # pve-node | pve-storage-id


NODE = P(format="pve-node", optional=False)
VMID = P("integer", optional=False, minimum=100, maximum=999_999_999)
VMID_OPT = P("integer", minimum=100, maximum=999_999_999)


@dataclass
class Raw:
    """Data already encoded as JSON (hot paths cache their encoded answer)."""

    body: bytes


@dataclass
class Result:
    """Handler data plus PVE's optional `total` attribute."""

    data: Any
    total: int | None = None


@dataclass
class Route:
    """One API method: path template, schema, proxy and permission rules, handler."""

    method: str
    template: str
    handler: Callable[..., Any]
    params: dict[str, P] = field(default_factory=dict)
    proxyto: bool = False
    # (ACL path template, privilege); checked after parameters verified
    perm: tuple[str, str] | None = None
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        self.regex = re.compile(f"^{pattern}$")

    @property
    def key(self) -> str:
        """Stats key: method and path template."""
        return f"{self.method} {self.template}"


class Router:
    """Finds the route for (method, path) the way PVE's find_handler does."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """Return the route and its path parameters, or None if not implemented."""
        for route in self.routes:
            if route.method != method:
                continue
            m = route.regex.match(path)
            if m:
                return route, m.groupdict()
        return None


def verify(schema: dict[str, P], raw: dict[str, str]) -> dict[str, Any]:
    """Check `raw` against `schema`; return typed values or raise ParamError (HTTP 400)."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name, value in raw.items():
        spec = schema.get(name)
        if spec is None:
            errors[name] = (
                "property is not defined in schema and the schema does not allow "
                "additional properties"
            )
            continue
        try:
            out[name] = _check(spec, value)
        except ValueError as exc:
            errors[name] = str(exc)
    for name, spec in schema.items():
        if not spec.optional and name not in raw:
            errors[name] = "property is missing and it is not optional"
    if errors:
        raise ParamError(errors)
    return out


def _check(spec: P, value: str) -> Any:
    if spec.type == "integer":
        if not re.fullmatch(r"[+-]?\d+", value.strip()):
            raise ValueError(f"type check ('integer') failed - got '{value}'")
        number = int(value)
        if spec.minimum is not None and number < spec.minimum:
            raise ValueError(f"value must have a minimum value of {spec.minimum}")
        if spec.maximum is not None and number > spec.maximum:
            raise ValueError(f"value must have a maximum value of {spec.maximum}")
        return number
    if spec.type == "boolean":
        low = value.strip().lower()
        if low in TRUE:
            return True
        if low in FALSE:
            return False
        raise ValueError(f"type check ('boolean') failed - got '{value}'")
    if spec.enum is not None and value not in spec.enum:
        raise ValueError(
            f"value '{value}' does not have a value in the enumeration '{', '.join(spec.enum)}'"
        )
    if spec.format == "pve-node" and not NODE_RE.match(value):
        raise ValueError("invalid format - value does not look like a valid node name\n")
    if spec.format == "pve-storage-id" and not STORAGE_RE.match(value):
        raise ValueError(f"invalid format - storage ID '{value}' contains illegal characters\n")
    return value
