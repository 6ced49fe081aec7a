"""Time as Wirewatch reads and shows it: now in UTC, ``--since`` values, durations in words, suspect article dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from streams.errors import InputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: the longest look-back a ``--since`` may ask for; more is a typo, not a question
MAX_SINCE = timedelta(days=3660)
#: how far ahead of this machine's clock a ``--since`` date may lie (another machine's clock, a time zone slip)
MAX_AHEAD = timedelta(days=1)
#: an article dated further ahead of its fetch time than this is suspect: a feed's clock or time zone is wrong
FUTURE_SLACK = timedelta(days=1)

#: why an article's date is suspect: older than the look-back, in the future, or missing in a feed dated before it
SuspectReason = Literal["too_old", "future", "missing_older"]
SUSPECT_REASONS: tuple[SuspectReason, ...] = ("too_old", "future", "missing_older")


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(tz=UTC)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``30m``, ``12h``, ``2d``, ``1w`` back from ``now``, or an ISO date/time (UTC when no zone is given); at most ten
    years back and a day ahead, so every command can compute with the result.

    Raises :class:`~streams.errors.InputError` with the accepted forms.
    """
    now = now or utcnow()
    match = _DURATION.match(value)
    if match:
        amount = float(match.group(1))
        unit = _UNITS[match.group(2).lower()]
        try:
            back = timedelta(**{unit: amount})
        except OverflowError:
            back = MAX_SINCE + timedelta(days=1)
        if back > MAX_SINCE:
            raise InputError(f"--since {value.strip()!r}: at most {MAX_SINCE.days} days back")
        return now - back
    try:
        moment = datetime.fromisoformat(value.strip())
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        back = now - moment
    except (ValueError, OverflowError) as exc:  # OverflowError: a zone that moves year 1 or 9999 out of range
        raise InputError(f"--since {value!r}: expected a duration like 30m, 12h, 2d, 1w or an ISO date such as 2026-11-27") from exc
    if back > MAX_SINCE:
        raise InputError(f"--since {value.strip()!r}: at most {MAX_SINCE.days} days back")
    if back < -MAX_AHEAD:
        raise InputError(f"--since {value.strip()!r}: that is in the future")
    return moment


def human_duration(seconds: float) -> str:
    """A duration in words a person reads at a glance: ``45 s``, ``12 min``, ``23 h 59 min``, ``3 d 4 h``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def human_in(seconds: float | None) -> str:
    """When something is due, in words: ``in 23 h 59 min``, ``now`` when overdue, ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds <= 0:
        return "now"
    return f"in {human_duration(seconds)}"


def human_ago(seconds: float | None) -> str:
    """How long ago, in words: ``12 min ago``, ``just now``, ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return "just now"
    return f"{human_duration(seconds)} ago"


def dated_ahead(published: datetime | None, fetched: datetime) -> bool:
    """Whether an article is dated more than :data:`FUTURE_SLACK` after it was fetched (then its fetch time is used)."""
    return published is not None and published > fetched + FUTURE_SLACK


def suspect_date(
    published: datetime | None, fetched: datetime, lookback: timedelta, feed_date: datetime | None = None
) -> SuspectReason | None:
    """Why an article's date says it is not news within ``lookback`` (None when it may be): the one definition.

    ``too_old``: published longer ago than the look-back (an old article resurfacing, as Google Alerts delivers them);
    ``future``: published more than :data:`FUTURE_SLACK` after it was fetched; ``missing_older``: no date, and the feed
    (its channel's ``lastBuildDate`` / ``updated``) says it was last built longer ago than the look-back.
    """
    if published is not None:
        if dated_ahead(published, fetched):
            return "future"
        return "too_old" if published < fetched - lookback else None
    if feed_date is not None and feed_date < fetched - lookback:
        return "missing_older"
    return None
