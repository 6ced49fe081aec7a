"""Alert agents: mentions keyed by entity (history and stories in a table) and key events grouped per real event."""

from __future__ import annotations

from agents.common import decode_or_dead_letter, health, publish, rulebook, settings
from schemas import Alert, Event, Mention, encode
from streams.alert.events import EventGroup, evaluate_event, event_matches, group_key
from streams.alert.mentions import EntitySeen, evaluate_mention
from streams.alert.metrics import ALERT_LATENCY, ALERTS
from streams.clock import utcnow
from streams.kafka.apps import worker_app
from streams.kafka.topology import alerts_topic, entity_seen_table, event_group_table, event_groups_topic, events_topic, mentions_topic


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
        rules = [rulebook.watchlist.rules[rid] for rid in mention.watch_ids if rid in rulebook.watchlist.rules]
        if rules:
            raw = entity_seen_table.get(mention.entity_id)
            seen = EntitySeen.loads(raw) if raw is not None else None
            seen, alerts = evaluate_mention(mention, seen, rules, utcnow(), settings.new_mention_lookback_days)
            for alert in alerts:
                await _send(alert)
            entity_seen_table[mention.entity_id] = seen.dumps()
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
                group, alerts = evaluate_event(EventGroup.loads(raw) if raw is not None else None, key_event, rules, utcnow())
                for alert in alerts:
                    await _send(alert)
                event_group_table[event.key] = group.dumps()
        health.done("group_event_alerts")
