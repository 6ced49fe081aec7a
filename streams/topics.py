"""Every topic, declared once: names from the settings, handles bound to the app that uses them."""

from __future__ import annotations

import faust

from streams.app import poller_app, worker_app
from streams.config import get_settings
from streams.kafka import COMPACTED

settings = get_settings()


def _topic(app: faust.App, name: str) -> faust.TopicT:
    return app.topic(
        settings.topic(name),
        partitions=settings.partitions,
        compacting=name in COMPACTED,
        key_serializer="utf8",
        value_serializer="raw",
    )


# poller
feeds_topic = _topic(poller_app, "feeds")
articles_out_topic = _topic(poller_app, "articles")
poller_deadletter_topic = _topic(poller_app, "deadletter")

# worker
articles_topic = _topic(worker_app, "articles")
enriched_topic = _topic(worker_app, "enriched")
mentions_topic = _topic(worker_app, "mentions")
events_topic = _topic(worker_app, "events")
alerts_topic = _topic(worker_app, "alerts")
deadletter_topic = _topic(worker_app, "deadletter")
digests_topic = _topic(worker_app, "digests")
destinations_topic = _topic(worker_app, "destinations")
event_groups_topic = _topic(worker_app, "eventgroups")
