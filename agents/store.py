"""Storage agents: enriched articles and alerts into the sink, batched, written before offsets are committed."""

from __future__ import annotations

from agents.common import health, resources, send_dead_letter, settings
from schemas import Alert, DecodeError, EnrichedArticle, decode
from streams.app import worker_app
from streams.metrics import ROWS_WRITTEN
from streams.topics import alerts_topic, enriched_topic


@worker_app.agent(enriched_topic)
async def store_enriched(stream):  # type: ignore[no-untyped-def]
    """Enriched articles → the sink, in batches written before their offsets are committed."""
    sink = await resources.get_sink()
    async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
        health.begin("store_enriched")
        batch: list[EnrichedArticle] = []
        for event in events:
            try:
                batch.append(decode(EnrichedArticle, event.value))
            except DecodeError as exc:
                await send_dead_letter(event, "store_enriched", str(exc))
        await sink.write_enriched(batch)
        ROWS_WRITTEN.labels("articles").inc(len(batch))
        health.done("store_enriched")


@worker_app.agent(alerts_topic)
async def store_alerts(stream):  # type: ignore[no-untyped-def]
    """Alerts → the sink."""
    sink = await resources.get_sink()
    async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
        batch: list[Alert] = []
        for event in events:
            try:
                batch.append(decode(Alert, event.value))
            except DecodeError:
                continue  # deliver_alerts dead-letters the same message once
        await sink.write_alerts(batch)
        ROWS_WRITTEN.labels("alerts").inc(len(batch))
