"""JSON Feed parsing, control characters stripped everywhere, and page debris removal, on text written for these tests."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from schemas import FeedSource, encode
from streams.errors import FeedError
from streams.poll.pagetext import remove_debris
from streams.poll.parse import check_feed_bytes, parse_feed

NOW = datetime(2026, 11, 28, tzinfo=UTC)
SOURCE = FeedSource(id="f", url="http://127.0.0.1/feed.json")

JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Kessington \u0000Courier",
    "language": "en",
    "authors": [{"name": "Courier desk"}],
    "items": [
        {
            "id": "kc-101",
            "url": "http://127.0.0.1/courier/ferry?utm_source=feed",
            "title": "Ferry service to Holm Island resumes",
            "content_html": "<p>The ferry to Holm Island sailed again on Monday.</p><p>Add new comment</p>",
            "date_published": "2026-11-27T08:30:00+01:00",
            "authors": [{"name": "Mira Sandoval"}],
        },
        {
            "id": 102,
            "title": "Night market\u0007 opens",
            "content_text": "Stalls opened at dusk.\n\nThe council expects 40 vendors.",
            "date_modified": "2026-11-26T18:00:00Z",
        },
        {"id": "kc-103"},  # neither title nor text: nothing to publish
        "not an item",
    ],
}


def test_json_feed_items_become_articles() -> None:
    parsed = parse_feed(orjson.dumps(JSON_FEED), SOURCE, NOW)
    assert parsed.title == "Kessington Courier"
    first, second = parsed.articles
    assert (first.guid, first.title, first.authors) == ("kc-101", "Ferry service to Holm Island resumes", ["Mira Sandoval"])
    assert first.canonical_url == "http://127.0.0.1/courier/ferry"
    assert first.published == datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
    assert first.text == "The ferry to Holm Island sailed again on Monday."  # the comment prompt is debris
    assert first.language == "en"
    assert second.guid == "102" and second.title == "Night market opens" and second.authors == ["Courier desk"]
    assert second.text == "Stalls opened at dusk.\n\nThe council expects 40 vendors."
    assert second.published == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    assert second.url == SOURCE.url  # no url: the feed's


def test_json_feed_version_1_author_and_bom() -> None:
    feed = {"version": "https://jsonfeed.org/version/1", "author": {"name": "Old style"}, "items": [{"id": "a", "title": "One"}]}
    (article,) = parse_feed(b"\xef\xbb\xbf" + orjson.dumps(feed), SOURCE, NOW).articles
    assert article.authors == ["Old style"] and article.title == "One"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not valid JSON"),
        (b'{"title": "no version", "items": []}', "not a JSON Feed"),
        (b"[1, 2, 3]", "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "no 'items' list"),
    ],
)
def test_bad_json_feeds_are_refused(body: bytes, error: str) -> None:
    with pytest.raises(FeedError, match=error):
        parse_feed(body, SOURCE, NOW)


def test_control_characters_never_reach_a_record() -> None:
    rss = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T&#x1;</title>'
        b"<item><title>Bell\x07 and escape\x1b</title><guid>g1</guid>"
        b"<description>Line one\x0b\x7f line two</description></item></channel></rss>"
    )
    (article,) = parse_feed(rss, SOURCE, NOW).articles
    data = encode(article).decode("utf-8")
    assert article.title == "Bell and escape" and article.text == "Line one line two"
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in article.title + article.text)
    assert "\\u0000" not in data


def test_utf16_doctype_is_refused() -> None:
    body = '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE rss [<!ENTITY a "b">]><rss/>'.encode("utf-16")
    with pytest.raises(FeedError, match="DOCTYPE or ENTITY"):
        check_feed_bytes(body)


TITLE = "Bridge vote passes in Redmoor"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the title alone, and run together twice on one line, as scrapers leave it
        (f"{TITLE}\n\nThe bridge vote passed.", "The bridge vote passed."),
        (f"{TITLE}{TITLE}\n\nThe bridge vote passed.", "The bridge vote passed."),
        (f"{TITLE} {TITLE} {TITLE}\nThe bridge vote passed.", "The bridge vote passed."),
        ("The bridge vote passed.\n\nAdd new comment\n\nRead our comment policy before posting", "The bridge vote passed."),
        ("The vote passed.\nComments are moderated and will not be published until approved.", "The vote passed."),
        ("The vote passed.\nShare this article:\nAdvertisement\n12 comments", "The vote passed."),
        # article sentences that mention comments or the title stay
        (
            "The mayor declined to comment on the vote.\nCritics said the policy ignored public comments made in 2025 "
            "over three months of hearings, and asked for the whole consultation to be repeated next spring.",
            "The mayor declined to comment on the vote.\nCritics said the policy ignored public comments made in 2025 "
            "over three months of hearings, and asked for the whole consultation to be repeated next spring.",
        ),
        (f"{TITLE}, the council said, after a long debate.", f"{TITLE}, the council said, after a long debate."),
    ],
    ids=[
        "title-line",
        "title-twice",
        "title-thrice",
        "comment-prompt-and-policy",
        "moderation",
        "share-ad-count",
        "mentions",
        "title-in-sentence",
    ],
)
def test_remove_debris(text: str, expected: str) -> None:
    assert remove_debris(text, TITLE) == expected


def test_remove_debris_without_a_title_keeps_lines() -> None:
    assert remove_debris("Bridge vote\nBridge vote", "") == "Bridge vote\nBridge vote"


def test_remove_debris_normalizes_what_it_keeps() -> None:
    # one pass over the lines both removes debris and normalizes: spaces collapsed (no-break ones too),
    # lines trimmed, one blank line between paragraphs, none at either end
    text = "\n\n  The\xa0 bridge   vote passed. \n\n\nAdd new comment\n\n\n\tWork starts in May.\t\n\n"
    assert remove_debris(text, TITLE) == "The bridge vote passed.\n\nWork starts in May."
