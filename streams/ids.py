"""Stable, derived ids: never random, so replays and restarts produce the same keys."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that only track the reader; removing them makes one article one URL.
TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "ref", "ref_src", "cmpid", "ocid", "at_medium", "at_campaign"}
)


def stable_id(*parts: str) -> str:
    """A 32-hex-digit id hashed from ``parts`` (unit-separated, so ("ab","c") != ("a","bc"))."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:32]


def canonical_url(url: str) -> str:
    """The URL without fragment, tracking parameters, default port or upper-case host."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not name.lower().startswith("utm_") and name.lower() not in TRACKING_PARAMS
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def feed_id(url: str) -> str:
    """The id of the feed at ``url``."""
    return stable_id("feed", canonical_url(url))


def article_id(feed: str, guid: str | None, url: str | None, title: str, published: str | None) -> str:
    """The article id: the item's GUID, else its canonical URL, else its title and date (per feed)."""
    if guid and guid.strip():
        return stable_id("article", feed, "guid", guid.strip())
    if url and url.strip():
        return stable_id("article", feed, "url", canonical_url(url))
    return stable_id("article", feed, "title", title.strip(), published or "")


def entity_id(name: str, entity_type: str) -> str:
    """The id of a canonical entity of one type group (so "Jordan" the person and the country differ)."""
    return stable_id("entity", type_group(entity_type), " ".join(name.casefold().split()))


def type_group(entity_type: str) -> str:
    """Types that name the same kind of thing share ids: GPE/LOC/FAC are places."""
    return {"GPE": "PLACE", "LOC": "PLACE", "FAC": "PLACE"}.get(entity_type, entity_type)


def content_hash(*parts: str) -> str:
    """A hash of what a reader sees, to tell a new revision from a repeat."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def mention_id(entity: str, article: str) -> str:
    """The id of one entity's mention in one article (the same id on the topic and in the sink)."""
    return stable_id("mention", entity, article)


def alert_id(rule: str, entity: str, article: str) -> str:
    """The id of an alert: a rule firing for an entity in an article fires once, however often replayed."""
    return stable_id("alert", rule, entity, article)


def story_alert_id(rule: str, story: str) -> str:
    """The id of a rule's alert on a story: one per (rule, story), however many outlets carry it or how often replayed."""
    return stable_id("alert", rule, "story", story)
