"""Query rules fired once per story, where the story state is: the article's matches (found where its text is) in,
alerts out, the first when the story's matching sources reach ``min_sources``, an ``update`` for each later one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from schemas import Alert, EnrichedArticle, Mention, MentionSpan, QueryHit, StoryArticle, WatchRule
from streams import ids
from streams.alert.queryindex import Evidence, QueryIndex, QueryMatch, doc_of, in_scope
from streams.story.breaking import old_news
from streams.story.state import MAX_SOURCES, StoryState


def scoped(rules: Iterable[WatchRule]) -> list[WatchRule]:
    """The rules with scopes or exclusions, but query rules (their scopes are part of their query)."""
    return [rule for rule in rules if rule.kind != "query" and (rule.feeds or rule.sources or rule.languages or rule.exclude)]


def out_of_scope(item: EnrichedArticle, rules: Iterable[WatchRule]) -> list[str]:
    """The ids of the scoped rules (any kind but query) whose scopes or exclusions the article fails, sorted."""
    limited = scoped(rules)
    if not limited:
        return []
    doc = doc_of(item)
    return sorted(rule.id for rule in limited if not in_scope(rule, doc))


def screen_article(item: EnrichedArticle, mentions: list[Mention], queries: QueryIndex) -> tuple[list[QueryHit], list[Mention], list[str]]:
    """Where the article's text is (the story stage): the query rules it matches, its mentions with the watching rules
    whose scopes or exclusions it fails marked ``out_of_scope`` (the alert stage only sees a sentence), and the ids of
    every scoped rule it fails (breaking rules fire where the story is, from the story update). The index holds every
    rule in force: the query rules, and the other rules' scopes, compiled."""
    if not len(queries) and not queries.scoped:
        return [], mentions, []
    matches, outside = queries.screen(doc_of(item))
    hits = [hit_of(match) for match in matches]
    if not outside:
        return hits, mentions, []
    screened = [
        m.model_copy(update={"out_of_scope": sorted(outside & set(m.watch_ids))}) if outside & set(m.watch_ids) else m for m in mentions
    ]
    return hits, screened, sorted(outside)


def hit_of(match: QueryMatch) -> QueryHit:
    """The record of a match that travels with the article to its story."""
    sentence = match.evidence.sentence
    return QueryHit(
        rule_id=match.rule_id,
        sentence=sentence,
        highlights=[MentionSpan(start=a, end=b, text=sentence[a:b]) for a, b in match.evidence.highlights],
    )


def evaluate_queries(
    state: StoryState,
    hits: list[QueryHit],
    rules: dict[str, WatchRule],
    article: StoryArticle,
    now: datetime,
    default_lookback_days: int,
) -> tuple[StoryState, list[Alert]]:
    """The story with the article's query matches counted, and the alerts they raise (call once per new article)."""
    if not hits:
        return state, []
    sources = dict(state.query_sources)
    fired = list(state.query_fired)
    alerts: list[Alert] = []
    source = article.source or article.feed_id
    for hit in hits:
        rule = rules.get(hit.rule_id)
        if rule is None or rule.kind != "query" or not rule.enabled:
            continue  # removed or changed since the article was matched
        if old_news(article, rule, default_lookback_days):
            continue  # old news stays old: it neither fires the rule nor counts as a source for it
        known = sources.get(rule.id, [])
        grew = bool(source) and source not in known and len(known) < MAX_SOURCES
        if grew:
            known = [*known, source]
        sources[rule.id] = known
        if rule.id in fired:
            if grew:
                alerts.append(query_alert(rule, state.id, hit, article, known, now, update=True))
        elif len(known) >= rule.min_sources:
            fired.append(rule.id)
            alerts.append(query_alert(rule, state.id, hit, article, known, now, update=False))
    return state.model_copy(update={"query_sources": sources, "query_fired": fired}), alerts


def query_alert(
    rule: WatchRule, story_id: str, hit: QueryHit, article: StoryArticle, sources: list[str], now: datetime, update: bool
) -> Alert:
    """The alert of a query rule on a story; its id derives from the rule and the story, as every story alert's does."""
    fetched = article.fetched or datetime.fromtimestamp(article.time, tz=UTC)
    marked = Evidence(hit.sentence, tuple((h.start, h.end) for h in hit.highlights)).marked()
    return Alert(
        id=ids.story_alert_id(rule.id, story_id),
        rule_id=rule.id,
        kind="query",
        entity_id="",
        entity_name=rule.entity.name,
        article_id=article.id,
        title=article.title,
        url=article.url,
        feed_id=article.feed_id,
        sentence=hit.sentence,
        evidence=marked,
        highlights=list(hit.highlights),
        story_id=story_id,
        source_count=max(1, len(sources)),
        sources=list(sources),
        update=update,
        destinations=list(rule.destinations),
        digest=rule.digest,
        published=article.published,
        fetched=fetched,
        detected=now,
        latency_seconds=max(0.0, (now - fetched).total_seconds()),
    )
