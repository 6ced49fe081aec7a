"""Feed bytes to Article records: safe parsing with feedparser and the article id chain."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser

from schemas import Article, FeedSource
from streams import ids
from streams.text import html_to_text, strip_controls

# A DOCTYPE or ENTITY declaration is how XML bombs and XXE arrive; news feeds never need one.
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_SNIFF_BYTES = 4096


class FeedError(Exception):
    """A feed that cannot be used, with a one-line reason for the operator."""


@dataclass(frozen=True)
class ParsedFeed:
    """What one parse of a feed yields: its title, TTL and items as articles."""

    title: str
    ttl_seconds: int | None
    articles: list[Article] = field(default_factory=list)


def check_feed_bytes(body: bytes) -> None:
    """Refuse bodies that are not feeds before any parser sees them."""
    if not body.strip():
        raise FeedError("empty response body")
    head = body[:_SNIFF_BYTES].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise FeedError("response is an HTML page, not a feed")
    if _DECLARATION.search(body):
        raise FeedError("document declares a DOCTYPE or ENTITY (refused: XML entity expansion risk)")


def parse_feed(body: bytes, source: FeedSource, fetched: datetime) -> ParsedFeed:
    """Parse feed bytes (never a URL or path) into articles; raises :class:`FeedError`."""
    check_feed_bytes(body)
    if body.lstrip()[:1] in (b"{", b"["):
        raise FeedError("JSON feeds are not supported yet")
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    entries = parsed.get("entries") or []
    if parsed.get("bozo") and not entries:
        raise FeedError(f"not a well-formed feed: {parsed.get('bozo_exception')}")
    if not parsed.get("version") and not entries:
        raise FeedError("not a feed (no RSS, Atom or RDF root element)")
    meta = parsed.get("feed") or {}
    ttl = _int_or_none(meta.get("ttl"))
    articles = [_article(entry, source, fetched) for entry in entries]
    return ParsedFeed(
        title=clean(meta.get("title", "")),
        ttl_seconds=ttl * 60 if ttl else None,
        articles=[article for article in articles if article is not None],
    )


def clean(value: Any) -> str:
    return strip_controls(str(value or "")).strip()


def _article(entry: Any, source: FeedSource, fetched: datetime) -> Article | None:
    title = html_to_text(clean(entry.get("title")))
    link = clean(entry.get("link"))
    guid = clean(entry.get("id")) or None
    summary = html_to_text(clean(entry.get("summary")))
    contents = entry.get("content") or []
    body = "\n\n".join(html_to_text(clean(part.get("value"))) for part in contents if part.get("value"))
    text = body if len(body) > len(summary) else summary
    if not (title or text):
        return None
    published = _time(entry.get("published_parsed") or entry.get("updated_parsed"))
    url = link or source.url
    authors = [clean(author.get("name")) for author in entry.get("authors") or [] if author.get("name")]
    article_id = ids.article_id(source.id, guid, link, title, published.isoformat() if published else None)
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
        language=source.language or clean(entry.get("language")) or None,
        content_hash=ids.content_hash(title, text),
    )


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
