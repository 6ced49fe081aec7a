"""Alert agents: mentions keyed by entity (history and stories in a table) and key events grouped per real event."""

from __future__ import annotations

import logging
import time

from agents.common import bounded, decode_or_dead_letter, health, publish, rulebook, settings
from schemas import Alert, Event, Mention, encode
from streams.alert.events import EventGroup, evaluate_event, event_matches, group_key
from streams.alert.mentions import EntitySeen, evaluate_mention
from streams.alert.metrics import ALERT_LATENCY, ALERTS, EVENT_GROUP_BYTES, EVENT_GROUPS, EVENT_GROUPS_DROPPED
from streams.alert.retention import Retention, touched_at
from streams.clock import utcnow
from streams.kafka.apps import worker_app
from streams.kafka.background import survives
from streams.kafka.health import recovered
from streams.kafka.partitioning import key_partition
from streams.kafka.topology import alerts_topic, entity_seen_table, event_group_table, event_groups_topic, events_topic, mentions_topic

log = logging.getLogger(__name__)
#: how often groups unreported for WIREWATCH_EVENT_GROUP_RETENTION_DAYS are looked for
EXPIRY_CHECK_SECONDS = 60.0
#: the event groups of the partitions this worker owns, least recently reported first (the memory bound and the expiry)
retention = Retention(settings.event_groups_max_mb * 1024 * 1024 // settings.partitions, settings.event_group_retention_days * 86_400.0)
#: the consumer generation ``retention`` was built for: after every rebalance it is built again from the table
retention_generation: list[int | None] = [None]


async def _send(alert: Alert) -> None:
    await publish(alerts_topic, alert.id, encode(alert))
    if not alert.update:
        ALERTS.labels(alert.kind).inc()
        ALERT_LATENCY.observe(alert.latency_seconds)


@worker_app.agent(mentions_topic)
async def raise_alerts(stream):  # type: ignore[no-untyped-def]
    """Mentions (keyed by entity) → per-entity history and stories → ``wirewatch.alerts``."""
    async for event in stream.events():
        # Waiting inside the loop, not before it: a topic is only subscribed once its stream is iterated, and
        # Faust never acknowledges an event before the loop body finishes (see docs/design.md).
        await rulebook.ready.wait()
        health.begin("raise_alerts")
        mention = await decode_or_dead_letter(event, Mention, "raise_alerts")
        if mention is None:
            health.done("raise_alerts")
            continue
        known = rulebook.watchlist.rules
        rules = [known[rid] for rid in mention.watch_ids if rid in known and rid not in mention.out_of_scope]
        if rules:
            raw = entity_seen_table.get(mention.entity_id)
            seen = EntitySeen.loads(raw) if raw is not None else None
            seen, alerts = evaluate_mention(mention, seen, rules, utcnow(), settings.new_mention_lookback_days)
            for alert in alerts:
                await _send(alert)
            entity_seen_table[mention.entity_id] = bounded("entity-seen", mention.entity_id, seen)
        health.done("raise_alerts")


@worker_app.agent(events_topic)
async def raise_event_alerts(stream):  # type: ignore[no-untyped-def]
    """Key events → event rules (type, mode, actor, location, magnitude, confidence) → ``wirewatch.eventgroups``.

    A matching event is re-keyed by type, place and day, so every report of one real event reaches the same
    partition of the grouping agent (and its table), whichever article and partition it came from.
    """
    async for event in stream.events():
        await rulebook.ready.wait()  # inside the loop, as in raise_alerts
        health.begin("raise_event_alerts")
        key_event = await decode_or_dead_letter(event, Event, "raise_event_alerts")
        if key_event is not None and any(event_matches(rule, key_event) for rule in rulebook.watchlist.event_rules()):
            await publish(event_groups_topic, group_key(key_event, utcnow()), encode(key_event))
        health.done("raise_event_alerts")


@worker_app.agent(event_groups_topic)
async def group_event_alerts(stream):  # type: ignore[no-untyped-def]
    """Matching events keyed by type, place and day → one alert per real event (later reports are updates)."""
    async for event in stream.events():
        await rulebook.ready.wait()
        health.begin("group_event_alerts")
        key_event = await decode_or_dead_letter(event, Event, "group_event_alerts")
        if key_event is not None:
            rules = [rule for rule in rulebook.watchlist.event_rules() if event_matches(rule, key_event)]
            if rules:
                raw = event_group_table.get(event.key)
                old = EventGroup.loads(raw) if raw is not None else None
                group, alerts = evaluate_event(old, key_event, rules, utcnow())
                for alert in alerts:
                    await _send(alert)
                if group is not old:  # a replayed report changes nothing, and is not written again
                    value = group.dumps()
                    event_group_table[event.key] = value
                    sync_retention()
                    for key in retention.touch(event.message.partition, event.key, group.touched, len(value)):
                        drop_group(event.message.partition, key, "budget")
                    _report_retention()
        health.done("group_event_alerts")


def drop_group(partition: int, key: str, reason: str) -> None:
    """Delete an event group from the table and, with a tombstone, from its changelog."""
    event_group_table.data.pop(key, None)
    event_group_table.send_changelog(partition, key, None)
    EVENT_GROUPS_DROPPED.labels(reason).inc()


def sync_retention() -> None:
    """After a rebalance, rebuild the retention index from the table (the groups restored from the changelog included),
    drop what is beyond the budget, and forget the groups of partitions this worker no longer owns."""
    generation = worker_app.consumer_generation_id
    if retention_generation[0] == generation or not recovered(worker_app) or worker_app.in_recovery:
        return
    name = event_groups_topic.get_topic_name()
    owned = {tp.partition for tp in worker_app.consumer.assignment() if tp.topic == name}
    entries, foreign = [], []
    now = time.time()
    for key, value in list(event_group_table.data.items()):
        partition = key_partition(key, settings.partitions)
        if partition in owned:
            entries.append((partition, key, touched_at(value, now), len(value)))
        else:
            foreign.append(key)
    # Faust's memory store drops a revoked partition's restored keys, but not the ones this worker wrote itself
    for key in foreign:
        event_group_table.data.pop(key, None)
    for partition, key in retention.rebuild(entries):
        drop_group(partition, key, "budget")
    retention_generation[0] = generation
    _report_retention()
    log.info("event groups: %d held (%d bytes) on %d partitions after a rebalance", len(retention), retention.bytes, len(owned))


def _report_retention() -> None:
    EVENT_GROUPS.set(len(retention))
    EVENT_GROUP_BYTES.set(retention.bytes)


@worker_app.timer(interval=EXPIRY_CHECK_SECONDS)
@survives
async def expire_event_groups() -> None:
    """Drop the event groups not reported for WIREWATCH_EVENT_GROUP_RETENTION_DAYS."""
    sync_retention()
    for partition, key in retention.expired(time.time()):
        drop_group(partition, key, "age")
    _report_retention()
