"""Incoming payloads: strict JSON or plain text, valid Unicode only, and how old they say they are."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]|\\u[dD][c-fC-F]")


class BadPayload(Exception):
    """A payload that is not what the topic expects."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _has_surrogate(value: Any) -> bool:
    """True when any string (or key) holds a lone UTF-16 surrogate, which no UTF-8 text can carry."""
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def loads(text: str) -> Any:
    """Parse strict JSON; every way it can fail becomes BadPayload (lone surrogates included)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BadPayload(f"payload is not valid JSON ({exc.msg} at char {exc.pos})") from None
    except RecursionError:
        raise BadPayload("payload is not acceptable JSON (nested too deeply)") from None
    except ValueError as exc:  # NaN/Infinity, integers beyond Python's digit limit
        raise BadPayload(f"payload is not acceptable JSON ({str(exc)[:80]})") from None
    # Only a \uD8xx-\uDFxx escape can smuggle one in (UTF-8 bytes cannot): scan only then.
    if _SURROGATE_ESCAPE.search(text) and _has_surrogate(value):
        raise BadPayload("payload is not valid Unicode text (a lone UTF-16 surrogate escape such as \\ud800)")
    return value


def decode_request(payload: bytes) -> dict[str, Any]:
    """Decode a request payload: empty, or a UTF-8 JSON object."""
    if not payload.strip():
        return {}
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPayload("payload is not UTF-8 text; send a JSON object") from None
    value = loads(text)
    if not isinstance(value, dict):
        raise BadPayload(f'payload must be a JSON object like {{"args": {{}}}}, got {type(value).__name__}')
    return value


def decode_command(payload: bytes) -> Any:
    """Decode a command payload: a JSON object, or plain text like ``start``."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadPayload("payload is not UTF-8 text") from None
    if text.startswith("{"):
        return loads(text)
    if text.startswith('"'):
        try:
            return loads(text)
        except BadPayload:
            pass
    return text


def sent_at(value: Any) -> float | None:
    """Return the epoch seconds of a ``ts`` field (seconds, milliseconds or ISO-8601); None if absent.

    Raises BadPayload for a ``ts`` that is neither.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadPayload('"ts" must be epoch seconds or an ISO-8601 time')
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 1e12 else float(value)
    if isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadPayload('"ts" must be epoch seconds or an ISO-8601 time like 2025-01-31T12:00:00Z') from None
        if stamp.tzinfo is None:
            raise BadPayload('"ts" needs a time zone (end it with Z for UTC)')
        return stamp.timestamp()
    raise BadPayload('"ts" must be epoch seconds or an ISO-8601 time')


def age_s(body: Any) -> float | None:
    """Return how old a decoded payload says it is (its ``ts``), or None when it does not say."""
    if not isinstance(body, dict) or "ts" not in body:
        return None
    when = sent_at(body["ts"])
    return None if when is None else time.time() - when


def submitted_strings(rel: str, payload: bytes) -> set[str]:
    """Every string a sender put in a message: topic levels, plain text, JSON keys and values."""
    found = {part for part in rel.split("/") if part}
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return found
    found.add(text.strip())
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return found

    def walk(item: Any, depth: int = 0) -> None:
        if depth > 20:
            return
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                found.add(key)
                walk(inner, depth + 1)
        elif isinstance(item, list):
            for inner in item:
                walk(inner, depth + 1)

    walk(value)
    return found
