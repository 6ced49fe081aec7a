"""Dead-letter records: the original bytes, the error and where the message came from."""

from __future__ import annotations

import base64
from typing import Any

from schemas import DeadLetter
from streams.clock import utcnow


def dead_letter(message: Any, agent: str, error: str) -> DeadLetter:
    """A DeadLetter for a Faust/aiokafka message that ``agent`` could not process."""
    key = message.key
    if isinstance(key, bytes):
        key = key.decode("utf-8", "replace")
    value = message.value
    if value is None:
        value = b""
    elif isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    return DeadLetter(
        key=key,
        value_b64=base64.b64encode(value).decode("ascii"),
        error=error[:2000],
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        agent=agent,
        time=utcnow(),
    )
