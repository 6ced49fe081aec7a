"""Article links: only http(s) leaves the poller; javascript:, data:, file: and junk are dropped and counted by kind."""

from datetime import UTC, datetime

import orjson
import pytest

from schemas import FeedSource
from streams.poll.links import DROPPED_SCHEMES, checked_link
from streams.poll.parse import parse_feed

FEED_URL = "https://news.example/section/feed.xml"
NOW = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://news.example/a", ("https://news.example/a", None)),
        ("HTTP://News.Example/b?x=1#c", ("HTTP://News.Example/b?x=1#c", None)),
        ("/2026/11/story.html", ("https://news.example/2026/11/story.html", None)),
        ("story.html", ("https://news.example/section/story.html", None)),
        ("//cdn.example/x", ("https://cdn.example/x", None)),
        ("", ("", None)),
        ("javascript:alert(document.cookie)", ("", "javascript")),
        ("JavaScript:alert(1)", ("", "javascript")),
        ("vbscript:msgbox(1)", ("", "vbscript")),
        ("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", ("", "data")),
        ("file:///etc/passwd", ("", "file")),
        ("ftp://files.example/a", ("", "ftp")),
        ("mailto:desk@news.example", ("", "mailto")),
        ("intent://scan/#Intent;scheme=zxing;end", ("", "other")),
        ("java\tscript:alert(1)", ("", "invalid")),  # browsers drop the tab and run it
        ("http://", ("", "invalid")),
        ("http:no-host", ("", "invalid")),
        ("http://news.example:99999/a", ("", "invalid")),
        ("http://[::1/a", ("", "invalid")),
        ("https://news.example/" + "a" * 9000, ("", "invalid")),
    ],
    ids=lambda value: repr(value)[:30] if isinstance(value, str) else None,
)
def test_checked_link(raw: str, expected: tuple[str, str | None]) -> None:
    assert checked_link(raw, FEED_URL) == expected


def test_labels_are_a_fixed_set_whatever_the_scheme() -> None:
    labels = {checked_link(f"x{n}-scheme:payload", FEED_URL)[1] for n in range(1000)}
    assert labels == {"other"} and set(DROPPED_SCHEMES) >= {"javascript", "data", "file", "other", "invalid"}


def rss(*links: str) -> bytes:
    items = "".join(
        f"<item><title>Ferry notice {n}</title><guid>n{n}</guid><link>{link}</link><description>Timetable {n}.</description></item>"
        for n, link in enumerate(links)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour</title>{items}</channel></rss>'.encode()


def test_rss_item_links_are_checked() -> None:
    source = FeedSource(id="f", url=FEED_URL)
    parsed = parse_feed(
        rss("javascript:alert(1)", "data:text/html,x", "/ok.html", "file:///etc/passwd", "https://news.example/b"), source, NOW
    )
    assert [a.url for a in parsed.articles] == [FEED_URL, FEED_URL, "https://news.example/ok.html", FEED_URL, "https://news.example/b"]
    assert sorted(parsed.dropped_links.values()) == ["data", "file", "javascript"]
    assert set(parsed.dropped_links) == {parsed.articles[i].id for i in (0, 1, 3)}


def test_json_feed_urls_are_checked() -> None:
    source = FeedSource(id="f", url=FEED_URL)
    body = orjson.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Harbour",
            "items": [
                {"id": "1", "url": "javascript:alert(1)", "title": "One", "content_text": "Text one."},
                {"id": "2", "external_url": "data:text/html,<script>x</script>", "title": "Two", "content_text": "Text two."},
                {"id": "3", "url": "https://news.example/3", "title": "Three", "content_text": "Text three."},
            ],
        }
    )
    parsed = parse_feed(body, source, NOW)
    assert [a.url for a in parsed.articles] == [FEED_URL, FEED_URL, "https://news.example/3"]
    assert parsed.dropped_links == {parsed.articles[0].id: "javascript", parsed.articles[1].id: "data"}
