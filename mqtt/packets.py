"""MQTT PUBLISH packets (QoS 0) encoded in bulk, for state that goes out by the thousand.

A big cluster changes hundreds of retained topics every cycle. Through the client library each
message costs a socket write and a round of callbacks; encoding a run of QoS 0 PUBLISH packets
here (MQTT 3.1.1 and 5.0, section 3.3) lets the link hand them to the socket as one stream.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_REMAINING_LENGTH = 268_435_455  # the largest a four-byte Remaining Length can say


def remaining_length(length: int) -> bytes:
    """Encode a Remaining Length as MQTT's variable byte integer."""
    if not 0 <= length <= MAX_REMAINING_LENGTH:
        raise ValueError(f"an MQTT packet cannot carry {length} bytes")
    if length < 128:  # most state payloads are a few hundred bytes: two bytes at most
        return bytes((length,))
    out = bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        out.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(out)


def valid_publish_topic(topic: str | bytes) -> bool:
    """Return True for a topic a broker takes a PUBLISH on: not empty, no wildcard or NUL, ≤ 64 KiB."""
    name = topic.encode() if isinstance(topic, str) else topic
    return bool(name) and len(name) <= 65535 and b"+" not in name and b"#" not in name and b"\x00" not in name


def encode_publishes(messages: Iterable[tuple[str, bytes]], *, retain: bool, v5: bool) -> bytes:
    """Return QoS 0 PUBLISH packets for ``(topic, payload)`` pairs, concatenated in order."""
    first = b"\x31" if retain else b"\x30"
    no_properties = b"\x00" if v5 else b""
    extra = 2 + len(no_properties)  # topic length prefix, empty property list (v5)
    parts: list[bytes] = []
    append = parts.append
    for topic, payload in messages:
        name = topic.encode()
        if not valid_publish_topic(name):  # a broker would disconnect us for it
            raise ValueError(f"not a topic to publish to: {name[:80]!r}")
        append(first)
        append(remaining_length(extra + len(name) + len(payload)))
        append(len(name).to_bytes(2, "big"))
        append(name)
        append(no_properties)
        append(payload)
    return b"".join(parts)
