"""Old news stays old and tags reach the rules, from a real feed server on loopback through the poller's steps to the
workers' rule steps: a resurfacing old article is counted per feed and alerts no rule of any kind, a fresh one does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from schemas import Alert, Article, FeedSource, WatchRule
from streams.alert.rulefile import make_rule
from streams.alert.simulation import Simulation
from streams.clock import SUSPECT_REASONS
from streams.config import Settings
from streams.poll.fetch import Fetcher
from streams.poll.parserpool import ParserPool
from streams.poll.state import FeedState
from streams.poll.steps import PollOutcome, poll_feed
from tests import factories
from tests.loopback import serve

T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)
#: what each item says after the watched name: no two items share a content word, so each is a story of its own
ITEMS = {
    "fresh": (T0 - timedelta(hours=1), "opened the ferry terminal beside the harbour"),
    "undated": (None, "praised volunteers clearing snow from railway platforms"),
    "old": (T0 - timedelta(days=400), "unveiled plans for a cycling bridge across rivers"),
    "ahead": (T0 + timedelta(days=10), "chaired budget talks about school kitchens"),
}


def rss(built: datetime, items: dict[str, tuple[datetime | None, str]]) -> bytes:
    entries = "".join(
        f"<item><title>{guid.title()} {words.split()[1]} {words.split()[-1]}</title><guid>{guid}</guid>"
        f"<link>https://{guid}.example/{guid}</link><description>Ana Lima {words}.</description>"
        + (f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>" if when else "")
        + "</item>"
        for guid, (when, words) in items.items()
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f"<lastBuildDate>{format_datetime(built, usegmt=True)}</lastBuildDate>{entries}</channel></rss>"
    ).encode()


FEEDS = {
    # a live feed built an hour ago: its undated item is news, its old and future-dated ones are not
    "news.xml": rss(T0 - timedelta(hours=1), ITEMS),
    # an archive last built over a year ago: its undated item is old news
    "archive.xml": rss(T0 - timedelta(days=400), {"archived": (None, "inspected lighthouse lamps along northern coasts")}),
}


@pytest.fixture
async def feeds() -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=FEEDS[request.match_info["name"]], content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner, port = await serve(app)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def poll(base: str, name: str, tags: list[str]) -> PollOutcome:
    settings = Settings(fetch_allow_hosts=["127.0.0.1/32"], fetch_timeout_seconds=10.0)
    state = FeedState(source=FeedSource(id=name.split(".")[0], url=f"{base}/{name}", tags=tags), partition=0)
    parser = ParserPool(20.0)
    try:
        async with Fetcher(settings) as fetcher:
            first = await poll_feed(state, fetcher, parser, settings, now=T0.timestamp())
            # polled again: nothing is new, so nothing is counted twice
            again = await poll_feed(first.state, fetcher, parser, settings, now=T0.timestamp() + 600)
    finally:
        parser.kill()
    assert again.articles == [] and again.suspect == {} and again.state.suspect_dates == first.state.suspect_dates
    return first


def alerts_of(articles: list[Article], rules: list[WatchRule]) -> tuple[dict[str, list[Alert]], set[str]]:
    """Each article as the workers see it after enrichment (the watched name mentioned at the start of its text)
    through the story stage and every rule kind: the alerts per article guid and the stories they fell in."""
    simulation = Simulation(rules)
    watching = [rule.id for rule in rules if rule.kind in ("mention", "new_mention", "spike")]
    out: dict[str, list[Alert]] = {}
    stories = set()
    for article in articles:
        mention = factories.mention(article.id, fetched=article.fetched, published=article.published, url=article.url,
                                    feed_id=article.feed_id, title=article.title, sentence=article.text,
                                    watch_ids=watching)  # fmt: skip
        story, raised, _ = simulation.step(factories.enriched(article), [mention])
        stories.add(story)
        out[article.guid or ""] = raised
    return out, stories


def counted(reason: str) -> float:
    return REGISTRY.get_sample_value("wirewatch_suspect_dates_total", {"reason": reason}) or 0.0


async def test_a_resurfacing_old_article_is_counted_and_alerts_no_rule(feeds: str) -> None:
    from agents.poll import record_metrics

    before = {reason: counted(reason) for reason in SUSPECT_REASONS}
    news = await poll(feeds, "news.xml", ["world"])
    archive = await poll(feeds, "archive.xml", ["archive"])
    assert news.suspect == {"too_old": 1, "future": 1} and news.state.suspect_dates == 2
    assert archive.suspect == {"missing_older": 1} and archive.state.suspect_dates == 1
    for outcome in (news, archive):
        record_metrics(outcome)  # what the poller agent does with each poll's outcome
    assert {reason: counted(reason) - before[reason] for reason in SUSPECT_REASONS} == {"too_old": 1, "future": 1, "missing_older": 1}
    kinds = {
        "mention": make_rule("Ana Lima", [], "PERSON", kind="mention"),
        "new_mention": make_rule("Ana Lima", [], "PERSON", kind="new_mention"),
        "spike": make_rule("Ana Lima", [], "PERSON", kind="spike", spike_min_mentions=1, spike_sensitivity=0.1, cooldown_minutes=0),
        "query": make_rule("", [], kind="query", query='"Ana Lima"'),
        "breaking": make_rule("*", [], kind="breaking", spike_min_mentions=1, spike_sensitivity=0.1),
    }
    by_id = {rule.id: name for name, rule in kinds.items()}
    raised, stories = alerts_of(news.articles + archive.articles, list(kinds.values()))
    assert len(stories) == 5, "each item must be a story of its own for this test to say anything"
    fired = {guid: sorted(by_id[a.rule_id] for a in alerts if not a.update) for guid, alerts in raised.items()}
    print("rule kinds fired per item:", fired)
    assert fired["old"] == fired["ahead"] == fired["archived"] == []
    assert fired["fresh"] == sorted(kinds)  # every kind fires on the fresh article: the rules are live
    assert "mention" in fired["undated"] and "query" in fired["undated"]  # undated in a live feed: news


async def test_a_feed_tag_scopes_rules_in_the_live_stream(feeds: str) -> None:
    news = await poll(feeds, "news.xml", ["world", "Politics"])
    fresh = [a for a in news.articles if a.guid == "fresh"]
    assert fresh and fresh[0].tags == ["world", "Politics"] and fresh[0].feed_id == "news"
    rules = {
        "tag world": make_rule("Ana Lima", [], "PERSON", kind="mention", feeds=["world"]),
        "tag politics": make_rule("Ana Lima", [], "PERSON", kind="new_mention", feeds=["politics"]),
        # another kind: a rule's id comes from its name and kind, so two scoped mention rules of one name are one rule
        "tag sport": make_rule("Ana Lima", [], "PERSON", kind="spike", spike_min_mentions=1, spike_sensitivity=0.1, feeds=["sport"]),
        "query feed:world": make_rule("", [], kind="query", query='"Ana Lima" AND feed:world'),
        "query feed:sport": make_rule("", [], kind="query", query='"Ana Lima" AND feed:sport'),
    }
    by_id = {rule.id: name for name, rule in rules.items()}
    assert len(by_id) == len(rules)
    raised, _ = alerts_of(fresh, list(rules.values()))
    assert sorted(by_id[a.rule_id] for a in raised["fresh"]) == ["query feed:world", "tag politics", "tag world"]
