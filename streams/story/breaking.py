"""Breaking rules as pure functions, evaluated where the story state is: a story gaining sources faster than its baseline.

As the Europe Media Monitor's top stories are the clusters growing fastest, a ``breaking`` rule fires when the sources
(outlets) that joined a story in the last ``spike_window_minutes`` are at least ``spike_min_mentions`` and at least
``spike_sensitivity`` times what the story's own earlier pace (over ``spike_baseline_hours``) predicts; a brand-new
story has no earlier pace, so three outlets within the hour make it breaking. One alert per (rule, story); a later surge,
after ``cooldown_minutes``, is an ``update`` with the same id. The rule's name is a watched entity the story must name,
or ``*`` for any story.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from schemas import Alert, StoryArticle, WatchRule
from streams import ids
from streams.clock import suspect_date
from streams.enrich.gazetteer import watched_entity_id
from streams.story.state import StoryState

ANY_STORY = "*"


def source_counts(state: StoryState, now: float, window_minutes: int, baseline_hours: int) -> tuple[int, float]:
    """Sources that joined in the window ending at ``now`` and the count the story's earlier pace predicts for it."""
    window_start = now - window_minutes * 60
    baseline_start = now - baseline_hours * 3600
    in_window = sum(1 for t in state.sources.values() if window_start < t <= now)
    before = sum(1 for t in state.sources.values() if baseline_start <= t <= window_start)
    observed_minutes = max(0.0, window_start - max(baseline_start, state.first)) / 60
    if observed_minutes < window_minutes:
        return in_window, float(before)  # younger than two windows: what came before the window is the baseline
    return in_window, before * window_minutes / observed_minutes


def names_watched(rule: WatchRule, state: StoryState) -> bool:
    return rule.entity.name == ANY_STORY or watched_entity_id(rule.entity) in state.entities


def old_news(article: StoryArticle, rule: WatchRule, default_lookback_days: int) -> bool:
    """Whether the article's date is suspect under the rule's look-back (:func:`streams.clock.suspect_date`): such an
    article never fires a rule as news, though it still joins its story."""
    fetched = article.fetched or datetime.fromtimestamp(article.time, tz=UTC)
    lookback = timedelta(days=rule.lookback_days or default_lookback_days)
    return suspect_date(article.published, fetched, lookback, article.feed_date) is not None


def evaluate_breaking(
    state: StoryState,
    rules: list[WatchRule],
    article: StoryArticle,
    now: datetime,
    default_lookback_days: int,
    out_of_scope: Collection[str] = (),
) -> tuple[dict[str, float], list[Alert]]:
    """The breaking rules that fire on the story after ``article`` joined it: their new last firing and their alerts.

    A rule in ``out_of_scope`` (its scopes or exclusions fail the article, as the story stage found) does not fire on
    it: a story surges for a scoped rule when an article within its scopes makes it surge."""
    fired = dict(state.fired)
    alerts = []
    at = state.last
    for rule in rules:
        if rule.kind != "breaking" or not rule.enabled or not names_watched(rule, state):
            continue
        if rule.id in out_of_scope or old_news(article, rule, default_lookback_days):
            continue  # an old article resurfacing (or dated ahead) joining a story is no sign it is breaking now
        last = fired.get(rule.id)
        if last is not None and at - last < rule.cooldown_minutes * 60:
            continue
        in_window, expected = source_counts(state, at, rule.spike_window_minutes, rule.spike_baseline_hours)
        if in_window >= rule.spike_min_mentions and in_window >= rule.spike_sensitivity * max(expected, 1.0):
            fired[rule.id] = at
            alerts.append(breaking_alert(rule, state, article, now, update=last is not None))
    return fired, alerts


def breaking_alert(rule: WatchRule, state: StoryState, article: StoryArticle, now: datetime, update: bool) -> Alert:
    """The alert of a breaking rule on a story: its headline as the evidence, its sources so far."""
    head = state.headlines[0] if state.headlines else None
    title = head.title if head else article.title
    if rule.entity.name == ANY_STORY:
        top = max(state.entities.items(), key=lambda item: (item[1][1], item[0]), default=None)
        entity_id, entity_name = (top[0], top[1][0]) if top else ("", "")
    else:
        entity_id, entity_name = watched_entity_id(rule.entity), rule.entity.name
    fetched = article.fetched or datetime.fromtimestamp(article.time, tz=UTC)
    sources = sorted(state.sources, key=lambda s: (state.sources[s], s))
    return Alert(
        id=ids.story_alert_id(rule.id, state.id),
        rule_id=rule.id,
        kind="breaking",
        entity_id=entity_id,
        entity_name=entity_name,
        article_id=article.id,
        title=title,
        url=head.url if head else article.url,
        feed_id=article.feed_id,
        sentence=title,
        evidence=f"{len(state.sources)} sources, {state.count} articles: {title}",
        story_id=state.id,
        source_count=len(state.sources),
        sources=sources[:50],
        update=update,
        destinations=list(rule.destinations),
        digest=rule.digest,
        published=article.published,
        fetched=fetched,
        detected=now,
        latency_seconds=max(0.0, (now - fetched).total_seconds()),
    )
