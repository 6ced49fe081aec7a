"""Mention rules as pure functions: a mention and the entity's history in, alerts and the new history out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field

from schemas import Alert, Mention, WatchRule
from streams import ids
from streams.alert import stories
from streams.alert.stories import Story
from streams.enrich import fingerprint
from streams.enrich.gazetteer import watched_entity_id
from streams.kafka.tablevalue import TableValue

RECENT_ARTICLES = 50  # article ids remembered per entity, so a revision or a replay never re-fires
BUCKET_SECONDS = 900  # spike counts are kept per quarter hour


class EntitySeen(TableValue):
    """What the alert agent remembers of one entity (a value of the entity-seen table)."""

    first_seen: datetime
    last_seen: datetime
    mentions: int = 0
    recent_articles: list[str] = Field(default_factory=list)
    stories: list[Story] = Field(default_factory=list)
    #: quarter-hour bucket (unix seconds // 900) → new stories mentioning the entity; kept only for spike rules
    buckets: dict[str, int] = Field(default_factory=dict)
    #: rule id → when a spike rule last fired (its cooldown)
    last_fired: dict[str, datetime] = Field(default_factory=dict)


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


def _fires(rule: WatchRule, mention: Mention, story: Story, seen: EntitySeen, is_new: bool, when: datetime, default_lookback: int) -> bool:
    """Whether ``rule`` (not yet fired on ``story``) fires now, gates included."""
    if rule.min_confidence is not None and mention.confidence is not None and mention.confidence < rule.min_confidence:
        return False
    if len(story.sources) < rule.min_sources:
        return False
    if rule.kind == "mention":
        return True
    if rule.kind == "new_mention":
        lookback = timedelta(days=rule.lookback_days or default_lookback)
        return story.previous is None or story.previous < story.first - lookback
    if rule.kind == "co_mention":
        return rule.other is not None and watched_entity_id(rule.other) in mention.co_entity_ids
    if rule.kind == "spike":
        if not is_new:
            return False  # copies of a story are not more mentions
        last = seen.last_fired.get(rule.id)
        if last is not None and when - last < timedelta(minutes=rule.cooldown_minutes):
            return False
        return is_spike(rule, *spike_counts(seen.buckets, when, rule.spike_window_minutes, rule.spike_baseline_hours))
    return False  # event rules are evaluated on wirewatch.events


@dataclass(frozen=True)
class Placement:
    """Where a mention's article falls among the entity's stories: a new story, or one more copy of a known one."""

    story: Story
    #: the story's position in the entity's list, None for a new story
    index: int | None
    #: sources the story had before this copy (0 for a new story)
    old_sources: int
    when: datetime

    @property
    def is_new(self) -> bool:
        return self.index is None


def evaluate_mention(
    mention: Mention, seen: EntitySeen | None, rules: list[WatchRule], now: datetime, default_lookback_days: int
) -> tuple[EntitySeen, list[Alert]]:
    """Alerts ``mention`` fires under ``rules`` and the entity's updated history.

    Copies of one story (same canonical URL, same content hash, or a near-duplicate sketch) fire a rule once;
    a later copy from a new source yields an ``update`` alert with the same id and a higher ``source_count``.
    A copy already counted (a replay, a new revision) changes nothing. Four steps: find the story, count it,
    fire the rules, remember.
    """
    when = mention.published or mention.fetched
    if seen is None:
        seen = EntitySeen(first_seen=when, last_seen=when)
        previous: datetime | None = None
    else:
        previous = seen.last_seen
    placement = find_story(mention, seen, when, previous)
    if placement is None:
        return seen, []
    seen = count_story(seen, rules, placement)
    alerts, story, last_fired = fire_rules(rules, mention, placement, seen, now, default_lookback_days)
    return remember(seen, placement, story, mention, last_fired), alerts


def find_story(mention: Mention, seen: EntitySeen, when: datetime, previous: datetime | None) -> Placement | None:
    """The story the mention's article belongs to (a new one if none matches); None when the article was counted before."""
    canonical = mention.canonical_url or ids.canonical_url(mention.url)
    sketch_hex = mention.sketch or fingerprint.sketch(mention.title, mention.sentence)
    source = fingerprint.source_of(mention.url) or mention.feed_id
    index = stories.find_story(seen.stories, mention.article_id, canonical, mention.content_hash or "", sketch_hex, when)
    if index is not None and mention.article_id in seen.stories[index].article_ids:
        return None  # this article was counted before: a replay or a new revision
    if index is None and mention.article_id in seen.recent_articles:
        return None  # counted before, its story since forgotten
    if index is None:
        story = stories.new_story(mention.article_id, canonical, mention.content_hash or "", sketch_hex, when, source)
        return Placement(story.model_copy(update={"previous": previous}), None, 0, when)
    known = seen.stories[index]
    return Placement(stories.attach(known, mention.article_id, source), index, len(known.sources), when)


