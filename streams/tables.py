"""Every Faust table, declared once; values are JSON bytes written by the pure code that owns them."""

from __future__ import annotations

import faust

from streams.app import poller_app, worker_app
from streams.config import get_settings
from streams.kafka import TABLES

settings = get_settings()


def _table(app: faust.App, name: str) -> faust.types.TableT[str, bytes]:
    """A table of JSON bytes keyed by string, partitioned like the topics it is co-partitioned with."""
    return app.Table(name, partitions=settings.partitions, key_type=str, value_type=bytes)


#: feed id → FeedState JSON (the source plus its polling state); co-partitioned with wirewatch.feeds
feed_state_table = _table(poller_app, TABLES["poller"][0])

#: entity id → EntitySeen JSON (first and last mention); co-partitioned with wirewatch.mentions
entity_seen_table = _table(worker_app, TABLES["worker"][0])

#: destination + period → PendingDigest JSON (alerts waiting for their digest); co-partitioned with wirewatch.digests
digest_table = _table(worker_app, TABLES["worker"][1])

#: type, place and day → EventGroup JSON (reports of one real event); co-partitioned with wirewatch.eventgroups
event_group_table = _table(worker_app, TABLES["worker"][2])
