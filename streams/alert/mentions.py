"""Mention rules as pure functions: a mention (with its story) and the entity's history in, alerts and the history out.

Rules count stories, not copies: the story stage gives every mention its article's ``story_id``, and a rule alerts once
per (rule, story) with an id derived from both; a later article of the story that brings a new source is an ``update``
alert with the same id and a higher ``source_count``. The history is bounded by time (:data:`STORY_MEMORY`), never by
count, so "already alerted" is exact for as long as an article of the story can still arrive.

An alert quotes the story's earliest article seen (by time, then article id), not the first to arrive: which copy
reaches this partition first depends on how the partitions interleave, so an earlier one arriving later updates the
alert (same id) to quote it, and the same articles give the same alert in any order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from schemas import Alert, Mention, MentionSpan, WatchRule
from streams import ids
from streams.alert.storymemory import StoryMemory
from streams.clock import SuspectReason, dated_ahead, suspect_date
from streams.enrich import fingerprint
from streams.enrich.gazetteer import watched_entity_id
from streams.story.decide import story_id_for

log = logging.getLogger(__name__)

BUCKET_SECONDS = 900  # spike counts are kept per quarter hour
#: how long an entity remembers a story after its last mention there: longer than the story window (72 h by default),
#: after which the story stage opens a new story anyway
STORY_MEMORY = timedelta(days=7)
MAX_SOURCES = 200  # sources remembered per story (the alert's source_count stops growing there)
MAX_ARTICLES = 1000  # article ids remembered per story, so a replayed or revised article is told from a new one


class StoryMark(BaseModel):
    """One story as an entity remembers it: when the entity appeared in it, who carried it, which rules alerted."""

    first: datetime
    last: datetime
    #: the entity's last mention before this story (new_mention's look-back)
    previous: datetime | None = None
    first_article: str = ""
    articles: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    fired: list[str] = Field(default_factory=list)
    #: opened by an article with an implausible date (older than the look-back or in the future): never "new"
    suspect: bool = False
    #: the story's earliest mention of the entity seen (by time, then article id): what its alerts quote
    quote: Mention | None = None
    #: that mention's time (published, else fetched), the first half of the order
    quote_time: datetime | None = None


class EntitySeen(StoryMemory):
    """What the alert agent remembers of one entity (a value of the entity-seen table)."""

    #: 2: stories keyed by story id, bounded by time (version 1 kept copies matched per entity, bounded by count)
    VERSION = 2

    first_seen: datetime
    last_seen: datetime
    mentions: int = 0
    stories: dict[str, StoryMark] = Field(default_factory=dict)
    #: quarter-hour bucket (unix seconds // 900) → new stories mentioning the entity; kept only for spike rules
    buckets: dict[str, int] = Field(default_factory=dict)
    #: rule id → when a spike rule last fired (its cooldown)
    last_fired: dict[str, datetime] = Field(default_factory=dict)
    #: story id → the story the entity counts it as: a story opened in the same burst as one the entity was already
    #: in, linked by an article that would have joined either (``Mention.linked_story_ids``); kept while that story is
    links: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def migrate(cls, obj: dict[str, Any], version: int) -> dict[str, Any]:
        # version 1 grouped copies per entity: its stories cannot be told by story id, so a version-2 value starts
        # without them (a story already alerted may alert once more, right after the upgrade)
        return {k: v for k, v in obj.items() if k not in ("stories", "recent_articles")}


def mark_evidence(sentence: str, start: int, end: int) -> str:
    """The sentence with the mention between ``**`` marks (offsets relative to the sentence)."""
    if not (0 <= start < end <= len(sentence)):
        return sentence
    return f"{sentence[:start]}**{sentence[start:end]}**{sentence[end:]}"


def spike_counts(buckets: dict[str, int], when: datetime, window_minutes: int, baseline_hours: int) -> tuple[int, float]:
    """Stories in the window ending at ``when`` and the count the baseline before it predicts for such a window."""
    now = when.timestamp()
    window_start = now - window_minutes * 60
    baseline_start = now - baseline_hours * 3600
    in_window = in_baseline = 0
    for key, count in buckets.items():
        start = int(key) * BUCKET_SECONDS
        if start + BUCKET_SECONDS > window_start and start <= now:
            in_window += count
        elif start >= baseline_start and start <= now:
            in_baseline += count
    baseline_minutes = max(1.0, baseline_hours * 60 - window_minutes)
    return in_window, in_baseline * window_minutes / baseline_minutes


def is_spike(rule: WatchRule, in_window: int, expected: float) -> bool:
    """A spike: at least ``spike_min_mentions`` stories and ``spike_sensitivity`` times what the baseline predicts."""
    return in_window >= rule.spike_min_mentions and in_window >= rule.spike_sensitivity * max(expected, 1.0)


def mention_time(mention: Mention) -> tuple[datetime, bool]:
    """When the mention happened (published, else fetched) and whether a future date was replaced by the fetch time."""
    if mention.published is None:
        return mention.fetched, False
    if dated_ahead(mention.published, mention.fetched):
        return mention.fetched, True
    return mention.published, False


def suspect_for(mention: Mention, lookback: timedelta) -> SuspectReason | None:
    """Why the mention's article is not news within ``lookback`` (:func:`streams.clock.suspect_date`), None if it may be."""
    return suspect_date(mention.published, mention.fetched, lookback, mention.feed_date)


