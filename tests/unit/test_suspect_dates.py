"""Old news stays old: the one definition of a suspect date, the feed's date and tags on the article, and no rule kind
firing on an article whose date is suspect under its look-back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import FeedSource, QueryHit, StoryArticle
from streams.alert.mentions import evaluate_mention
from streams.alert.queryrules import evaluate_query
from streams.alert.rulefile import make_rule
from streams.clock import suspect_date
from streams.config import Settings
from streams.enrich.gazetteer import watched_entity_id
from streams.poll.health import health_rows
from streams.poll.parse import parse_feed
from streams.poll.state import FeedState
from streams.poll.steps import MAX_SUSPECT_COUNT, suspect_dates
from streams.story.breaking import evaluate_breaking
from streams.story.state import new_state
from tests import factories
from tests.factories import story_mention

T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)
MONTH = timedelta(days=30)


@pytest.mark.parametrize(
    ("published", "feed_date", "reason"),
    [
        (T0 - timedelta(hours=1), None, None),
        (T0 - MONTH + timedelta(minutes=1), None, None),  # just within the look-back
        (T0 - MONTH - timedelta(minutes=1), None, "too_old"),
        (T0 - timedelta(days=3650), T0, "too_old"),  # the item's own date wins over the feed's
        (T0 + timedelta(hours=23), None, None),  # a time zone slip is within the slack
        (T0 + timedelta(days=1, minutes=1), None, "future"),
        (None, None, None),  # undated, and nothing says it is old
        (None, T0 - timedelta(days=2), None),  # undated in a feed built two days ago
        (None, T0 - MONTH - timedelta(minutes=1), "missing_older"),
    ],
)
def test_suspect_date_reasons(published: datetime | None, feed_date: datetime | None, reason: str | None) -> None:
    assert suspect_date(published, T0, MONTH, feed_date) == reason


def rss(channel_date: str, *items: str) -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Mill</title><lastBuildDate>{channel_date}</lastBuildDate>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def item(guid: str, pub_date: str | None) -> str:
    date = f"<pubDate>{pub_date}</pubDate>" if pub_date else ""
    return f"<item><title>Mill notice {guid}</title><guid>{guid}</guid><link>https://mill.example/{guid}</link>{date}</item>"


def test_the_poller_carries_the_feed_date_clamped_and_the_feed_tags() -> None:
    source = FeedSource(id="mill", url="https://mill.example/rss", tags=["local", "business"])
    old = parse_feed(rss("Mon, 03 Jan 2022 09:00:00 GMT", item("a", None)), source, T0)
    assert old.articles[0].feed_date == datetime(2022, 1, 3, 9, tzinfo=UTC) and old.articles[0].tags == ["local", "business"]
    ahead = parse_feed(rss("Fri, 01 Jan 2100 00:00:00 GMT", item("a", None)), source, T0)
    assert ahead.articles[0].feed_date == T0  # a date from outside never passes the fetch time
    assert parse_feed(rss("not a date", item("a", None)), source, T0).articles[0].feed_date is None


def test_the_poll_counts_new_suspect_articles_by_reason_once() -> None:
    source = FeedSource(id="mill", url="https://mill.example/rss")
    parsed = parse_feed(
        rss("Mon, 03 Jan 2022 09:00:00 GMT", item("old", "Mon, 03 Jan 2022 08:00:00 GMT"), item("ahead", "Fri, 01 Jan 2100 00:00:00 GMT"),
            item("undated", None), item("fresh", "Mon, 02 Nov 2026 07:00:00 GMT")),
        source,
        T0,
    )  # fmt: skip
    counted = suspect_dates(parsed.articles, Settings())
    assert counted == {"too_old": 1, "future": 1, "missing_older": 1}
    revised = [a.model_copy(update={"revision": 2}) for a in parsed.articles]
    assert suspect_dates(revised, Settings()) == {}  # a revision was counted when its article first came


def test_feeds_list_rows_carry_the_count_clamped() -> None:
    source = FeedSource(id="mill", url="https://mill.example/rss")
    for stored, shown in ((7, 7), (10**15, MAX_SUSPECT_COUNT), (-3, 0)):
        state = FeedState(source=source, partition=0, suspect_dates=stored)
        assert health_rows({"mill": source}, {"mill": state.dumps()})[0]["suspect_dates"] == shown
    assert health_rows({"mill": source}, {})[0]["suspect_dates"] == 0


@pytest.mark.parametrize(
    ("published", "feed_date"),
    [(T0 - timedelta(days=400), None), (T0 + timedelta(days=10), None), (None, T0 - timedelta(days=400))],
    ids=["too_old", "future", "missing_older"],
)
@pytest.mark.parametrize("kind", ["mention", "new_mention", "co_mention", "spike"])
def test_no_mention_rule_fires_on_a_suspect_date(kind: str, published: datetime | None, feed_date: datetime | None) -> None:
    options: dict[str, Any] = {"spike_min_mentions": 1, "spike_sensitivity": 0.1} if kind == "spike" else {}
    if kind == "co_mention":
        options["other"] = {"name": "Marta Kowalczyk"}
    rule = factories.watch_rule(kind=kind, **options)
    others = [watched_entity_id(rule.other)] if rule.other else []
    fresh = story_mention("fresh", T0 - timedelta(hours=1), fetched=T0, watch_ids=[rule.id], co_entity_ids=others)
    assert evaluate_mention(fresh, None, [rule], T0, 30)[1], f"the fresh control must fire a {kind} rule"
    suspect = fresh.model_copy(update={"article_id": "old", "story_id": "s-old", "published": published, "feed_date": feed_date})
    assert evaluate_mention(suspect, None, [rule], T0, 30)[1] == []


def test_a_rule_with_a_longer_look_back_still_fires_on_an_older_article() -> None:
    rule = factories.watch_rule(kind="mention", lookback_days=400)
    older = story_mention("a", T0 - timedelta(days=100), fetched=T0, watch_ids=[rule.id])
    assert len(evaluate_mention(older, None, [rule], T0, 30)[1]) == 1
    assert evaluate_mention(older, None, [factories.watch_rule(kind="mention")], T0, 30)[1] == []


def story_article(number: int, published: datetime | None, feed_date: datetime | None = None) -> StoryArticle:
    return StoryArticle(id=f"a{number}", title="Mill closes", url=f"https://s{number}.example/{number}", feed_id="f",
                        source=f"s{number}.example", time=T0.timestamp(), language="en", published=published, fetched=T0,
                        feed_date=feed_date)  # fmt: skip


@pytest.mark.parametrize(
    ("published", "feed_date"),
    [(T0 - timedelta(days=400), None), (T0 + timedelta(days=10), None), (None, T0 - timedelta(days=400))],
    ids=["too_old", "future", "missing_older"],
)
def test_query_and_breaking_rules_never_fire_on_a_suspect_date(published: datetime | None, feed_date: datetime | None) -> None:
    query = make_rule("", [], kind="query", query="mill")
    breaking = make_rule("*", [], kind="breaking", spike_min_mentions=1, spike_sensitivity=0.1)
    hit = QueryHit(rule_id=query.id, sentence="Mill closes")
    state = new_state("s1", T0.timestamp()).model_copy(update={"sources": {"s1.example": T0.timestamp()}, "last": T0.timestamp()})
    fresh = story_article(1, T0 - timedelta(hours=1))
    assert len(evaluate_query(None, hit, query, fresh, "s1", [], T0, 30)[1]) == 1
    assert len(evaluate_breaking(state, [breaking], fresh, T0, 30)[1]) == 1
    old = story_article(1, published, feed_date)
    counted, alerts = evaluate_query(None, hit, query, old, "s1", [], T0, 30)
    assert alerts == [] and counted.stories["s1"].sources == []  # not even a source toward min_sources
    assert evaluate_breaking(state, [breaking], old, T0, 30)[1] == []


def test_an_old_copy_joining_an_alerted_story_is_neither_a_source_nor_its_quote() -> None:
    rule = factories.watch_rule(kind="mention")
    fresh = story_mention("fresh", T0 - timedelta(hours=1), fetched=T0, watch_ids=[rule.id], story_id="s")
    seen, alerts = evaluate_mention(fresh, None, [rule], T0, 30)
    assert [a.article_id for a in alerts] == ["fresh"]
    # the same story resurfacing on another outlet dated a year back: no update, the alert keeps quoting the fresh one
    old = story_mention("old", T0 - timedelta(days=400), fetched=T0, watch_ids=[rule.id], story_id="s")
    seen, alerts = evaluate_mention(old, seen, [rule], T0, 30)
    assert alerts == [] and seen.stories["s"].sources == [fresh.url.split("/")[2]] and seen.stories["s"].quote.article_id == "fresh"
    assert evaluate_mention(old, seen, [rule], T0, 30)[1] == []  # and a replay of it is still a replay
