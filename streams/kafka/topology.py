"""Every topic and table handle, declared once from the catalogue and bound to the app that uses it."""

from __future__ import annotations

import faust

from streams.config import get_settings
from streams.kafka.apps import poller_app, worker_app
from streams.kafka.catalogue import COMPACTED, TABLES

settings = get_settings()


def _topic(app: faust.App, name: str) -> faust.TopicT:
    return app.topic(
        settings.topic(name),
        partitions=settings.partitions,
        compacting=name in COMPACTED,
        key_serializer="utf8",
        value_serializer="raw",
    )


def _table(app: faust.App, name: str) -> faust.types.TableT[str, bytes]:
    """A table of JSON bytes keyed by string, partitioned like the topics it is co-partitioned with."""
    return app.Table(name, partitions=settings.partitions, key_type=str, value_type=bytes)


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
entities_topic = _topic(worker_app, "entities")
story_work_topic = _topic(worker_app, "storywork")
story_keys_topic = _topic(worker_app, "storykeys")
story_updates_topic = _topic(worker_app, "storyupdates")
stories_topic = _topic(worker_app, "stories")
delivered_topic = _topic(worker_app, "delivered")

#: feed id → FeedState (the source plus its polling state); co-partitioned with wirewatch.feeds
feed_state_table = _table(poller_app, TABLES["poller"][0])

#: entity id → EntitySeen (first and last mention, stories, spike counts); co-partitioned with wirewatch.mentions
entity_seen_table = _table(worker_app, TABLES["worker"][0])

#: destination + period → PendingDigest (alerts waiting for their digest); co-partitioned with wirewatch.digests
digest_table = _table(worker_app, TABLES["worker"][1])

#: type, place and day → EventGroup (reports of one real event); co-partitioned with wirewatch.eventgroups
event_group_table = _table(worker_app, TABLES["worker"][2])

#: article id → ArticleStory (waiting for its keys' answers, then its decided story); co-partitioned with wirewatch.storywork
story_article_table = _table(worker_app, "story-articles")

#: candidate key → KeyEntries (the stories carrying the key); co-partitioned with wirewatch.storykeys
story_key_table = _table(worker_app, "story-keys")

#: story id → StoryState (headline, counts, sources, centroid, lifecycle); co-partitioned with wirewatch.storyupdates
story_table = _table(worker_app, "stories")

#: query rule id → QuerySeen (the stories it matched and alerted on); co-partitioned with wirewatch.storyupdates, whose
#: query messages are keyed by rule id
query_seen_table = _table(worker_app, "query-seen")

#: alert id → DeliveredMark (the source counts delivered, and when); co-partitioned with wirewatch.delivered, which is keyed
#: like wirewatch.alerts, so the delivery agent of an alerts partition holds the marks of its alerts
delivered_table = _table(worker_app, "alerts-delivered")
