"""Readings of response headers that schedule the next request (Retry-After, Cache-Control, Expires)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date, RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def max_age_seconds(headers: Any, now: float | None = None) -> float | None:
    """Freshness lifetime from ``Cache-Control: max-age`` or ``Expires`` (RFC 9111 §4.2.1)."""
    for directive in headers.get("Cache-Control", "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return float(value.strip())
    expires = headers.get("Expires")
    if expires:
        try:
            return max(0.0, parsedate_to_datetime(expires).timestamp() - (now if now is not None else time.time()))
        except (TypeError, ValueError):
            return None
    return None
