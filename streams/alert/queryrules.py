"""Query rules fired once per story: an article's matches are found where its text is (the story stage), then each
is counted where its rule's memory is (keyed by rule id), the first alert when the story's matching sources reach
``min_sources``, an ``update`` for each later one; stories split by arrival order count as one, as for names."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from schemas import Alert, EnrichedArticle, Mention, MentionSpan, QueryHit, StoryArticle, StoryUpdate, WatchRule
from streams import ids
from streams.alert.mentions import MAX_ARTICLES, MAX_SOURCES, STORY_MEMORY
from streams.alert.queryindex import Evidence, QueryIndex, QueryMatch, doc_of, in_scope
from streams.alert.storymemory import StoryMemory
from streams.story.breaking import old_news


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


class QueryQuote(BaseModel):
    """What a query rule's alerts on a story quote: the story's earliest matching article seen, and its match."""

    article: StoryArticle
    hit: QueryHit

    def before(self, article: StoryArticle) -> bool:
        """Whether this quote stays ahead of ``article``: earlier, or as early with the smaller id (as mention alerts)."""
        return (self.article.time, self.article.id) <= (article.time, article.id)


class QueryMark(BaseModel):
    """One story as a query rule remembers it: the matching articles and their sources, whether it alerted, its quote."""

    first: float
    last: float
    articles: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    fired: bool = False
    #: None in a mark written before quotes were kept: it learns one from its next article, without an update for it
    quote: QueryQuote | None = None


class QuerySeen(StoryMemory):
    """What the story stage remembers of one query rule (a value of the query-seen table, keyed by rule id)."""

    #: story id → the rule's mark on it, kept for STORY_MEMORY after the story's last matching article
    stories: dict[str, QueryMark] = Field(default_factory=dict)
    #: story id → the story the rule counts it as: a story opened in the same burst as one the rule already matched,
    #: linked by an article that would have joined either (as EntitySeen.links for a name)
    links: dict[str, str] = Field(default_factory=dict)

    def pruned(self, now: float) -> QuerySeen:
        """Without the stories quiet for longer than STORY_MEMORY before ``now`` (unix seconds), nor links to them."""
        horizon = now - STORY_MEMORY.total_seconds()
        stories = {sid: mark for sid, mark in self.stories.items() if mark.last >= horizon}
        if len(stories) == len(self.stories):
            return self
        return self.model_copy(update={"stories": stories, "links": {s: t for s, t in self.links.items() if t in stories}})


def evaluate_query(
    seen: QuerySeen | None,
    hit: QueryHit,
    rule: WatchRule | None,
    article: StoryArticle,
    story_id: str,
    linked: Iterable[str],
    now: datetime,
    default_lookback_days: int,
) -> tuple[QuerySeen, list[Alert]]:
    """The rule's memory with the article's match counted in its story, and the alert it raises: the first when the
    story's matching sources reach ``min_sources``, then an ``update`` for each new source (call once per match).

    Every alert of the story quotes its earliest matching article seen (by time, then id), whichever arrived first, as
    mention alerts do; an earlier article arriving later updates the alert to quote it, even when it adds no source.
    """
    seen = seen if seen is not None else QuerySeen()
    if rule is None or rule.kind != "query" or not rule.enabled:
        return seen, []  # removed or changed since the article was matched
    counted = seen.counted_as(story_id, linked)
    mark = seen.stories.get(counted) or QueryMark(first=article.time, last=article.time)
    if article.id in mark.articles:
        return seen, []  # counted before: a replay or a new revision
    alerts: list[Alert] = []
    update: dict[str, object] = {"articles": [*mark.articles, article.id][-MAX_ARTICLES:]}
    # old news stays old: it is remembered (a replay stays a replay) but neither fires the rule nor counts as a source
    if not old_news(article, rule, default_lookback_days):
        source = article.source or article.feed_id
        grew = bool(source) and source not in mark.sources and len(mark.sources) < MAX_SOURCES
        sources = [*mark.sources, source] if grew else mark.sources
        update |= {"sources": sources, "first": min(mark.first, article.time), "last": max(mark.last, article.time)}
        quote = mark.quote
        earlier = quote is not None and not quote.before(article)
        if quote is None or earlier:
            quote = QueryQuote(article=article.model_copy(update={"entities": []}), hit=hit)
            update["quote"] = quote
        if mark.fired and (grew or earlier):
            alerts.append(query_alert(rule, counted, quote, sources, now, update=True))
        elif not mark.fired and len(sources) >= rule.min_sources:
            update["fired"] = True
            alerts.append(query_alert(rule, counted, quote, sources, now, update=False))
    links = dict(seen.links)
    if counted != story_id:
        links[story_id] = counted
    changed = seen.model_copy(update={"stories": {**seen.stories, counted: mark.model_copy(update=update)}, "links": links})
    return changed.pruned(max(article.time, mark.last)), alerts


def query_alert(rule: WatchRule, story_id: str, quote: QueryQuote, sources: list[str], now: datetime, update: bool) -> Alert:
    """The alert of a query rule on a story, quoting ``quote``; its id derives from the rule and the story, as every story
    alert's does, and its sources are sorted, so neither depends on the order the articles arrived in."""
    article, hit = quote.article, quote.hit
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
        sources=sorted(sources),
        update=update,
        destinations=list(rule.destinations),
        digest=rule.digest,
        published=article.published,
        fetched=fetched,
        detected=now,
        latency_seconds=max(0.0, (now - fetched).total_seconds()),
    )


def query_messages(update: StoryUpdate, hits: Iterable[QueryHit]) -> list[tuple[str, StoryUpdate]]:
    """The article's matches as messages to where each rule's memory is: (rule id, the message keyed by it)."""
    if update.article is None:
        return []
    return [(hit.rule_id, StoryUpdate(kind="query", story_id=update.story_id, article=update.article, time=update.time,
                                      query_hits=[hit], linked_story_ids=update.linked_story_ids))
            for hit in hits]  # fmt: skip
