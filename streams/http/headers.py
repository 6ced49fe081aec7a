"""Readings of response headers that schedule the next request (Retry-After, Cache-Control, Expires), clamped.

Every number here comes from a server we do not control: a Retry-After of 400 digits is ``inf`` as a float, an HTTP
date in year 9999 is 7,970 years away, ``max-age=-1`` or ``nan`` mean nothing. Each reading is therefore clamped
to ``[0, maximum]`` (the caller's configured bound) or is None, so what reaches a schedule or a stored state is
always a finite number of seconds inside the bounds.
"""

from __future__ import annotations

import math
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

# ASCII digits only: str.isdigit() also accepts '²' and other Unicode digits, which float() refuses
_SECONDS = re.compile(r"[0-9]+")


def clamp_seconds(value: float | None, maximum: float) -> float | None:
    """``value`` inside ``[0, maximum]``; None for None and NaN (no reading), ``maximum`` for +inf."""
    if value is None or math.isnan(value):
        return None
    return min(max(0.0, value), maximum)


def _delta_seconds(value: str, maximum: float) -> float | None:
    """Delta-seconds (RFC 9110 §10.2.3 / RFC 9111 §1.2.2), clamped; None when ``value`` is not one."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].strip()  # RFC 9111 §5.2: a recipient should accept the quoted form too
    if not _SECONDS.fullmatch(value):
        return None
    # no float() of a 400-digit string: more digits than the maximum has is the maximum
    if len(value.lstrip("0")) > len(str(int(maximum))):
        return maximum
    return clamp_seconds(float(value), maximum)


def _until(value: str, now: float | None, maximum: float) -> float | None:
    """Seconds from ``now`` until the HTTP date ``value``, clamped; None when it is not a date."""
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return clamp_seconds(when - (now if now is not None else time.time()), maximum)


def retry_after_seconds(value: str | None, now: float | None = None, *, maximum: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date, RFC 9110 §10.2.3), in ``[0, maximum]``."""
    if not value:
        return None
    seconds = _delta_seconds(value, maximum)
    return seconds if seconds is not None else _until(value.strip(), now, maximum)


def max_age_seconds(headers: Any, now: float | None = None, *, maximum: float) -> float | None:
    """Freshness lifetime from ``Cache-Control: max-age`` or ``Expires`` (RFC 9111 §4.2.1), in ``[0, maximum]``."""
    for directive in headers.get("Cache-Control", "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            seconds = _delta_seconds(value, maximum)
            if seconds is not None:
                return seconds
    expires = headers.get("Expires")
    return _until(expires, now, maximum) if expires else None
