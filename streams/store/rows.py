"""Records as database rows, shared by both backends: one row shape per table, NUL removed, newest revisions only."""

from __future__ import annotations

from typing import Any

import orjson

from schemas import Alert, EnrichedArticle, Story
from streams import ids

#: every table the sinks write, in the order ``counts()`` reports them
TABLES = ("articles", "entities", "mentions", "events", "alerts", "stories")


def as_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def newer_than_stored(batch: list[EnrichedArticle], stored: dict[str, int]) -> list[EnrichedArticle]:
    """The batch's newest revision of each article, keeping only those newer than the stored revision.

    Writing only these makes a replay a read and nothing else, and never lets an old revision replace a new one.
    """
    return [item for item in latest_revisions(batch) if item.article.revision > stored.get(item.article.id, 0)]


def latest_revisions(batch: list[EnrichedArticle]) -> list[EnrichedArticle]:
    """One item per article id, the newest revision, so a batch never writes an article twice."""
    newest: dict[str, EnrichedArticle] = {}
    for item in batch:
        current = newest.get(item.article.id)
        if current is None or item.article.revision >= current.article.revision:
            newest[item.article.id] = item
    return list(newest.values())


def without_nul(record: Any) -> Any:
    """The record with NUL characters removed: PostgreSQL text cannot hold them and they carry no meaning."""
    if "\\u0000" not in record.model_dump_json():
        return record
    return type(record).model_validate(_strip_nul(record.model_dump()))


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_strip_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: _strip_nul(item) for key, item in value.items()}
    return value


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def article_row(item: EnrichedArticle) -> tuple[Any, ...]:
    a = item.article
    return (
        a.id,
        a.feed_id,
        a.url,
        a.canonical_url,
        a.title,
        a.summary,
        a.text,
        as_json(a.authors),
        iso(a.published),
        iso(a.fetched),
        a.language,
        a.content_hash,
        a.revision,
        iso(item.enriched),
    )


def entity_rows(batch: list[EnrichedArticle]) -> list[tuple[Any, ...]]:
    return [(e.id, e.name, e.type, e.wikidata) for item in batch for e in item.entities]


def event_rows(batch: list[EnrichedArticle]) -> list[tuple[Any, ...]]:
    return [(ev.id, item.article.id, ev.type, as_json(ev.model_dump(mode="json"))) for item in batch for ev in item.events]


def mention_row(item: EnrichedArticle, entity: Any) -> tuple[Any, ...]:
    spans = [[m.start, m.end] for m in entity.mentions]
    return (
        ids.mention_id(entity.id, item.article.id),
        entity.id,
        item.article.id,
        entity.name,
        entity.type,
        as_json(spans),
        iso(item.article.published),
        iso(item.article.fetched),
    )


def alert_row(alert: Alert) -> tuple[Any, ...]:
    return (
        alert.id,
        alert.rule_id,
        alert.kind,
        alert.entity_id,
        alert.article_id,
        alert.title,
        alert.url,
        alert.sentence,
        iso(alert.detected),
        as_json(alert.model_dump(mode="json")),
    )


def story_row(story: Story) -> tuple[Any, ...]:
    return (
        story.id,
        story.headline,
        story.url,
        iso(story.first_seen),
        iso(story.last_seen),
        story.article_count,
        story.source_count,
        story.lifecycle,
        as_json(story.model_dump(mode="json")),
    )


def story_article_rows(batch: list[EnrichedArticle]) -> list[tuple[str, str]]:
    """(article id, story id) of every article the story stage assigned."""
    return [(item.article.id, item.story_id) for item in batch if item.story_id]