def _fires(
    rule: WatchRule, mention: Mention, mark: StoryMark, seen: EntitySeen, is_new: bool, when: datetime, default_lookback: int
) -> bool:
    """Whether ``rule`` (not yet fired on the story) fires now, gates included."""
    if rule.min_confidence is not None and mention.confidence is not None and mention.confidence < rule.min_confidence:
        return False
    if len(mark.sources) < rule.min_sources:
        return False
    lookback = timedelta(days=rule.lookback_days or default_lookback)
    if suspect_for(mention, lookback) is not None:
        return False  # old news stays old: an article older than the look-back, dated ahead or undated in an old feed
    if rule.kind == "mention":
        return True
    if rule.kind == "new_mention":
        if mark.suspect:
            return False  # the story was opened by a suspect article: its entity is not newly mentioned
        return mark.previous is None or mark.previous < mark.first - lookback
    if rule.kind == "co_mention":
        return rule.other is not None and watched_entity_id(rule.other) in mention.co_entity_ids
    if rule.kind == "spike":
        if not is_new:
            return False  # more articles of one story are not more stories
        last = seen.last_fired.get(rule.id)
        if last is not None and when - last < timedelta(minutes=rule.cooldown_minutes):
            return False
        return is_spike(rule, *spike_counts(seen.buckets, when, rule.spike_window_minutes, rule.spike_baseline_hours))
    return False  # event rules are evaluated on wirewatch.events, breaking rules where the story state is


@dataclass(frozen=True)
class Placement:
    """The mention's story as the entity knows it after this mention: new to the entity or one more article."""

    story_id: str
    mark: StoryMark
    is_new: bool
    #: sources the story had before this article (0 for a story new to the entity)
    old_sources: int
    when: datetime
    #: this article is earlier than the one the story's alerts quoted: they are updated to quote it
    earlier: bool = False
    #: the article's own story (``story_id`` is the story it counts as; they differ for a linked story)
    own: str = ""


def quoted(mention: Mention) -> Mention:
    """The mention as a story mark keeps it for its alerts: without the lists an alert does not carry."""
    return mention.model_copy(update={"co_entity_ids": [], "aliases": [], "watch_ids": [], "sketch": None})


