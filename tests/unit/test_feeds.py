"""Feed bytes to articles: our own fixture feeds, refused documents and the id chain."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import FeedSource
from streams import ids
from streams.cli.sampleserver import SAMPLES
from streams.errors import FeedError
from streams.poll.parse import parse_feed

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def source(url: str = "http://127.0.0.1:1/feed.xml") -> FeedSource:
    return FeedSource(id=ids.feed_id(url), url=url)


def test_rss_items_become_articles() -> None:
    parsed = parse_feed((FIXTURES / "valley-news.xml").read_bytes(), source(), NOW)
    assert parsed.title == "Valley News (Wirewatch test fixture)"
    first, second = parsed.articles
    assert first.title == "Councillor Ingrid Halvorsen wins vote on the Redmoor bridge"
    assert first.canonical_url == "http://127.0.0.1/valley/bridge"
    assert first.published == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert first.text.startswith("Councillor Ingrid Halvorsen won Thursday's vote")
    assert "\n" not in first.text
    assert first.id == ids.article_id(source().id, "valley-0001", None, "", None)
    # no GUID: the canonical URL is the id
    assert second.id == ids.article_id(source().id, None, "http://127.0.0.1/valley/library", "", None)
    assert first.content_hash != second.content_hash


def test_atom_sample_feed() -> None:
    parsed = parse_feed((SAMPLES / "continental-wire.xml").read_bytes(), source(), NOW)
    assert len(parsed.articles) == 3
    assert parsed.articles[0].authors == ["Continental Wire staff"]
    assert parsed.articles[0].canonical_url == "http://127.0.0.1/continental-wire/grain-talks"


def test_same_bytes_same_ids() -> None:
    body = (SAMPLES / "harbour-gazette.xml").read_bytes()
    assert [a.id for a in parse_feed(body, source(), NOW).articles] == [a.id for a in parse_feed(body, source(), NOW).articles]
    assert parse_feed(body, source(), NOW).ttl_seconds == 300


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss><channel><title>&a;</title></channel></rss>', "DOCTYPE or ENTITY"),
        (b"<!DOCTYPE html><html><body>Not a feed</body></html>", "HTML page"),
        (b"<html><head><title>x</title></head></html>", "HTML page"),
        (b"this is not xml at all", "not"),
        (b'<?xml version="1.0"?><rss><channel><title>cut off', "not"),
    ],
    ids=["empty", "entity-bomb", "html-doctype", "html", "garbage", "truncated"],
)
def test_refused_documents(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_feed(body, source(), NOW)


def test_control_characters_never_reach_articles() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>Bad\x01 title</title><guid>g</guid>'
        b"<description>Text with &#0; nul</description></item></channel></rss>"
    )
    try:
        articles = parse_feed(body, source(), NOW).articles
    except FeedError:
        return  # refusing the feed is acceptable; passing control characters on is not
    for article in articles:
        for value in (article.title, article.text):
            assert "\x00" not in value and "\x01" not in value
