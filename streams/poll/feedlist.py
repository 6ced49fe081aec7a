"""Feed lists: registry entries from command-line options, OPML subscription lists and YAML files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit
from xml.etree import ElementTree

from pydantic import ValidationError

from schemas import FeedSource
from streams import ids
from streams.errors import InputError, RegistryError
from streams.text import load_yaml

_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_OPTION_KEYS = {"url", "title", "tags", "language", "min_interval", "max_interval", "fulltext", "enabled"}
#: folders within folders an OPML list may have; real ones have two or three, and each level becomes a tag
MAX_OPML_DEPTH = 32
#: the longest poll interval a feed may ask for (a year): beyond it a feed is as good as never polled
MAX_INTERVAL = 366 * 86_400


def make_source(
    url: str,
    title: str = "",
    tags: list[str] | None = None,
    language: str | None = None,
    min_interval: int | None = None,
    max_interval: int | None = None,
    fulltext: bool = False,
    enabled: bool = True,
) -> FeedSource:
    """A registry entry for ``url``; its id is derived from the URL, so adding it again updates it."""
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")):
        raise RegistryError(f"{url!r}: only http(s) feed URLs can be polled")
    try:
        feed_id = ids.feed_id(url)
        if not urlsplit(url).hostname:
            raise ValueError("no host")
    except ValueError as exc:  # an unbalanced [ or a port that is no number
        raise RegistryError(f"{url!r}: not a URL ({exc})") from exc
    for name, value in (("min interval", min_interval), ("max interval", max_interval)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_INTERVAL):
            raise RegistryError(f"{url}: {name} must be a whole number of seconds from 1 to {MAX_INTERVAL:,}, not {value!r}")
    if min_interval is not None and max_interval is not None and min_interval > max_interval:
        raise RegistryError(f"{url}: min interval {min_interval} s is longer than max interval {max_interval} s")
    try:
        return FeedSource(
            id=feed_id,
            url=url,
            title=title,
            tags=list(tags or []),
            language=language,
            min_interval_seconds=min_interval,
            max_interval_seconds=max_interval,
            fulltext=fulltext,
            enabled=enabled,
        )
    except ValidationError as exc:
        raise RegistryError(f"{url}: {exc.errors()[0]['msg']}") from exc


def parse_opml(text: str) -> list[FeedSource]:
    """Feeds of an OPML subscription list; enclosing outlines become tags (the usual folders)."""
    if _DECLARATION.search(text):
        raise RegistryError("OPML file declares a DOCTYPE or ENTITY (refused)")
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - DOCTYPE/ENTITY refused above: nothing to expand or fetch
    except ElementTree.ParseError as exc:
        raise RegistryError(f"not well-formed OPML: {exc}") from exc
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise RegistryError("not an OPML document (no <opml><body>)")
    sources: list[FeedSource] = []
    # depth first in document order with a stack of our own, not recursion: a list nested 10,000 deep is refused,
    # never a crash
    stack: list[tuple[Iterator[ElementTree.Element], list[str]]] = [(iter(body.findall("outline")), [])]
    while stack:
        children, folders = stack[-1]
        outline = next(children, None)
        if outline is None:
            stack.pop()
            continue
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        label = (outline.get("title") or outline.get("text") or "").strip()
        if url:
            categories = [c.strip().strip("/") for c in (outline.get("category") or "").split(",") if c.strip().strip("/")]
            sources.append(make_source(url, title=label, tags=folders + categories, language=outline.get("language")))
        elif len(stack) > MAX_OPML_DEPTH:
            raise RegistryError(f"OPML outlines nested more than {MAX_OPML_DEPTH} deep (refused)")
        else:
            stack.append((iter(outline.findall("outline")), folders + [label] if label else folders))
    return sources


def parse_yaml(text: str) -> list[FeedSource]:
    """Feeds of a YAML file: a list (or ``feeds:`` list) of URLs or mappings with the ``feeds add`` options."""
    try:
        data = load_yaml(text, "feed list")
    except InputError as exc:
        raise RegistryError(str(exc)) from exc
    if isinstance(data, dict):
        data = data.get("feeds")
    if not isinstance(data, list):
        raise RegistryError("expected a list of feeds (or a 'feeds:' key holding one)")
    sources = []
    for number, entry in enumerate(data, start=1):
        if isinstance(entry, str):
            entry = {"url": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise RegistryError(f"feed {number}: needs a 'url'")
        unknown = set(entry) - _OPTION_KEYS
        if unknown:
            raise RegistryError(f"feed {number} ({entry['url']}): unknown option(s) {', '.join(sorted(unknown))}")
        tags = entry.get("tags") or []
        if not isinstance(tags, str | list) or not all(isinstance(tag, str) for tag in ([tags] if isinstance(tags, str) else tags)):
            raise RegistryError(f"feed {number} ({entry['url']}): tags must be a text or a list of texts")
        for key in ("title", "language"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise RegistryError(f"feed {number} ({entry['url']}): {key} must be a text")
        for key in ("fulltext", "enabled"):
            if key in entry and not isinstance(entry[key], bool):
                raise RegistryError(f"feed {number} ({entry['url']}): {key} must be true or false")
        sources.append(make_source(**{**entry, "tags": [tags] if isinstance(tags, str) else list(tags)}))
    return sources


def parse_registry_file(text: str) -> list[FeedSource]:
    """OPML or YAML, by content (an XML document starts with '<')."""
    return parse_opml(text) if text.lstrip().startswith("<") else parse_yaml(text)
