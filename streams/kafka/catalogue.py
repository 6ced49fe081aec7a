"""The one catalogue of Wirewatch's topics and tables: names, keys, values, compaction and which agents use them."""

from __future__ import annotations

from dataclasses import dataclass

from streams.config import Settings


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the contract: its name after the prefix, key, value record, and the agents at each end."""

    name: str
    key: str
    value: str
    doc: str
    compacted: bool = False
    #: the processes or agents that write it and read it ("cli" for the command line)
    writers: tuple[str, ...] = ()
    readers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    """One Faust table: its app role, name, what it is keyed by, and the topic it is co-partitioned with."""

    role: str
    name: str
    key: str
    value: str
    topic: str
    agent: str


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("feeds", "feed id", "FeedSource", "feeds to poll; a tombstone removes one", True, ("cli",), ("track_feeds",)),
    TopicSpec("rules", "rule id", "WatchRule", "watch rules; a tombstone removes one", True, ("cli",), ("every worker",)),
    TopicSpec("articles", "article id", "Article", "one per new article or new revision", False, ("poll_due_feeds",), ("enrich",)),
    TopicSpec(
        "storywork",
        "article id (answers: `~answers:<partition>`, sent to the partition of the articles they answer)",
        "StoryWork",
        "an enriched article waiting for its story, and its keys' answers",
        False,
        ("enrich", "match_story_keys"),
        ("assign_stories",),
    ),  # fmt: skip
    TopicSpec(
        "storykeys",
        "`~probes:<partition>` or `~registrations:<partition>`: sent to the partition of its candidate keys",
        "StoryKeyBatch",
        "probes and registrations for the candidate keys of one partition",
        False,
        ("assign_stories", "track_stories"),
        ("match_story_keys",),
    ),  # fmt: skip
    TopicSpec(
        "enriched",
        "article id",
        "EnrichedArticle",
        "the article with canonical entities, key events and its story",
        False,
        ("assign_stories",),
        ("store_enriched",),
    ),  # fmt: skip
    TopicSpec(
        "storyupdates",
        "story id (query rule id for a rule's match)",
        "StoryUpdate",
        "one more article for a story, or a query rule's match of one",
        False,
        ("assign_stories",),
        ("track_stories",),
    ),  # fmt: skip
    TopicSpec(
        "stories",
        "story id",
        "Story",
        "the latest state of each story across outlets",
        True,
        ("track_stories",),
        ("store_stories",),
    ),  # fmt: skip
    TopicSpec(
        "mentions", "entity id", "Mention", "one entity in one article, with its story", False, ("assign_stories",), ("raise_alerts",)
    ),  # fmt: skip
    TopicSpec("events", "event id", "Event", "PLOVER key events", False, ("enrich",), ("raise_event_alerts",)),
    TopicSpec(
        "alerts",
        "alert id",
        "Alert",
        "alerts; an update repeats the id",
        False,
        ("raise_alerts", "group_event_alerts", "track_stories"),
        ("deliver_alerts", "store_alerts"),
    ),  # fmt: skip
    TopicSpec("deadletter", "original key", "DeadLetter", "whatever could not be processed", False, ("every agent",), ()),
    TopicSpec(
        "digests",
        "destination, period and start",
        "DigestItem",
        "alerts waiting for their digest",
        False,
        ("deliver_alerts", "flush_digests"),
        ("collect_digests",),
    ),  # fmt: skip
    TopicSpec(
        "destinations",
        "destination id",
        "DestinationState",
        "destinations disabled after 410 Gone",
        True,
        ("deliver_alerts", "cli"),
        ("every worker",),
    ),  # fmt: skip
    TopicSpec(
        "entities",
        "entity id",
        "EntityRecord",
        "the entity registry: names, types, ids; an alias record when merged; a tombstone forgets",
        True,
        ("update_registry", "cli"),
        ("every worker",),
    ),  # fmt: skip
    TopicSpec(
        "acks",
        "alert id",
        "AlertAck",
        "alerts an analyst acknowledged; a tombstone withdraws one",
        True,
        ("cli", "dashboard"),
        ("dashboard",),
    ),  # fmt: skip
    TopicSpec(
        "eventgroups",
        "PLOVER type, place and day",
        "Event",
        "matching events re-keyed per real event",
        False,
        ("raise_event_alerts",),
        ("group_event_alerts",),
    ),  # fmt: skip
    TopicSpec(
        "delivered",
        "alert id",
        "Delivered",
        "alerts handed to all their destinations (keyed like wirewatch.alerts)",
        False,
        ("deliver_alerts", "sweep_delivered"),
        ("record_deliveries",),
    ),  # fmt: skip
)

TOPIC_NAMES: tuple[str, ...] = tuple(topic.name for topic in TOPICS)
COMPACTED: frozenset[str] = frozenset(topic.name for topic in TOPICS if topic.compacted)

TABLE_SPECS: tuple[TableSpec, ...] = (
    TableSpec("poller", "feed-state", "feed id", "FeedState", "feeds", "track_feeds, poll_due_feeds"),
    TableSpec("worker", "entity-seen", "entity id", "EntitySeen", "mentions", "raise_alerts"),
    TableSpec("worker", "digest-pending", "destination, period and start", "PendingDigest", "digests", "collect_digests"),
    TableSpec("worker", "event-groups", "PLOVER type, place and day", "EventGroup", "eventgroups", "group_event_alerts"),
    TableSpec("worker", "story-articles", "article id", "ArticleStory", "storywork", "assign_stories"),
    TableSpec("worker", "story-keys", "candidate key", "KeyEntries", "storykeys", "match_story_keys"),
    TableSpec("worker", "stories", "story id", "StoryState", "storyupdates", "track_stories"),
    TableSpec("worker", "query-seen", "query rule id", "QuerySeen", "storyupdates", "track_stories"),
    TableSpec("worker", "alerts-delivered", "alert id", "DeliveredMark", "delivered", "record_deliveries, deliver_alerts"),
)

#: Faust tables per app role; their changelog topics are created with the others, before Faust starts,
#: so the first rebalance never sees a missing changelog
TABLES: dict[str, tuple[str, ...]] = {
    role: tuple(table.name for table in TABLE_SPECS if table.role == role) for role in dict.fromkeys(t.role for t in TABLE_SPECS)
}


def changelog_topic(settings: Settings, role: str, table: str) -> str:
    """The changelog topic of ``table`` of the app ``role`` (Faust's naming: app id, table name, ``-changelog``)."""
    return f"{settings.app_prefix}-{role}-{table}-changelog"
