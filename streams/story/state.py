"""A story as the story agent keeps it (a value of the stories table) and the ``Story`` record it publishes.

The headline is the most central title: of the titles kept as candidates, the one whose vector is nearest the story's
centroid. Lifecycle and velocity come from the times of the story's recent articles, measured at the story's own
latest article (event time), so a replay gives the same record; :func:`lifecycle` at read time (``now``) lets a quiet
story show as fading.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas import Story, StoryEntity, StoryUpdate
from streams.kafka.tablevalue import TableValue
from streams.story.keys import Snapshot

Lifecycle = Literal["new", "growing", "steady", "fading"]

CENTROID_TERMS = 96  # centroid terms kept per story (the heaviest)
HEADLINE_CANDIDATES = 8  # titles kept to choose the most central from
RECENT_ARTICLES = 500  # article ids remembered per story, so a replayed article is not counted twice
RECENT_TIMES = 200  # article times kept for velocity
MAX_SOURCES = 500  # sources remembered per story (with the time each first carried it)
MAX_ENTITIES = 64  # entities counted per story
HOURS_SHOWN = 24  # hourly counts on the Story record (the sparkline)
FADING_IDLE_SECONDS = 6 * 3600  # a story without an article for this long is fading
NEW_SECONDS = 3600  # a story younger than this is new
MAX_LINKED = 8  # stories of the same burst a story names (a split is into two or three; more is a crowd of one minute)


class Headline(BaseModel):
    """A title that may be the story's headline, with its article's URL and vector."""

    model_config = ConfigDict(frozen=True)

    article: str
    title: str
    url: str
    vector: dict[str, float] = Field(default_factory=dict)


class StoryState(TableValue):
    """Everything the story stage remembers of one story, bounded: see the constants above."""

    id: str
    first: float
    last: float
    count: int = 0
    centroid: dict[str, float] = Field(default_factory=dict)
    #: the squared norm of the whole centroid (kept as terms are added, so trimming the centroid does not shrink it)
    norm2: float = 0.0
    headlines: list[Headline] = Field(default_factory=list)
    article_ids: list[str] = Field(default_factory=list)
    times: list[float] = Field(default_factory=list)
    #: source → when it first carried the story (unix seconds)
    sources: dict[str, float] = Field(default_factory=dict)
    #: entity id → [name, articles naming it, watched (0/1)]
    entities: dict[str, tuple[str, int, int]] = Field(default_factory=dict)
    languages: dict[str, int] = Field(default_factory=dict)
    #: hour (unix seconds // 3600) → articles
    hours: dict[str, int] = Field(default_factory=dict)
    #: breaking rule id → when it last alerted on this story (its cooldown)
    fired: dict[str, float] = Field(default_factory=dict)
    #: stories of the same burst an article would have joined too, either way (the first MAX_LINKED)
    linked: list[str] = Field(default_factory=list)

    @property
    def norm(self) -> float:
        return math.sqrt(self.norm2) or 1.0

    def snapshot(self) -> Snapshot:
        return Snapshot(size=self.count, norm=self.norm, last=self.last, first=self.first)


def new_state(story_id: str, when: float) -> StoryState:
    return StoryState(id=story_id, first=when, last=when)


def add_article(state: StoryState, update: StoryUpdate, window_seconds: float) -> StoryState | None:
    """The story with one more article, or None when the article was counted before (a replay or a new revision)."""
    article = update.article
    if article is None or article.id in state.article_ids:
        return None
    when = article.time
    centroid = dict(state.centroid)
    # |c + a|² = |c|² + 2 c·a + |a|²: exact while the centroid holds every term, a close bound once it is trimmed
    norm2 = state.norm2 + 2 * sum(w * centroid.get(k, 0.0) for k, w in update.vector.items()) + sum(w * w for w in update.vector.values())
    for key, weight in update.vector.items():
        centroid[key] = centroid.get(key, 0.0) + weight
    if len(centroid) > CENTROID_TERMS:
        centroid = dict(sorted(centroid.items(), key=lambda item: (-item[1], item[0]))[:CENTROID_TERMS])
    sources = dict(state.sources)
    if article.source and article.source not in sources and len(sources) < MAX_SOURCES:
        sources[article.source] = when
    entities = dict(state.entities)
    for entity in article.entities:
        name, count, watched = entities.get(entity.id, (entity.name, 0, 0))
        entities[entity.id] = (name, count + 1, 1 if (watched or entity.watched) else 0)
    if len(entities) > MAX_ENTITIES:
        entities = dict(sorted(entities.items(), key=lambda item: (-item[1][2], -item[1][1], item[0]))[:MAX_ENTITIES])
    languages = dict(state.languages)
    languages[article.language] = languages.get(article.language, 0) + 1
    last = max(state.last, when)
    hours = {h: n for h, n in state.hours.items() if int(h) * 3600 >= last - window_seconds}
    bucket = str(int(when // 3600))
    hours[bucket] = hours.get(bucket, 0) + 1
    headlines = central_headlines([*state.headlines, Headline(article=article.id, title=article.title, url=article.url,
                                                               vector=update.vector)], centroid)  # fmt: skip
    return state.model_copy(
        update={
            "first": min(state.first, when),
            "last": last,
            "count": state.count + 1,
            "centroid": centroid,
            "norm2": norm2,
            "headlines": headlines,
            "article_ids": [*state.article_ids, article.id][-RECENT_ARTICLES:],
            "times": sorted([*state.times, when])[-RECENT_TIMES:],
            "sources": sources,
            "entities": entities,
            "languages": languages,
            "hours": hours,
            "linked": with_links(state.linked, state.id, update.linked_story_ids),
        }
    )


def link(state: StoryState | None, others: list[str]) -> StoryState | None:
    """The story linked to ``others`` too (a ``link`` message); None when that changes nothing or the story is not
    known (swept since, or never here)."""
    if state is None:
        return None
    linked = with_links(state.linked, state.id, others)
    return state.model_copy(update={"linked": linked}) if linked != state.linked else None


def with_links(linked: list[str], story_id: str, others: list[str]) -> list[str]:
    """A story's linked stories with ``others`` added (never itself), the first MAX_LINKED kept, in the order seen."""
    return list(dict.fromkeys(s for s in [*linked, *others] if s != story_id))[:MAX_LINKED]


