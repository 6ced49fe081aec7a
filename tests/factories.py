"""Record builders shared by the tests: sensible defaults, and any field of the record overridden by keyword.

Each builder takes the fields most tests vary as positional arguments and every other field of the record as a
keyword (``title=``, ``fetched=``, ``content_hash=`` ...), so a test names only what it is about.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas import Article, EnrichedArticle, Entity, Mention, MentionSpan, WatchRule
from streams import ids
from streams.alert.rulefile import make_rule

#: the default time: when an article was fetched and enriched, when a mention was published and fetched
T = datetime(2026, 11, 1, tzinfo=UTC)


def article(article_id: str = "a1", text: str = "", **fields: Any) -> Article:
    """An article of feed ``f`` at ``http://x/<id>``, titled ``t``, fetched at :data:`T`; its id is its content hash."""
    values: dict[str, Any] = {
        "id": article_id,
        "feed_id": "f",
        "feed_url": "http://f/",
        "url": f"http://x/{article_id}",
        "canonical_url": f"http://x/{article_id}",
        "title": "t",
        "text": text,
        "fetched": T,
        "content_hash": article_id,
    }
    return Article(**(values | fields))


def polled_article(feed_url: str, url: str, title: str, text: str, when: datetime = T, **fields: Any) -> Article:
    """An item without a GUID as the poller makes it an article: feed id, article id, canonical URL and content hash derived."""
    feed = ids.feed_id(feed_url)
    values: dict[str, Any] = {
        "feed_id": feed,
        "feed_url": feed_url,
        "url": url,
        "canonical_url": ids.canonical_url(url),
        "title": title,
        "published": when,
        "fetched": when,
        "content_hash": ids.content_hash(title, text),
    }
    return article(ids.article_id(feed, None, url, title, None), text, **(values | fields))


def entity(name: str = "Ana Lima", type: str = "PERSON", **fields: Any) -> Entity:
    """An entity with the id the pipeline derives from its name and type, named once at the start of the text."""
    values: dict[str, Any] = {
        "id": ids.entity_id(name, type),
        "name": name,
        "type": type,
        "mentions": [MentionSpan(start=0, end=len(name), text=name)],
    }
    return Entity(**(values | fields))


def enriched(item: Article | None = None, *entities: Entity, **fields: Any) -> EnrichedArticle:
    """``item`` (by default :func:`article`) with ``entities``, enriched by model ``test`` at :data:`T`."""
    values: dict[str, Any] = {
        "article": item if item is not None else article(),
        "entities": list(entities),
        "model": "test",
        "enriched": T,
    }
    return EnrichedArticle(**(values | fields))


def mention(article_id: str = "a1", when: datetime = T, **fields: Any) -> Mention:
    """Ana Lima (entity ``e1``, watched by rule ``r``) in article ``article_id`` published and fetched ``when``.

    The id is derived from the entity and the article as the pipeline derives it (``entity_id=`` moves it along).
    """
    entity_id = fields.pop("entity_id", "e1")
    values: dict[str, Any] = {
        "id": ids.mention_id(entity_id, article_id),
        "entity_id": entity_id,
        "name": "Ana Lima",
        "type": "PERSON",
        "watch_ids": ["r"],
        "article_id": article_id,
        "feed_id": "f",
        "url": f"http://x/{article_id}",
        "title": f"Title {article_id}",
        "sentence": "Ana Lima spoke.",
        "sentence_start": 0,
        "start": 0,
        "end": 8,
        "published": when,
        "fetched": when,
    }
    return Mention(**(values | fields))


def story_mention(article_id: str = "a1", when: datetime = T, **fields: Any) -> Mention:
    """A :func:`mention` whose article is a story of its own from a source of its own: its own host, content hash and sketch.

    Copies of one story are made by giving several the same ``content_hash`` (or a near ``sketch``), sources by ``url``.
    """
    story: dict[str, Any] = {
        "url": f"http://news{article_id}.example/{article_id}",
        "content_hash": f"hash-{article_id}",
        "sketch": f"{int(ids.stable_id(article_id)[:16], 16):016x}",
    }
    return mention(article_id, when, **(story | fields))


def watch_rule(name: str = "Ana Lima", *aliases: str, type: str | None = "PERSON", **options: Any) -> WatchRule:
    """A rule watching ``name`` (and ``aliases``) with the id ``make_rule`` derives; ``options`` are further rule fields."""
    return make_rule(name, list(aliases), type, **options)
