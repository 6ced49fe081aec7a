"""Feed discovery on a web page: its ``<link rel="alternate">`` feeds (RSS, Atom, JSON Feed), as feed readers find them."""

from __future__ import annotations

from dataclasses import dataclass

import lxml.html
from lxml import etree

from streams.poll.links import checked_link
from streams.text import normalize_space, strip_controls

#: the link types that name a feed, and how each is shown: RSS, Atom, JSON Feed (and its older application/json
#: spelling) and RDF, the formats feed readers such as Miniflux subscribe to (HTML spec: rel="alternate" with a type)
FEED_TYPES = {
    "application/rss+xml": "RSS",
    "application/atom+xml": "Atom",
    "application/feed+json": "JSON Feed",
    "application/json": "JSON Feed",
    "application/rdf+xml": "RDF",
}
#: a page naming more feeds than this is not a news site's head; the rest are ignored
MAX_FEEDS = 50
_TITLE_CHARS = 200


@dataclass(frozen=True)
class FoundFeed:
    """A feed a page names: its absolute URL, its type (RSS, Atom, JSON Feed, RDF) and the page's title for it."""

    url: str
    kind: str
    title: str


def discover_feeds(body: bytes, page_url: str) -> list[FoundFeed]:
    """The feeds an HTML page names in ``<link rel="alternate" type=...>``, in page order, each URL once.

    Relative hrefs are resolved against the page's ``<base href>`` or its URL; only http(s) URLs are kept (the same
    check as article links), so a page cannot make us register a ``file:`` or ``javascript:`` "feed".
    """
    try:
        # lxml's HTML parser (libxml2) reads tag soup as browsers do and never expands external entities
        root = lxml.html.document_fromstring(body)
    except (etree.ParserError, ValueError):
        return []
    base = page_url
    for element in root.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            base, _refused = checked_link(href, page_url)
            base = base or page_url
        break
    found: list[FoundFeed] = []
    seen: set[str] = set()
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = FEED_TYPES.get((link.get("type") or "").split(";")[0].strip().lower())
        if "alternate" not in rel or kind is None:
            continue
        url, _refused = checked_link(link.get("href") or "", base)
        if not url or url in seen:
            continue
        seen.add(url)
        title = normalize_space(strip_controls(link.get("title") or ""))[:_TITLE_CHARS]
        found.append(FoundFeed(url=url, kind=kind, title=title))
        if len(found) >= MAX_FEEDS:
            break
    return found
