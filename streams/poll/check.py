"""A feed checked once before it is registered: the poller's guarded fetch and parser, or the feeds a web page names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas import FeedSource
from streams import ids
from streams.errors import FeedError
from streams.poll.discover import FoundFeed
from streams.poll.fetch import Fetcher
from streams.poll.parserpool import ParserPool
from streams.poll.xmlguard import looks_like_html

_HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class FeedCheck:
    """What one fetch of a URL found: a feed (``items`` and its own ``title``) or a page naming ``found`` feeds."""

    url: str
    title: str = ""
    items: int = 0
    #: the feeds a web page names (``<link rel="alternate">``); empty for a feed
    found: list[FoundFeed] = field(default_factory=list)

    @property
    def is_page(self) -> bool:
        return bool(self.found)


async def check_feed(url: str, fetcher: Fetcher, parser: ParserPool) -> FeedCheck:
    """Fetch ``url`` once as the poller does (address guard, redirects, caps) and parse it in the parser pool.

    Raises :class:`~streams.errors.FetchError` when no usable response came and :class:`~streams.errors.FeedError`
    when the body is no feed; a web page that names feeds is no error: its feeds come back in ``found``.
    """
    result = await fetcher.get(url)
    content_type = result.content_type.split(";")[0].strip().lower()
    if content_type in _HTML_TYPES or looks_like_html(result.body):
        found = await parser.discover(result.body, result.url)
        if not found:
            served = content_type or "no Content-Type"
            raise FeedError(f'an HTML page ({served}) that names no feed (no <link rel="alternate"> of an RSS, Atom or JSON Feed type)')
        return FeedCheck(url=url, found=found)
    source = FeedSource(id=ids.feed_id(url), url=url)
    parsed = await parser.parse(result.body, source, datetime.now(tz=UTC))
    return FeedCheck(url=url, title=parsed.title[:300], items=len(parsed.articles))
