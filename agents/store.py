"""Storage agents: enriched articles, alerts and stories into the sink, batched, written before offsets are committed."""

from __future__ import annotations

import logging
from typing import Any

from agents.common import decode_or_dead_letter, guarded, health, resources, send_dead_letter, settings
from schemas import Alert, DecodeError, EnrichedArticle, Story, decode
from streams.kafka.apps import worker_app
from streams.kafka.topology import alerts_topic, enriched_topic, stories_topic
from streams.store.base import SinkBatch
from streams.store.metrics import ROWS_WRITTEN

log = logging.getLogger(__name__)


@worker_app.agent(enriched_topic)
async def store_enriched(stream):  # type: ignore[no-untyped-def]
    """Enriched articles → the sink, in batches written before their offsets are committed."""
    async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
        sink = await resources.get_sink()  # inside the loop: the stream subscribes its topic only once iterated
        health.begin("store_enriched")
        async with guarded("store_enriched", events):  # an exception left uncaught holds the batch, never commits it
            batch = SinkBatch("store_enriched", sink.write_enriched, send_dead_letter)
            for event in events:
                if (item := await decode_or_dead_letter(event, EnrichedArticle, "store_enriched")) is not None:
                    batch.add(event, item)
            ROWS_WRITTEN.labels("articles").inc(await batch.flush())
        health.done("store_enriched")


@worker_app.agent(alerts_topic)
async def store_alerts(stream):  # type: ignore[no-untyped-def]
    """Alerts → the sink."""
    async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
        sink = await resources.get_sink()  # inside the loop: the stream subscribes its topic only once iterated
        health.begin("store_alerts")
        async with guarded("store_alerts", events):
            batch = SinkBatch("store_alerts", sink.write_alerts, send_dead_letter)
            for event in events:
                try:
                    batch.add(event, decode(Alert, event.value))
                except DecodeError:
                    continue  # deliver_alerts dead-letters the same message once
            ROWS_WRITTEN.labels("alerts").inc(await batch.flush())
        health.done("store_alerts")


@worker_app.agent(stories_topic)
async def store_stories(stream):  # type: ignore[no-untyped-def]
    """Stories → the sink (the latest state of each, a replayed older state ignored)."""
    async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
        sink = await resources.get_sink()  # inside the loop: the stream subscribes its topic only once iterated
        health.begin("store_stories")
        async with guarded("store_stories", events):
            batch = SinkBatch("store_stories", sink.write_stories, send_dead_letter)
            for event in events:
                if (item := await decode_or_dead_letter(event, Story, "store_stories")) is not None:
                    batch.add(event, item)
            ROWS_WRITTEN.labels("stories").inc(await batch.flush())
        health.done("store_stories")


@worker_app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode types the receiver narrower than it calls it
async def close_sink(app: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """On shutdown, after the streams are drained and committed, close the database cleanly."""
    if resources.sink is not None:
        sink, resources.sink = resources.sink, None
        await sink.close()
        log.info("sink closed")
