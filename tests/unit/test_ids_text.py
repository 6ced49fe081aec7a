"""Stable ids, canonical URLs and text hygiene."""

import pytest

from streams import ids
from streams.poll.pagetext import html_to_text
from streams.text import strip_controls


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Example.COM/a?utm_source=rss&id=7#frag", "https://example.com/a?id=7"),
        ("http://example.com:80/", "http://example.com/"),
        ("https://example.com:8443/x?fbclid=1", "https://example.com:8443/x"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/p?b=2&a=1", "https://example.com/p?b=2&a=1"),
    ],
    ids=["tracking-and-fragment", "default-port", "other-port", "empty-path", "order-kept"],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert ids.canonical_url(url) == expected


def test_stable_id_separates_parts() -> None:
    assert ids.stable_id("ab", "c") != ids.stable_id("a", "bc")
    assert len(ids.stable_id("x")) == 32


def test_article_id_fallback_chain() -> None:
    by_guid = ids.article_id("f", "guid-1", "https://a/x", "T", None)
    assert by_guid == ids.article_id("f", " guid-1 ", "https://a/other", "Other", None)
    by_url = ids.article_id("f", None, "https://a/x?utm_campaign=z", "T", None)
    assert by_url == ids.article_id("f", "", "https://a/x", "Changed title", None)
    by_title = ids.article_id("f", None, None, "Title", "2026-01-01")
    assert by_title != ids.article_id("f", None, None, "Title", "2026-01-02")
    assert len({by_guid, by_url, by_title}) == 3
    assert ids.article_id("feed-a", "1", None, "", None) != ids.article_id("feed-b", "1", None, "", None)


def test_entity_ids_group_places() -> None:
    assert ids.entity_id("Mosul", "GPE") == ids.entity_id("mosul", "LOC")
    assert ids.entity_id("Jordan", "PERSON") != ids.entity_id("Jordan", "GPE")


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>One</p><p>Two &amp; three</p>", "One\n\nTwo & three"),
        ("<script>alert(1)</script>Text", "Text"),
        ("plain\x00 text\x07", "plain text"),
        ("line one\nstill one<br>two", "line one still one\ntwo"),
        ("<div>unclosed <b>bold", "unclosed bold"),
    ],
    ids=["paragraphs", "script", "controls", "newlines", "unclosed"],
)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


def test_strip_controls_keeps_text_valid() -> None:
    cleaned = strip_controls("a\x00b\ud800c\x1fd\te\n")
    assert cleaned == "abcd\te\n"
    cleaned.encode("utf-8")  # no lone surrogate left