def centrality(vector: dict[str, float], centroid: dict[str, float], norm: float) -> float:
    return sum(weight * centroid.get(key, 0.0) for key, weight in vector.items()) / norm


def central_headlines(candidates: list[Headline], centroid: dict[str, float]) -> list[Headline]:
    """The HEADLINE_CANDIDATES most central titles, most central first (ties: the earlier article id)."""
    norm = math.sqrt(sum(v * v for v in centroid.values())) or 1.0
    ranked = sorted(candidates, key=lambda h: (-round(centrality(h.vector, centroid, norm), 9), h.article))
    return ranked[:HEADLINE_CANDIDATES]


def velocity(state: StoryState, now: float) -> int:
    """Articles in the hour before ``now``."""
    return sum(1 for t in state.times if now - 3600 < t <= now)


def lifecycle(state: StoryState, now: float) -> Lifecycle:
    """``new``, ``growing``, ``steady`` or ``fading`` at ``now``: the last hour's articles against the story's own rate."""
    if now - state.last >= FADING_IDLE_SECONDS:
        return "fading"
    if now - state.first < NEW_SECONDS:
        return "new"
    recent = velocity(state, now)
    earlier_hours = max(1.0, (now - state.first - 3600) / 3600)
    before = max(0, state.count - recent) / earlier_hours
    if recent >= 2 and recent >= 2 * before:
        return "growing"
    if recent * 2 < before:
        return "fading"
    return "steady"


def hourly(state: StoryState, now: float, hours: int = HOURS_SHOWN) -> list[int]:
    """Articles per hour over the ``hours`` hours ending at ``now``, oldest first."""
    top = int(now // 3600)
    return [state.hours.get(str(h), 0) for h in range(top - hours + 1, top + 1)]


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def story_record(state: StoryState, now: float | None = None) -> Story:
    """The public record of a story (``wirewatch.stories``), measured at ``now`` (default: its latest article)."""
    at = state.last if now is None else now
    head = state.headlines[0] if state.headlines else Headline(article="", title="", url="")
    top = sorted(state.entities.items(), key=lambda item: (-item[1][1], item[0]))[:5]
    languages = sorted(state.languages, key=lambda lang: (-state.languages[lang], lang))
    return Story(
        id=state.id,
        headline=head.title,
        url=head.url,
        article_id=head.article,
        first_seen=_utc(state.first),
        last_seen=_utc(state.last),
        article_count=state.count,
        source_count=len(state.sources),
        sources=sorted(state.sources, key=lambda s: (state.sources[s], s))[:20],
        top_entities=[StoryEntity(id=eid, name=name, articles=count) for eid, (name, count, _) in top],
        languages=languages,
        lifecycle=lifecycle(state, at),
        velocity=velocity(state, at),
        per_hour=hourly(state, at),
        linked_story_ids=list(state.linked),
    )
