"""Prometheus metrics of the enrich stage."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ARTICLES_ENRICHED = Counter("wirewatch_articles_enriched_total", "Articles through entity extraction")
ENTITIES = Counter("wirewatch_entities_total", "Canonical entities extracted")
EVENTS = Counter("wirewatch_events_total", "PLOVER key events extracted", ["type"])
NLP_SECONDS = Histogram("wirewatch_nlp_batch_seconds", "Time of one nlp.pipe batch", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
