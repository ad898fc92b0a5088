"""Exceptions that map to PVE's error responses (status, reason phrase, body)."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered like pveproxy does: `{"data": null, "message": ...}` (+ errors)."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


class ParamError(ApiError):
    """HTTP 400 for parameter verification, with the per-parameter `errors` object."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(400, "Parameter verification failed.\n", errors)


def perm_error(path: str, privilege: str) -> ApiError:
    """Return the 403 PVE raises when a privilege is missing on an ACL path."""
    return ApiError(403, f"Permission check failed ({path}, {privilege})\n")


def internal(message: str) -> ApiError:
    """Return a 500 with `message` (PVE's `die "...\\n"` inside an API handler)."""
    return ApiError(500, message if message.endswith("\n") else message + "\n")


class NodeUnreachable(Exception):
    """pveproxy could not reach the node it proxies to: HTTP 595, empty body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthFailed(Exception):
    """Authentication failed: HTTP 401 with the failure text as reason, empty body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
