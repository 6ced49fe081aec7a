"""Feed bytes to Article records: safe parsing with feedparser and the article id chain."""

from __future__ import annotations

import calendar
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser
import orjson

from schemas import Article, FeedSource
from streams import ids
from streams.errors import FeedError
from streams.poll.links import checked_link
from streams.poll.pagetext import html_to_text, remove_debris
from streams.poll.xmlguard import safe_xml
from streams.text import normalize_space, strip_controls

#: an RSS <ttl> (minutes) beyond a year says "rarely"; the scheduler clamps it to the feed's longest interval anyway
_MAX_TTL_MINUTES = 366 * 24 * 60


@dataclass(frozen=True)
class ParsedFeed:
    """What one parse of a feed yields: its title, TTL, items as articles and the item links it dropped, by kind."""

    title: str
    ttl_seconds: int | None
    articles: list[Article] = field(default_factory=list)
    #: article id → why its item's link was dropped (a :data:`~streams.poll.links.DROPPED_SCHEMES` label); such an
    #: article keeps the feed's URL
    dropped_links: dict[str, str] = field(default_factory=dict)


def is_json(body: bytes) -> bool:
    """Whether ``body`` is a JSON document (a JSON Feed), by its first character."""
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def check_feed_bytes(body: bytes) -> bytes:
    """Refuse bodies that are not feeds before any parser sees them; the bytes the parser is to be given.

    XML is decoded as feedparser will decode it and checked in that form (:func:`streams.poll.xmlguard.safe_xml`):
    DTDs refused in every encoding, an external DOCTYPE stripped, HTML pages refused.
    """
    if not body.strip():
        raise FeedError("empty response body")
    return body if is_json(body) else safe_xml(body)


def parse_feed(body: bytes, source: FeedSource, fetched: datetime) -> ParsedFeed:
    """Parse feed bytes (never a URL or path) into articles; raises :class:`FeedError`."""
    data = check_feed_bytes(body)
    if is_json(body):
        return parse_json_feed(body, source, fetched)
    # A stream, never bytes: given bytes that spell a path, feedparser opens and reads that local file.
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False)
    entries = parsed.get("entries") or []
    if parsed.get("bozo") and not entries:
        raise FeedError(f"not a well-formed feed: {parsed.get('bozo_exception')}")
    if not parsed.get("version") and not entries:
        raise FeedError("not a feed (no RSS, Atom or RDF root element)")
    meta = parsed.get("feed") or {}
    ttl = _int_or_none(meta.get("ttl"))
    if ttl is not None:
        ttl = min(ttl, _MAX_TTL_MINUTES)  # a number from outside: 400 digits of minutes is no schedule
    dropped: dict[str, str] = {}
    # a date from outside: one in the future says nothing about the items' age, so it never passes the fetch time
    built = _time(meta.get("updated_parsed") or meta.get("published_parsed"))
    feed_date = min(built, fetched) if built is not None else None
    articles = [_article(entry, source, fetched, dropped, feed_date) for entry in entries]
    return ParsedFeed(
        title=clean(meta.get("title", "")),
        ttl_seconds=ttl * 60 if ttl else None,
        articles=[article for article in articles if article is not None],
        dropped_links=dropped,
    )


def parse_json_feed(body: bytes, source: FeedSource, fetched: datetime) -> ParsedFeed:
    """Parse a JSON Feed (https://jsonfeed.org, versions 1 and 1.1) into articles; raises :class:`FeedError`."""
    try:
        data = orjson.loads(body.lstrip(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(
        ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
    ):
        raise FeedError("JSON document is not a JSON Feed (no https://jsonfeed.org/version/ 'version')")
    items = data.get("items")
    if not isinstance(items, list):
        raise FeedError("JSON Feed has no 'items' list")
    language = clean(data.get("language")) or None
    feed_authors = _json_authors(data)
    articles = []
    dropped: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        html_body = html_to_text(clean(item.get("content_html")))
        article = _make_article(
            source,
            fetched,
            dropped,
            title=html_to_text(clean(item.get("title"))),
            link=clean(item.get("url") or item.get("external_url")),
            guid=clean(item.get("id")) or None,
            summary=html_to_text(clean(item.get("summary"))),
            body=html_body or normalize_space(clean(item.get("content_text"))),
            published=_iso_time(item.get("date_published") or item.get("date_modified")),
            authors=_json_authors(item) or feed_authors,
            language=clean(item.get("language")) or language,
        )
        if article is not None:
            articles.append(article)
    return ParsedFeed(title=html_to_text(clean(data.get("title"))), ttl_seconds=None, articles=articles, dropped_links=dropped)


def clean(value: Any) -> str:
    return strip_controls(str(value or "")).strip()


def _json_authors(data: dict[str, Any]) -> list[str]:
    found = data.get("authors") or ([data["author"]] if isinstance(data.get("author"), dict) else [])
    return [clean(a.get("name")) for a in found if isinstance(a, dict) and clean(a.get("name"))] if isinstance(found, list) else []


def _article(entry: Any, source: FeedSource, fetched: datetime, dropped: dict[str, str], feed_date: datetime | None) -> Article | None:
    raw_summary = clean(entry.get("summary"))
    summary = html_to_text(raw_summary)
    # RSS feeds often carry the same HTML as description and content:encoded: convert it once
    parts = [clean(part.get("value")) for part in entry.get("content") or [] if part.get("value")]
    return _make_article(
        source,
        fetched,
        dropped,
        title=html_to_text(clean(entry.get("title"))),
        link=clean(entry.get("link")),
        guid=clean(entry.get("id")) or None,
        summary=summary,
        body="\n\n".join(summary if part == raw_summary else html_to_text(part) for part in parts),
        published=_time(entry.get("published_parsed") or entry.get("updated_parsed")),
        authors=[clean(author.get("name")) for author in entry.get("authors") or [] if author.get("name")],
        language=clean(entry.get("language")) or None,
        feed_date=feed_date,
    )


def _make_article(
    source: FeedSource,
    fetched: datetime,
    dropped: dict[str, str],
    *,
    title: str,
    link: str,
    guid: str | None,
    summary: str,
    body: str,
    published: datetime | None,
    authors: list[str],
    language: str | None,
    feed_date: datetime | None = None,
) -> Article | None:
    text = remove_debris(body if len(body) > len(summary) else summary, title)
    if not (title or text):
        return None
    link, refused = checked_link(link, source.url)
    url = link or source.url  # a javascript: or file: link never reaches an <a href>: the article keeps the feed's URL
    article_id = ids.article_id(source.id, guid, link, title, published.isoformat() if published else None)
    if refused is not None:
        dropped[article_id] = refused
    return Article(
        id=article_id,
        feed_id=source.id,
        feed_url=source.url,
        guid=guid,
        url=url,
        canonical_url=ids.canonical_url(url),
        title=title,
        summary=summary,
        text=text,
        authors=authors,
        published=published,
        fetched=fetched,
        language=source.language or language,
        content_hash=ids.content_hash(title, text),
        tags=list(source.tags),
        feed_date=feed_date,
    )


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _iso_time(value: Any) -> datetime | None:
    """An RFC 3339 date of a JSON Feed; naive ones are taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _int_or_none(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
