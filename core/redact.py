"""Secrets never reach logs, MQTT or an LLM: every resolved secret is remembered and masked."""

from __future__ import annotations

import logging
import threading
from typing import Any

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"


def register_secret(value: str | None) -> None:
    """Remember a secret value so that ``redact`` masks it wherever it appears."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with every known secret replaced by ``***``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_value(value: Any) -> Any:
    """Redact secrets inside a JSON-like value (strings, lists, dicts)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the rendered message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the record's message once, masked, and drop its args; mask tracebacks too."""
        message = record.getMessage()
        masked = redact(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        # An exception's text (log.exception) often carries the secret: render it here, masked;
        # formatters reuse exc_text instead of formatting exc_info again.
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the redacting filter to every handler of ``logger`` (root by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
