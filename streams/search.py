"""What people ask of the stored data: full-text search, an entity's timeline and company, dashboard summaries."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WORD = re.compile(r"\w+", re.UNICODE)


class QueryError(ValueError):
    """A search request that cannot be run, with the reason in words."""


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """``2d``, ``12h``, ``30m``, ``1w`` back from ``now``, or an ISO date/time; None when unset."""
    if value is None or not value.strip():
        return None
    now = now or datetime.now(tz=UTC)
    match = _DURATION.match(value)
    if match:
        return now - timedelta(**{_UNITS[match.group(2).lower()]: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise QueryError(f"--since {value!r}: expected a duration like 2d, 12h, 30m or an ISO date such as 2026-11-27") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def query_words(text: str) -> list[str]:
    """The words of a search; punctuation and operators are dropped so user input is never query syntax."""
    words = _WORD.findall(text)
    if not words:
        raise QueryError(f"search {text!r}: no words to look for")
    return words


def fts5_query(text: str) -> str:
    """An FTS5 MATCH expression requiring every word (each quoted, so none is read as an operator)."""
    return " ".join(f'"{word}"' for word in query_words(text))


@dataclass(frozen=True)
class SearchQuery:
    """A full-text search: every word must occur; optionally newer than ``since`` and naming an entity of ``entity_type``."""

    text: str
    since: datetime | None = None
    entity_type: str | None = None
    limit: int = 20


@dataclass(frozen=True)
class SearchHit:
    """One stored article matching a search."""

    article_id: str
    title: str
    url: str
    feed_id: str
    published: str | None
    fetched: str
    snippet: str
    entities: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EntitySummary:
    """An entity with how often it is mentioned."""

    id: str
    name: str
    type: str
    mentions: int


@dataclass(frozen=True)
class EntityReport:
    """An entity's mention timeline (per day), the entities named alongside it and its latest articles."""

    entity: EntitySummary
    timeline: list[tuple[str, int]]
    co_mentioned: list[EntitySummary]
    articles: list[dict[str, Any]]
    others: list[EntitySummary] = field(default_factory=list)


@dataclass(frozen=True)
class Trend:
    """Mentions of one entity per hour over the last hours, oldest first."""

    entity: EntitySummary
    per_hour: list[int]


def to_plain(value: Any) -> Any:
    """A report or a list of them as plain data for ``--json``."""
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    return asdict(value)


def hour_buckets(now: datetime, hours: int) -> list[str]:
    """The ``YYYY-MM-DDTHH`` labels (UTC) of the last ``hours`` hours, oldest first, the current hour last."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [(top - timedelta(hours=back)).strftime("%Y-%m-%dT%H") for back in range(hours - 1, -1, -1)]


def sparkline_points(values: list[int], width: int = 120, height: int = 24) -> str:
    """The ``points`` of an SVG polyline drawing ``values`` left to right, scaled to the box."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(1, len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - (v / top) * (height - 2) - 1:.1f}" for i, v in enumerate(values))
