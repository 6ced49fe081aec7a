"""Article links from feeds: only absolute http(s) URLs leave the poller; the rest is dropped and counted by kind."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

#: what a dropped link is counted as (the metric's ``scheme`` label): a fixed set, never the feed's own words, so a
#: hostile feed cannot add label values without end
DROPPED_SCHEMES = ("javascript", "vbscript", "data", "file", "ftp", "mailto", "other", "invalid")
#: longer than any real article URL; a megabyte "link" is not one
MAX_LINK_CHARS = 8192


def checked_link(raw: str, base: str) -> tuple[str, str | None]:
    """``(link, None)`` for a usable article link, ``("", label)`` for one that is dropped.

    A link a dashboard, Slack message or e-mail turns into ``<a href>`` must never run code or open a local file:
    ``javascript:``, ``data:``, ``file:`` and every other scheme but http(s) are dropped. A relative reference is
    resolved against the feed's URL (``base``), as feed readers do (RFC 3986 §5), and kept only when that gives an
    http(s) URL with a host. Whitespace inside, an invalid port or host, or more than 8 KB make it ``invalid``.
    """
    link = raw.strip()
    if not link:
        return "", None
    if len(link) > MAX_LINK_CHARS or any(character.isspace() for character in link):
        return "", "invalid"
    try:
        scheme = urlsplit(link).scheme.lower()
        if not scheme:
            link = urljoin(base, link)
            scheme = urlsplit(link).scheme.lower()
        parts = urlsplit(link)
        _ = parts.port  # raises ValueError for a port that is no number or out of range
    except ValueError:
        return "", "invalid"
    if scheme not in ("http", "https"):
        return "", scheme if scheme in DROPPED_SCHEMES else "other"
    if not parts.hostname:
        return "", "invalid"
    return link, None
