"""Validation of the strings the network plugin accepts: MAC addresses, hostnames and IPs."""

from __future__ import annotations

import ipaddress
import re

_HEX = re.compile(r"[0-9A-Fa-f]+")
# Notations seen on labels and in tools: aa:bb:.., aa-bb-.., aabb.ccdd.eeff, aabbccddeeff.
_MAC_FORMS = (
    re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}"),
    re.compile(r"[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}"),
    re.compile(r"[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){2}"),
    re.compile(r"[0-9A-Fa-f]{12}"),
)
# What a broken MAC tends to look like: only hex digits and separators, or any colon
# (hostnames never contain one, and IPv6 literals are no wake target).
_MAC_ISH = re.compile(r"[0-9A-Fa-f:.\- ]+")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def normalize_mac(value: str) -> str:
    """Return ``value`` as ``aa:bb:cc:dd:ee:ff``; raise ValueError if it is no MAC address."""
    text = value.strip()
    if not any(form.fullmatch(text) for form in _MAC_FORMS):
        raise ValueError(f"not a MAC address: {value!r} (expected e.g. aa:bb:cc:dd:ee:ff)")
    digits = re.sub(r"[^0-9A-Fa-f]", "", text).lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def is_mac(value: str) -> bool:
    """Tell whether ``value`` is a MAC address in one of the usual notations."""
    try:
        normalize_mac(value)
    except ValueError:
        return False
    return True


def looks_like_mac(value: str) -> bool:
    """Tell whether ``value`` was probably meant as a MAC address (valid or not)."""
    text = value.strip()
    if is_ip(text):
        return False
    hex_digits = sum(len(run) for run in _HEX.findall(text))
    return ":" in text or (bool(_MAC_ISH.fullmatch(text)) and hex_digits >= 6)


def is_ip(value: str) -> bool:
    """Tell whether ``value`` is an IPv4 or IPv6 literal."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def validate_address(value: str) -> str:
    """Return ``value`` if it is an IP literal or a well-formed hostname, else raise ValueError.

    Rejects spaces, shell and URL metacharacters, empty labels and names over 253 characters,
    so an address can never smuggle anything into a resolver, a log line or a command.
    """
    text = value.strip()
    if is_ip(text):
        return text
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(p) for p in name.split(".")):
        raise ValueError(f"not a hostname or IP address: {value!r}")
    return text
