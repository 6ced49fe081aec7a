"""Bounds on what enrichment sends: mentions per entity, entities and events per article, evidence sentences, bytes.

An enriched record embeds its article (at most ``ARTICLE_SHARE`` of the message limit, streams/kafka/sizes.py) and
its entities with every mention's offsets, which for a long text can be several times the text. The caps below
keep a normal record far inside the limit; :func:`fit_enriched` then measures the encoded record and, only when it
is still over, halves the mentions per entity, then the entities (the least mentioned go first, watched ones
last), then the events, until it fits. Whatever is left out is counted on the record (``mentions_cut``,
``entities_cut``, ``events_cut``), never dropped silently. With nothing but the article left the record is the
article plus about 300 bytes, so a record always fits: the arithmetic is in docs/operators.md ("Message sizes").
"""

from __future__ import annotations

from schemas import EnrichedArticle, Entity, Event, encode
from streams.errors import MessageTooLarge

#: mentions kept per entity (the first ones, in text order); a news article names its main actor a few dozen times
MAX_MENTIONS_PER_ENTITY = 100
#: aliases kept per entity
MAX_ALIASES = 20
#: entities kept per article; the longest real articles (~25,000 characters) have a few hundred
MAX_ENTITIES = 1000
#: events kept per article
MAX_EVENTS = 500
#: characters of an evidence sentence kept (events here, mentions in streams/enrich/step.py): a longer one is a run
#: of text without sentence ends (a table, a list), and alerts quote it whole
SENTENCE_MAX_CHARS = 1000
#: actors and recipients kept per event
MAX_ACTORS = 20


def capped_entity(entity: Entity, max_mentions: int) -> Entity:
    """``entity`` with at most ``max_mentions`` mentions and :data:`MAX_ALIASES` aliases, the rest counted."""
    if len(entity.mentions) <= max_mentions and len(entity.aliases) <= MAX_ALIASES:
        return entity
    kept = entity.mentions[:max_mentions]
    return entity.model_copy(
        update={
            "mentions": kept,
            "aliases": entity.aliases[:MAX_ALIASES],
            "mentions_cut": entity.mentions_cut + len(entity.mentions) - len(kept),
        }
    )


def capped_event(event: Event) -> Event:
    """``event`` with its sentence cut to :data:`SENTENCE_MAX_CHARS` (``end`` moved with it) and its actor lists capped."""
    update: dict[str, object] = {}
    if len(event.sentence) > SENTENCE_MAX_CHARS:
        update |= {"sentence": event.sentence[:SENTENCE_MAX_CHARS], "end": event.start + SENTENCE_MAX_CHARS}
    if len(event.actors) > MAX_ACTORS or len(event.recipients) > MAX_ACTORS:
        update |= {"actors": event.actors[:MAX_ACTORS], "recipients": event.recipients[:MAX_ACTORS]}
    return event.model_copy(update=update) if update else event


def capped(item: EnrichedArticle) -> EnrichedArticle:
    """``item`` within the fixed caps (mentions, aliases, entities, events, sentences), what was left out counted."""
    entities = [capped_entity(entity, MAX_MENTIONS_PER_ENTITY) for entity in item.entities]
    events = [capped_event(event) for event in item.events]
    if len(entities) > MAX_ENTITIES:
        entities = _most_mentioned(entities, MAX_ENTITIES)
    unchanged = all(new is old for new, old in zip(entities, item.entities, strict=False)) and len(entities) == len(item.entities)
    if unchanged and all(new is old for new, old in zip(events, item.events, strict=True)) and len(events) <= MAX_EVENTS:
        return item
    return item.model_copy(
        update={
            "entities": entities,
            "events": events[:MAX_EVENTS],
            "entities_cut": item.entities_cut + len(item.entities) - len(entities),
            "events_cut": item.events_cut + max(0, len(events) - MAX_EVENTS),
        }
    )


def fit_enriched(item: EnrichedArticle, max_bytes: int) -> tuple[EnrichedArticle, bytes]:
    """``item`` within the caps and, encoded, within ``max_bytes``; returns it with its encoding.

    Raises :class:`MessageTooLarge` only when the article alone is over ``max_bytes`` (the poller and the enrich agent
    cut every article to its share first, so it does not happen).
    """
    item = capped(item)
    data = encode(item)
    per_entity = MAX_MENTIONS_PER_ENTITY
    while len(data) > max_bytes and per_entity > 1:
        per_entity //= 2
        entities = [capped_entity(entity, per_entity) for entity in item.entities]
        item = item.model_copy(update={"entities": entities})
        data = encode(item)
    while len(data) > max_bytes and item.entities:
        keep = len(item.entities) // 2
        entities = _most_mentioned(item.entities, keep)
        item = item.model_copy(update={"entities": entities, "entities_cut": item.entities_cut + len(item.entities) - keep})
        data = encode(item)
    while len(data) > max_bytes and item.events:
        keep = len(item.events) // 2
        item = item.model_copy(update={"events": item.events[:keep], "events_cut": item.events_cut + len(item.events) - keep})
        data = encode(item)
    if len(data) > max_bytes:
        raise MessageTooLarge(f"article {item.article.id[:80]}: enriched record of {len(data)} bytes without entities or events", len(data))
    return item, data


def _most_mentioned(entities: list[Entity], keep: int) -> list[Entity]:
    """The ``keep`` entities to keep, in their original order: watched ones first, then the most mentioned."""

    def rank(i: int) -> tuple[bool, int, int]:
        return (not entities[i].watch_ids, -(len(entities[i].mentions) + entities[i].mentions_cut), i)

    ranked = sorted(range(len(entities)), key=rank)
    chosen = set(ranked[:keep])
    return [entity for i, entity in enumerate(entities) if i in chosen]
