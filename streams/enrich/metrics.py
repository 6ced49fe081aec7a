"""Prometheus metrics of the enrich stage."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ARTICLES_ENRICHED = Counter("wirewatch_articles_enriched_total", "Articles through entity extraction")
ENTITIES = Counter("wirewatch_entities_total", "Canonical entities extracted")
EVENTS = Counter("wirewatch_events_total", "PLOVER key events extracted", ["type"])
NLP_SECONDS = Histogram("wirewatch_nlp_batch_seconds", "Time of one nlp.pipe batch", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
REGISTRY_SKIPPED = Counter("wirewatch_registry_records_skipped_total", "Entity registry records skipped (corrupt or a newer schema)")
REGISTRY_ACTIVE = Gauge("wirewatch_registry_active_entities", "Entities in this process's active registry index")
REGISTRY_PUBLISHED = Counter("wirewatch_registry_records_published_total", "Entity registry records published by the registry agent")
RESOLUTION_SECONDS = Histogram("wirewatch_resolution_seconds", "Time to resolve one article's entities against the registry",
                               buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5))  # fmt: skip
