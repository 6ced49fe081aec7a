"""Alert agent: mentions keyed by entity, per-entity history in a table, alerts on wirewatch.alerts."""

from __future__ import annotations

from agents.common import health, rulebook, send_dead_letter, settings
from schemas import DecodeError, Mention, decode, encode
from streams.app import worker_app
from streams.metrics import ALERT_LATENCY, ALERTS
from streams.rules import EntitySeen, evaluate_mention, utcnow
from streams.tables import entity_seen_table
from streams.topics import alerts_topic, mentions_topic


@worker_app.agent(mentions_topic)
async def raise_alerts(stream):  # type: ignore[no-untyped-def]
    """Mentions (keyed by entity) → per-entity history → ``wirewatch.alerts``."""
    await rulebook.ready.wait()
    async for event in stream.events():
        health.begin("raise_alerts")
        try:
            mention = decode(Mention, event.value)
        except DecodeError as exc:
            await send_dead_letter(event, "raise_alerts", str(exc))
            health.done("raise_alerts")
            continue
        rules = [rulebook.watchlist.rules[rid] for rid in mention.watch_ids if rid in rulebook.watchlist.rules]
        if rules:
            raw = entity_seen_table.get(mention.entity_id)
            seen = EntitySeen.loads(raw) if raw is not None else None
            seen, alerts = evaluate_mention(mention, seen, rules, utcnow(), settings.new_mention_lookback_days)
            for alert in alerts:
                await alerts_topic.send(key=alert.id, value=encode(alert))
                ALERTS.labels(alert.kind).inc()
                ALERT_LATENCY.observe(alert.latency_seconds)
            entity_seen_table[mention.entity_id] = seen.dumps()
        health.done("raise_alerts")
