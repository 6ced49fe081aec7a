"""One poll of one feed as named steps: conditional request, response check, parse, dedup, full text, schedule."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from schemas import Article
from streams.clock import human_in, suspect_date
from streams.config import Settings
from streams.errors import FeedError, FetchError, MessageTooLarge
from streams.http.headers import clamp_seconds
from streams.kafka.sizes import limits, truncate_article
from streams.poll.fetch import Fetcher, FetchResult
from streams.poll.fulltext import add_fulltext
from streams.poll.parse import ParsedFeed
from streams.poll.parserpool import ParserPool
from streams.poll.schedule import adaptive_interval, interval_bounds, next_interval, retry_interval
from streams.poll.state import FeedState

log = logging.getLogger(__name__)

RECENT_ITEMS = 500  # item ids remembered per feed: more than any feed keeps in its window
#: the most suspect dates a feed's state counts: a number shown to operators, kept within what any column shows
MAX_SUSPECT_COUNT = 999_999_999


@dataclass
class PollOutcome:
    """What a poll produced: the state to store, the articles to publish and a one-line status."""

    state: FeedState
    articles: list[Article] = field(default_factory=list)
    new: int = 0
    revisions: int = 0
    status: str = "ok"
    error_kind: str | None = None
    fetch_seconds: float = 0.0
    parse_seconds: float = 0.0
    #: full-text fetches of this poll by outcome (ok, fetch_timeout, fetch_blocked, not_html, empty, ...)
    fulltext: Counter[str] = field(default_factory=Counter)
    #: links of the published articles dropped as not http(s), by kind (javascript, data, file, ..., invalid)
    dropped_links: Counter[str] = field(default_factory=Counter)
    #: articles cut to the size policy (text over WIREWATCH_ARTICLE_MAX_CHARS or over their share of a message)
    truncated: int = 0
    #: articles that cannot be cut to fit a message (a URL of that size), each with the reason: dead-lettered
    refused: list[tuple[Article, MessageTooLarge]] = field(default_factory=list)
    #: new articles of this poll whose date is suspect, by reason (streams.clock.suspect_date)
    suspect: Counter[str] = field(default_factory=Counter)


async def poll_feed(state: FeedState, fetcher: Fetcher, parser: ParserPool, settings: Settings, now: float) -> PollOutcome:
    """Poll one feed once and return the new state and the articles to publish."""
    source = state.source
    state = state.model_copy(update={"last_poll": now})
    started = time.monotonic()
    try:
        result = await fetcher.get(source.url, state.etag, state.last_modified, max_wait=interval_bounds(settings, source)[1])
    except FetchError as exc:
        failed = _failed(state, settings, now, exc.kind, str(exc), exc.retry_after)
        failed.fetch_seconds = time.monotonic() - started
        return failed
    if result.not_modified:
        state = state.model_copy(update={"last_status": "not_modified", "error_count": 0, "last_error": None})
        return PollOutcome(_scheduled(state, settings, now, result.max_age), status="not_modified", fetch_seconds=result.elapsed)
    fetched = datetime.fromtimestamp(now, tz=UTC)
    parse_started = time.monotonic()
    try:
        parsed = await parser.parse(result.body, source, fetched)
    except FeedError as exc:
        return _failed(state, settings, now, "parse", str(exc), None)
    except Exception as exc:  # noqa: BLE001 - a crashed parser process must not stop polling
        return _failed(state, settings, now, "parse", f"{type(exc).__name__}: {exc}", None)
    outcome = _new_items(state, parsed, result)
    # counted for the articles this poll publishes, so an unchanged feed polled again counts nothing twice
    outcome.dropped_links = Counter(parsed.dropped_links[a.id] for a in outcome.articles if a.id in parsed.dropped_links)
    if outcome.dropped_links:
        kinds = ", ".join(f"{kind}: {count}" for kind, count in sorted(outcome.dropped_links.items()))
        log.warning(
            "feed %s (%s): %d item link(s) dropped, not http(s) (%s); those articles keep the feed's URL",
            source.id,
            source.url,
            outcome.dropped_links.total(),
            kinds,
            extra={"feed_id": source.id},
        )
    outcome.fetch_seconds = result.elapsed
    outcome.parse_seconds = time.monotonic() - parse_started
    # only the new articles and revisions reach here: a page is fetched once per item version, never per poll
    outcome.articles, outcome.fulltext = await add_fulltext(outcome.articles, source, fetcher, parser, settings)
    # after the full text (a page can be far longer than the feed's item), before anything is published
    outcome.articles, outcome.truncated, outcome.refused = within_policy(outcome.articles, state, settings)
    outcome.suspect = suspect_dates(outcome.articles, settings)
    if outcome.suspect:
        counted = min(MAX_SUSPECT_COUNT, outcome.state.suspect_dates + outcome.suspect.total())
        outcome.state = outcome.state.model_copy(update={"suspect_dates": counted})
    low, high = interval_bounds(settings, source)
    # server hints (max-age, Expires, <ttl>) are numbers from outside: clamped to the feed's bounds before scheduling
    server_hint = result.max_age if result.max_age is not None else parsed.ttl_seconds
    hint = clamp_seconds(float(server_hint), high) if server_hint is not None else None
    published = [article.published.timestamp() for article in parsed.articles if article.published is not None]
    outcome.state = outcome.state.model_copy(update={"interval": adaptive_interval(published, now, low, high)})
    outcome.state = _scheduled(outcome.state, settings, now, hint)
    return outcome


def suspect_dates(articles: list[Article], settings: Settings) -> Counter[str]:
    """The new articles (first revisions) whose date is suspect under the default look-back, by reason; each logged once.

    Counted here, where every article is seen once and the feed is known; the rules judge each article again with
    their own look-back where they fire (the alert and story stages), so a rule's longer look-back is respected.
    """
    lookback = timedelta(days=settings.new_mention_lookback_days)
    reasons: Counter[str] = Counter()
    for article in articles:
        if article.revision != 1:
            continue  # a revision of an article counted when it first came
        reason = suspect_date(article.published, article.fetched, lookback, article.feed_date)
        if reason is None:
            continue
        reasons[reason] += 1
        log.info(
            "feed %s: article %s has a suspect date (%s: published %s, feed dated %s, look-back %d days); it never alerts as new",
            article.feed_id, article.id, reason, article.published, article.feed_date, settings.new_mention_lookback_days,
            extra={"feed_id": article.feed_id, "article_id": article.id, "suspect_date": reason},
        )  # fmt: skip
    return reasons


def within_policy(
    articles: list[Article], state: FeedState, settings: Settings
) -> tuple[list[Article], int, list[tuple[Article, MessageTooLarge]]]:
    """The articles cut to the size policy (streams/kafka/sizes.py), how many were cut, and those that cannot fit.

    An item too big is cut, never a reason to lose the feed's other items or its state.
    """
    share = limits(settings).article
    kept: list[Article] = []
    refused: list[tuple[Article, MessageTooLarge]] = []
    truncated = 0
    for article in articles:
        try:
            cut = truncate_article(article, settings.article_max_chars, share)
        except MessageTooLarge as exc:
            refused.append((article, exc))
            continue
        if cut is not article:
            truncated += 1
            log.info(
                "feed %s: article %s cut to the size policy (%d of %d characters)", state.source.id, article.id, len(cut.text),
                len(article.text), extra={"feed_id": state.source.id, "article_id": article.id},
            )  # fmt: skip
        kept.append(cut)
    return kept, truncated, refused


def publish_failed(state: FeedState, settings: Settings, now: float, message: str) -> FeedState:
    """The state to store when a poll's articles could not be published: the items stay unseen (published again by
    the next poll), the feed is polled again after the error backoff, not at once."""
    return _failed(state, settings, now, "publish", message, None).state


def _new_items(state: FeedState, parsed: ParsedFeed, result: FetchResult) -> PollOutcome:
    recent = dict(state.recent)
    articles: list[Article] = []
    new = revisions = 0
    for article in parsed.articles:
        seen = recent.get(article.id)
        if seen and seen[0] == article.content_hash:
            continue
        if seen:
            revision = int(seen[1]) + 1
            article = article.model_copy(update={"revision": revision})
            revisions += 1
        else:
            new += 1
        recent.pop(article.id, None)
        recent[article.id] = [article.content_hash, article.revision]
        articles.append(article)
    while len(recent) > RECENT_ITEMS:
        recent.pop(next(iter(recent)))
    state = state.model_copy(
        update={
            "etag": result.etag,
            "last_modified": result.last_modified,
            "last_status": "ok",
            "last_error": None,
            "error_count": 0,
            "items_seen": state.items_seen + new,
            "recent": recent,
        }
    )
    return PollOutcome(state, articles, new=new, revisions=revisions)


def _scheduled(state: FeedState, settings: Settings, now: float, hint: float | None) -> FeedState:
    delay = next_interval(settings, state.source, state.error_count, hint, state.interval)
    return state.model_copy(update={"next_check": now + delay})


def _failed(state: FeedState, settings: Settings, now: float, kind: str, message: str, retry_after: float | None) -> PollOutcome:
    errors = state.error_count + 1
    delay = retry_interval(settings, state.source, errors, retry_after, state.interval)
    next_attempt = f"next attempt {human_in(delay)}"
    # a rate limit is the server asking us to wait: the error says how long we do
    error = f"{kind}: {message}; {next_attempt}" if kind == "rate_limited" else f"{kind}: {message}"
    log.warning(
        "feed %s (%s): %s; %s",
        state.source.id,
        state.source.url,
        message,
        next_attempt,
        extra={"feed_id": state.source.id, "error_kind": kind},
    )
    state = state.model_copy(
        update={
            "last_status": "broken" if errors >= settings.poll_broken_after_errors else "error",
            "last_error": error,
            "error_count": errors,
            "next_check": now + delay,
        }
    )
    return PollOutcome(state, status="error", error_kind=kind)
