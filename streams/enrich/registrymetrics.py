"""Prometheus metrics of the entity registry, apart from the enrich stage's: the core role keeps the registry without enriching."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

REGISTRY_SKIPPED = Counter("wirewatch_registry_records_skipped_total", "Entity registry records skipped (corrupt or a newer schema)")
REGISTRY_ACTIVE = Gauge("wirewatch_registry_active_entities", "Entities in this process's active registry index")
REGISTRY_PUBLISHED = Counter("wirewatch_registry_records_published_total", "Entity registry records published by the registry agent")
