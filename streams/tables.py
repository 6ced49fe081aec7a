"""Every Faust table, declared once; values are JSON bytes written by the pure code that owns them."""

from __future__ import annotations

from streams.app import poller_app, worker_app
from streams.config import get_settings
from streams.kafka import TABLES

settings = get_settings()

#: feed id → FeedState JSON (the source plus its polling state); co-partitioned with wirewatch.feeds
feed_state_table = poller_app.Table(
    TABLES["poller"][0],
    partitions=settings.partitions,
    key_type=str,
    value_type=bytes,
)

#: entity id → EntitySeen JSON (first and last mention); co-partitioned with wirewatch.mentions
entity_seen_table = worker_app.Table(
    TABLES["worker"][0],
    partitions=settings.partitions,
    key_type=str,
    value_type=bytes,
)

#: destination + period → PendingDigest JSON (alerts waiting for their digest); co-partitioned with wirewatch.digests
digest_table = worker_app.Table(
    TABLES["worker"][1],
    partitions=settings.partitions,
    key_type=str,
    value_type=bytes,
)

#: type, place and day → EventGroup JSON (reports of one real event); co-partitioned with wirewatch.eventgroups
event_group_table = worker_app.Table(
    TABLES["worker"][2],
    partitions=settings.partitions,
    key_type=str,
    value_type=bytes,
)
