"""Dead-letter records: the original bytes (or, when too big to carry, a reference to them), the error and the origin."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from schemas import DeadLetter
from streams.clock import utcnow

#: characters of the original key kept in a dead letter (and as its message key): a key is an id, never this long
KEY_MAX_CHARS = 1000
#: characters of the error kept
ERROR_MAX_CHARS = 2000
#: what a dead letter adds to its base64 value at most: key, error, origin, agent, time and the JSON around them
#: (the error and key caps in UTF-8, four bytes a character, plus field names: well under this)
ENVELOPE_BYTES = 16 * 1024


def dead_letter(message: Any, agent: str, error: str, max_bytes: int | None = None) -> DeadLetter:
    """A DeadLetter for a Faust/aiokafka message that ``agent`` could not process.

    It carries the original value in base64 when the dead letter stays within ``max_bytes`` (the message limit),
    else only its size and SHA-256: the original stays at its topic, partition and offset (by reference).
    """
    value = raw_value(message.value)
    return reference(
        key=message.key,
        value=value,
        error=error,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        agent=agent,
        inline=max_bytes is None or inline_fits(len(value), max_bytes),
    )


def reference(
    *, key: Any, value: bytes, error: str, topic: str, partition: int, offset: int, agent: str, inline: bool = False
) -> DeadLetter:
    """A DeadLetter for ``value``: with the value in base64 when ``inline``, else by reference (size and SHA-256)."""
    return DeadLetter(
        key=dead_letter_key(key),
        value_b64=base64.b64encode(value).decode("ascii") if inline else "",
        error=error[:ERROR_MAX_CHARS],
        topic=topic,
        partition=partition,
        offset=offset,
        agent=agent,
        time=utcnow(),
        size=len(value),
        sha256=hashlib.sha256(value).hexdigest(),
        value_omitted=not inline,
    )


def inline_fits(size: int, max_bytes: int) -> bool:
    """Whether a value of ``size`` bytes can ride inside a dead letter of at most ``max_bytes``: base64 makes 4 of 3."""
    return 4 * ((size + 2) // 3) + ENVELOPE_BYTES <= max_bytes


def dead_letter_key(key: Any) -> str | None:
    """The original key as text, cut to :data:`KEY_MAX_CHARS`."""
    if isinstance(key, bytes):
        key = key.decode("utf-8", "replace")
    return None if key is None else str(key)[:KEY_MAX_CHARS]


def raw_value(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return bytes(value)
