"""Feed lists: registry entries from command-line options, OPML subscription lists and YAML files."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import yaml
from pydantic import ValidationError

from schemas import FeedSource
from streams import ids
from streams.errors import RegistryError

_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_OPTION_KEYS = {"url", "title", "tags", "language", "min_interval", "max_interval", "fulltext", "enabled"}


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
    if min_interval is not None and max_interval is not None and min_interval > max_interval:
        raise RegistryError(f"{url}: min interval {min_interval} s is longer than max interval {max_interval} s")
    try:
        return FeedSource(
            id=ids.feed_id(url),
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

    def walk(element: ElementTree.Element, folders: list[str]) -> None:
        for outline in element.findall("outline"):
            url = outline.get("xmlUrl") or outline.get("xmlurl")
            label = (outline.get("title") or outline.get("text") or "").strip()
            if url:
                categories = [c.strip().strip("/") for c in (outline.get("category") or "").split(",") if c.strip().strip("/")]
                sources.append(make_source(url, title=label, tags=folders + categories, language=outline.get("language")))
            else:
                walk(outline, folders + [label] if label else folders)

    walk(body, [])
    return sources


def parse_yaml(text: str) -> list[FeedSource]:
    """Feeds of a YAML file: a list (or ``feeds:`` list) of URLs or mappings with the ``feeds add`` options."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"not valid YAML: {exc}") from exc
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
        sources.append(make_source(**{**entry, "tags": [tags] if isinstance(tags, str) else list(tags)}))
    return sources


def parse_registry_file(text: str) -> list[FeedSource]:
    """OPML or YAML, by content (an XML document starts with '<')."""
    return parse_opml(text) if text.lstrip().startswith("<") else parse_yaml(text)
