"""When to poll a feed next: a pure, clamped function of its posting frequency, the server's hints and its errors."""

from __future__ import annotations

import math

from schemas import FeedSource
from streams.config import Settings

WEEK = 7 * 86_400.0
CLOCK_SKEW = 86_400.0  # items dated further in the future than this are ignored by the adaptive interval


def interval_bounds(settings: Settings, source: FeedSource) -> tuple[float, float]:
    """The feed's own min/max interval, else the settings'."""
    low = source.min_interval_seconds or settings.poll_min_interval_seconds
    high = source.max_interval_seconds or settings.poll_max_interval_seconds
    return float(low), float(max(low, high))


def adaptive_interval(published: list[float], now: float, low: float, high: float) -> float | None:
    """Interval from the feed's posting frequency: a week over the items of the last week, clamped.

    None when no item is dated (the default interval applies); ``high`` when the feed has dated items
    but none from the last week (a quiet feed is polled rarely). Items dated far in the future are
    ignored: a wrong clock must not make a feed look busy.
    """
    dated = [t for t in published if t <= now + CLOCK_SKEW]
    if not dated:
        return None
    recent = sum(1 for t in dated if t >= now - WEEK)
    if not recent:
        return high
    return min(max(WEEK / recent, low), high)


def next_interval(settings: Settings, source: FeedSource, error_count: int, hint: float | None, base: float | None = None) -> float:
    """Seconds until the next poll, clamped by the feed's min/max.

    ``base`` is the adaptive interval (else the default); a server's hint (max-age, Expires, TTL) can
    only lengthen it, never make us poll sooner; errors back it off exponentially.
    """
    low, high = interval_bounds(settings, source)
    interval = base if base is not None and math.isfinite(base) else float(settings.poll_interval_seconds)
    if hint is not None and not math.isnan(hint):
        interval = max(interval, hint)
    if error_count:
        interval = max(interval, low) * (2 ** min(error_count, 16))
    return float(min(max(interval, low), high))


def retry_interval(settings: Settings, source: FeedSource, error_count: int, retry_after: float | None, base: float | None = None) -> float:
    """Seconds until the next poll after an error: the backoff, or the server's Retry-After when longer, at most the feed's max.

    The Retry-After is a number from outside: NaN counts as absent and anything beyond the feed's longest
    interval is cut to it, so no header can schedule a feed years away or make it be polled sooner.
    """
    delay = next_interval(settings, source, error_count, None, base)
    if retry_after is not None and not math.isnan(retry_after):
        delay = max(delay, retry_after)
    return float(min(delay, interval_bounds(settings, source)[1]))
