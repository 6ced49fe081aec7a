"""The registry on Kafka: followers of the compacted ``wirewatch.entities`` topic, and what the registry agent
counts from each mention and publishes back."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from schemas import EntityRecord, Mention, WatchRule, decode
from streams.config import Settings
from streams.enrich.gazetteer import watched_entity_id
from streams.enrich.places import place_of
from streams.enrich.registry import Registry, watched_record
from streams.enrich.registrymetrics import REGISTRY_SKIPPED
from streams.errors import DecodeError
from streams.kafka.follower import CompactedFollower
from streams.text import escape_controls

log = logging.getLogger(__name__)

#: what a follower hands each record to: the key and the record (None for a tombstone)
RecordTarget = Callable[[str, EntityRecord | None], None]


class RegistryFollower(CompactedFollower):
    """Reads ``wirewatch.entities`` from its start and hands every valid record to its targets.

    A record that does not decode (corrupt, or a ``schema_version`` this build does not read) or whose id is not its
    key is skipped with a log line and counted (``wirewatch_registry_records_skipped_total``): every worker reads the
    topic, so a dead letter from each would repeat it; the entity's next valid record replaces it.
    """

    topic_suffix = "entities"

    def __init__(self, settings: Settings, *targets: RecordTarget) -> None:
        super().__init__(settings)
        self.targets: tuple[RecordTarget, ...] = targets

    def apply(self, key: str, value: bytes | None) -> str | None:
        record: EntityRecord | None = None
        if value is not None:
            try:
                record = decode(EntityRecord, value)
            except DecodeError as exc:
                return self._skip(key, str(exc))
            if record.id != key:
                return self._skip(key, f"its id {record.id!r} is not its key")
        for target in self.targets:
            target(key, record)
        return None

    def _skip(self, key: str, reason: str) -> str:
        REGISTRY_SKIPPED.inc()
        message = f"registry record {escape_controls(key[:80])} skipped: {reason}"
        log.warning("%s", message)
        return message

    def loaded(self) -> None:
        log.info("entity registry loaded")


def keep_record(registry: Registry) -> RecordTarget:
    """The registry agent's target: a record from the topic replaces its entry when the agent's own is older
    (another worker owned the entity before a rebalance) or an operator wrote it; its own echoes are ignored."""

    def keep(key: str, record: EntityRecord | None) -> None:
        if record is None:
            registry.remove(key)
            return
        entry = registry.entries.get(key)
        if entry is None or record.origin == "operator" or record.mentions > entry.mentions:
            registry.put(record)

    return keep


def offer_record(registry: Registry) -> RecordTarget:
    """An enrich worker's target: records are queued for the NLP thread, which resolves against the registry."""
    return registry.offer


def count_mention(registry: Registry, mention: Mention) -> bool:
    """Count one mention into the registry (the agent owns the mention's entity: the topic is keyed by entity id);
    False for a replayed one."""
    place = place_of(mention.name) if mention.geonames is not None else None
    entry = registry.observe(
        mention.entity_id, mention.name, mention.type, [mention.name, *mention.aliases], mention.published or mention.fetched,
        wikidata=mention.wikidata, geonames=mention.geonames, lat=place.lat if place else None, lon=place.lon if place else None,
        story=getattr(mention, "story_id", None), origin="watch" if mention.watch_ids else "registry", mention_id=mention.id,
    )  # fmt: skip
    return entry is not None


def watch_records(registry: Registry, rules: list[WatchRule], when: Any) -> list[EntityRecord]:
    """Records for the watched entities the registry does not hold yet (they join it with their aliases and ids)."""
    out = []
    for rule in rules:
        if not rule.enabled or rule.kind == "event":
            continue
        entity = rule.entity
        entity_id = watched_entity_id(entity)
        if registry.get(entity_id) is None:
            record = watched_record(entity_id, entity.name, entity.aliases, entity.type, entity.wikidata, when)
            registry.put(record)
            out.append(record)
    return out