def evaluate_mention(
    mention: Mention, seen: EntitySeen | None, rules: list[WatchRule], now: datetime, default_lookback_days: int
) -> tuple[EntitySeen, list[Alert]]:
    """Alerts ``mention`` fires under ``rules`` and the entity's updated history (four steps: place, count, fire, remember)."""
    when, future = mention_time(mention)
    if future:  # the poller logged and counted it once per article (streams/poll/steps.py); here only for debugging
        log.debug("article %s: published %s is in the future; taken at its fetch time", mention.article_id, mention.published,
                  extra={"article_id": mention.article_id})  # fmt: skip
    if seen is None:
        seen = EntitySeen(first_seen=when, last_seen=when)
        previous: datetime | None = None
    else:
        previous = seen.last_seen
    placement = place(mention, seen, when, previous, future, rules, default_lookback_days)
    if placement is None:
        return seen, []
    seen = count_story(seen, rules, placement)
    alerts, mark, last_fired = fire_rules(rules, mention, placement, seen, now, default_lookback_days)
    return remember(seen, placement, mark, last_fired), alerts


def place(
    mention: Mention,
    seen: EntitySeen,
    when: datetime,
    previous: datetime | None,
    future: bool,
    rules: list[WatchRule],
    default_lookback: int,
) -> Placement | None:
    """The mention's story mark after it; None when the article was counted before (a replay, a new revision)."""
    own = mention.story_id or story_id_for(mention.article_id)
    story_id = counted_as(mention, seen)
    source = fingerprint.source_of(mention.url) or mention.feed_id
    known = seen.stories.get(story_id)
    lookback = timedelta(days=max([r.lookback_days or default_lookback for r in rules] or [default_lookback]))
    suspect = future or suspect_for(mention, lookback) is not None
    if known is None:
        mark = StoryMark(first=when, last=when, previous=previous, first_article=mention.article_id, articles=[mention.article_id],
                         sources=[source] if source else [], suspect=suspect, quote=quoted(mention), quote_time=when)  # fmt: skip
        return Placement(story_id, mark, True, 0, when, own=own)
    if mention.article_id in known.articles:
        return None  # counted before: a replay or a new revision
    articles = [*known.articles, mention.article_id][-MAX_ARTICLES:]
    if suspect:
        # old news joining a story is remembered (a replay stays a replay) but is neither a new source nor its quote
        return Placement(story_id, known.model_copy(update={"articles": articles}), False, len(known.sources), when, own=own)
    sources = known.sources
    if source and source not in sources and len(sources) < MAX_SOURCES:
        sources = [*sources, source]
    update: dict[str, Any] = {"articles": articles, "sources": sources, "last": max(known.last, when)}
    # a mark written before quotes existed learns its quote now (its alerts are not updated for it)
    quote, quote_time = known.quote, known.quote_time
    earlier = quote is not None and quote_time is not None and (when, mention.article_id) < (quote_time, quote.article_id)
    if earlier or known.quote is None:
        update |= {"quote": quoted(mention), "quote_time": when}
    return Placement(story_id, known.model_copy(update=update), False, len(known.sources), when, earlier, own)


def counted_as(mention: Mention, seen: EntitySeen) -> str:
    """The story the entity counts the mention in: its own, unless that one is linked to a story the entity is in.

    The story stage links two stories opened in the same burst when an article would have joined either
    (streams/story/decide.py, LINK_SECONDS): one story split in two by the order its first articles came in. A name
    already in one of them counts the other as the same story, so its rules alert once and the split's articles are
    updates of that alert. A name new to both stays in the article's own story.
    """
    return seen.counted_as(mention.story_id or story_id_for(mention.article_id), mention.linked_story_ids)


