"""What people ask of the stored data: searches, an entity's timeline and company, trending entities."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from schemas import Article
from streams.errors import QueryError

_WORD = re.compile(r"\w+", re.UNICODE)


def query_words(text: str) -> list[str]:
    """The words of a search; punctuation and operators are dropped so user input is never query syntax."""
    words = _WORD.findall(text)
    if not words:
        raise QueryError(f"search {text!r}: no words to look for")
    return words


@dataclass(frozen=True)
class SearchQuery:
    """A search in the query rules' language (a list of words: all must occur), optionally newer than ``since`` and
    naming an entity of ``entity_type``."""

    text: str
    since: datetime | None = None
    entity_type: str | None = None
    limit: int = 20


@dataclass(frozen=True)
class HitSpan:
    """A matched run of characters: in the hit's ``snippet``, or in the article's ``title`` or ``text``."""

    where: str
    start: int
    end: int
    text: str


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
    #: the article's story across outlets (None for articles stored before stories existed)
    story_id: str | None = None
    #: the matched terms in ``snippet`` (the table shows them bold)
    highlights: list[HitSpan] = field(default_factory=list)
    #: every matched term in the article's title and text (offsets into the stored text, else the summary)
    spans: list[HitSpan] = field(default_factory=list)


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


def trends(rows: list[Any], buckets: list[str], limit: int) -> list[Trend]:
    """Rows of (entity id, name, type, hour, count) → the ``limit`` entities with most mentions, per hour."""
    index = {hour: i for i, hour in enumerate(buckets)}
    series: dict[str, list[int]] = {}
    names: dict[str, tuple[str, str]] = {}
    for entity_id, name, entity_type, hour, count in rows:
        if hour in index:
            series.setdefault(entity_id, [0] * len(buckets))[index[hour]] += count
            names[entity_id] = (name, entity_type)
    top = sorted(series, key=lambda e: (-sum(series[e]), names[e][0]))[:limit]
    return [Trend(EntitySummary(e, names[e][0], names[e][1], sum(series[e])), series[e]) for e in top]


@dataclass(frozen=True)
class StoryArticleRow:
    """One article of a story as the story page lists it."""

    article_id: str
    title: str
    url: str
    feed_id: str
    source: str
    time: str


def group_by_story(hits: list[SearchHit]) -> list[tuple[SearchHit, list[SearchHit]]]:
    """Search hits grouped by story, in the order of each story's newest hit: (that hit, the story's other hits)."""
    groups: dict[str, list[SearchHit]] = {}
    for hit in hits:
        groups.setdefault(hit.story_id or f"article:{hit.article_id}", []).append(hit)
    return [(members[0], members[1:]) for members in groups.values()]


#: names a window query looks for at most (a rule's name and aliases, with its co_mention partner's)
MAX_NAMES = 100


@dataclass(frozen=True)
class StoredWindow:
    """Stored articles of a time window: how many there are, and those whose title or text holds one of the names
    looked for (case-sensitive, as the gazetteer matches), oldest first by (published, else fetched; id), each with
    the story the story stage gave it (None for an article stored before stories existed)."""

    total: int
    articles: list[tuple[Article, str | None]]


def stored_article(row: Any) -> tuple[Article, str | None]:
    """(id, feed_id, url, canonical_url, title, summary, text, authors, published, fetched, language, content_hash,
    revision, story_id) → the article as the poller published it (its feed URL is not stored) and its story."""
    authors = row[7] if isinstance(row[7], list) else orjson.loads(row[7] or "[]")
    article = Article(id=row[0], feed_id=row[1], feed_url="", url=row[2], canonical_url=row[3], title=row[4], summary=row[5],
                      text=row[6], authors=authors, published=row[8], fetched=row[9], language=row[10], content_hash=row[11],
                      revision=row[12])  # fmt: skip
    return article, row[13]