def count_story(seen: EntitySeen, rules: list[WatchRule], placement: Placement) -> EntitySeen:
    """The history with a new story counted in its quarter hour, kept as long as the longest spike baseline needs."""
    spike_rules = [rule for rule in rules if rule.kind == "spike" and rule.enabled]
    if not (placement.is_new and spike_rules):
        return seen
    buckets = dict(seen.buckets)
    key = str(int(placement.when.timestamp()) // BUCKET_SECONDS)
    buckets[key] = buckets.get(key, 0) + 1
    horizon = placement.when.timestamp() - max(rule.spike_baseline_hours for rule in spike_rules) * 3600 - BUCKET_SECONDS
    return seen.model_copy(update={"buckets": {k: v for k, v in buckets.items() if int(k) * BUCKET_SECONDS >= horizon}})


def fire_rules(
    rules: list[WatchRule], mention: Mention, placement: Placement, seen: EntitySeen, now: datetime, default_lookback_days: int
) -> tuple[list[Alert], Story, dict[str, datetime]]:
    """The alerts of the rules that fire (or update) on this copy, the story marked with them, spike rules' last firing."""
    story = placement.story
    alerts: list[Alert] = []
    fired = list(story.fired)
    last_fired = dict(seen.last_fired)
    for rule in rules:
        if not rule.enabled or rule.kind == "event":
            continue
        if rule.id in story.fired:
            if len(story.sources) > placement.old_sources:
                alerts.append(build_alert(rule, mention, now, story, update=True))
            continue
        if _fires(rule, mention, story, seen, placement.is_new, placement.when, default_lookback_days):
            fired.append(rule.id)
            if rule.kind == "spike":
                last_fired[rule.id] = placement.when
            alerts.append(build_alert(rule, mention, now, story))
    return alerts, story.model_copy(update={"fired": fired}), last_fired


def remember(seen: EntitySeen, placement: Placement, story: Story, mention: Mention, last_fired: dict[str, datetime]) -> EntitySeen:
    """The entity's history after this mention: the story first, stories past the horizon dropped, bounded lists."""
    when = placement.when
    kept = [story] + [s for i, s in enumerate(seen.stories) if i != placement.index and when - s.first <= stories.STORY_HORIZON]
    return seen.model_copy(
        update={
            "last_seen": max(seen.last_seen, when),
            "first_seen": min(seen.first_seen, when),
            "mentions": seen.mentions + 1,
            "recent_articles": [*seen.recent_articles, mention.article_id][-RECENT_ARTICLES:],
            "stories": kept[: stories.MAX_STORIES],
            "last_fired": last_fired,
        }
    )


def build_alert(rule: WatchRule, mention: Mention, now: datetime, story: Story | None = None, update: bool = False) -> Alert:
    """The alert of ``rule`` for ``mention`` in ``story``; its id derives from the story's first copy."""
    relative = mention.start - mention.sentence_start
    first_article = story.article_ids[0] if story else mention.article_id
    return Alert(
        id=ids.alert_id(rule.id, mention.entity_id, first_article),
        rule_id=rule.id,
        kind=rule.kind,
        entity_id=mention.entity_id,
        entity_name=mention.name,
        article_id=mention.article_id,
        title=mention.title,
        url=mention.url,
        feed_id=mention.feed_id,
        sentence=mention.sentence,
        evidence=mark_evidence(mention.sentence, relative, relative + (mention.end - mention.start)),
        story_id=story.id if story else ids.stable_id("story", mention.article_id),
        source_count=max(1, len(story.sources)) if story else 1,
        sources=list(story.sources) if story else [],
        update=update,
        destinations=list(rule.destinations),
        digest=rule.digest,
        published=mention.published,
        fetched=mention.fetched,
        detected=now,
        latency_seconds=max(0.0, (now - mention.fetched).total_seconds()),
    )