def count_story(seen: EntitySeen, rules: list[WatchRule], placement: Placement) -> EntitySeen:
    """The history with a new story counted in its quarter hour, kept as long as the longest spike baseline needs."""
    spike_rules = [rule for rule in rules if rule.kind == "spike" and rule.enabled]
    if not (placement.is_new and spike_rules) or placement.mark.suspect:
        return seen  # a story opened by old news (or a date ahead) is no sign of a surge now
    buckets = dict(seen.buckets)
    key = str(int(placement.when.timestamp()) // BUCKET_SECONDS)
    buckets[key] = buckets.get(key, 0) + 1
    horizon = placement.when.timestamp() - max(rule.spike_baseline_hours for rule in spike_rules) * 3600 - BUCKET_SECONDS
    return seen.model_copy(update={"buckets": {k: v for k, v in buckets.items() if int(k) * BUCKET_SECONDS >= horizon}})


def fire_rules(
    rules: list[WatchRule], mention: Mention, placement: Placement, seen: EntitySeen, now: datetime, default_lookback_days: int
) -> tuple[list[Alert], StoryMark, dict[str, datetime]]:
    """The alerts of the rules that fire (or update) on this article, the story marked with them, spike rules' last firing."""
    mark = placement.mark
    alerts: list[Alert] = []
    fired = list(mark.fired)
    last_fired = dict(seen.last_fired)
    for rule in rules:
        if not rule.enabled or rule.kind in ("event", "breaking"):
            continue
        if rule.id in mark.fired:
            if len(mark.sources) > placement.old_sources or (placement.earlier and rule.kind != "co_mention"):
                alerts.append(build_alert(rule, mention, now, placement.story_id, mark, update=True))
            continue
        if _fires(rule, mention, mark, seen, placement.is_new, placement.when, default_lookback_days):
            fired.append(rule.id)
            if rule.kind == "spike":
                last_fired[rule.id] = placement.when
            alerts.append(build_alert(rule, mention, now, placement.story_id, mark))
    return alerts, mark.model_copy(update={"fired": fired}), last_fired


def remember(seen: EntitySeen, placement: Placement, mark: StoryMark, last_fired: dict[str, datetime]) -> EntitySeen:
    """The entity's history after this mention: the story marked, stories quiet for longer than STORY_MEMORY dropped."""
    when = placement.when
    stories = {sid: m for sid, m in seen.stories.items() if when - m.last <= STORY_MEMORY}
    stories[placement.story_id] = mark
    links = {sid: target for sid, target in seen.links.items() if target in stories}
    if placement.own and placement.own != placement.story_id:
        links[placement.own] = placement.story_id
    return seen.model_copy(
        update={
            "last_seen": max(seen.last_seen, when),
            "first_seen": min(seen.first_seen, when),
            "mentions": seen.mentions + 1,
            "stories": stories,
            "last_fired": last_fired,
            "links": links,
        }
    )


def build_alert(rule: WatchRule, current: Mention, now: datetime, story_id: str, mark: StoryMark, update: bool = False) -> Alert:
    """The alert of ``rule`` on its story, raised by the ``current`` mention; its id derives from the rule and the story.

    It quotes the story's earliest mention seen (:attr:`StoryMark.quote`), except a co_mention alert, which quotes
    the article naming both; the sources are sorted, so neither depends on the order the articles arrived in.
    """
    mention = mark.quote if mark.quote is not None and rule.kind != "co_mention" else current
    relative = mention.start - mention.sentence_start
    end = relative + (mention.end - mention.start)
    inside = 0 <= relative < end <= len(mention.sentence)
    return Alert(
        id=ids.story_alert_id(rule.id, story_id),
        rule_id=rule.id,
        kind=rule.kind,
        entity_id=mention.entity_id,
        entity_name=mention.name,
        article_id=mention.article_id,
        title=mention.title,
        url=mention.url,
        feed_id=mention.feed_id,
        sentence=mention.sentence,
        evidence=mark_evidence(mention.sentence, relative, end),
        highlights=[MentionSpan(start=relative, end=end, text=mention.sentence[relative:end])] if inside else [],
        story_id=story_id,
        source_count=max(1, len(mark.sources)),
        sources=sorted(mark.sources),
        update=update,
        destinations=list(rule.destinations),
        digest=rule.digest,
        published=mention.published,
        fetched=mention.fetched,
        detected=now,
        latency_seconds=max(0.0, (now - mention.fetched).total_seconds()),
    )
