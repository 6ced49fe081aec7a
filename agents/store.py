"""Storage agents: enriched articles, alerts and stories into the sink, batched, written before offsets are committed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agents.common import decode_or_dead_letter, guarded, health, resources, send_dead_letter, settings
from schemas import Alert, DecodeError, EnrichedArticle, Story, decode
from streams.kafka.apps import worker_app
from streams.kafka.topology import alerts_topic, enriched_topic, stories_topic
from streams.store.base import Sink, SinkBatch
from streams.store.metrics import ROWS_WRITTEN

log = logging.getLogger(__name__)
R = TypeVar("R", EnrichedArticle, Alert, Story)


async def store_batches(stream: Any, agent: str, model: type[R], write: Callable[[Sink], Callable[[list[R]], Awaitable[None]]],
                        rows: str, dead_letter: bool = True) -> None:  # fmt: skip
    """The loop of each storage agent: a batch of ``model`` records written by ``write`` before its offsets are
    committed (an exception left uncaught holds the batch, never commits it). Undecodable messages are dead-lettered,
    unless another agent of the same topic already dead-letters them (``dead_letter=False``)."""
    async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
        sink = await resources.get_sink()  # inside the loop: the stream subscribes its topic only once iterated
        health.begin(agent)
        async with guarded(agent, events):
            batch = SinkBatch(agent, write(sink), send_dead_letter)
            for event in events:
                if dead_letter:
                    item = await decode_or_dead_letter(event, model, agent)
                else:
                    try:
                        item = decode(model, event.value)
                    except DecodeError:
                        item = None
                if item is not None:
                    batch.add(event, item)
            ROWS_WRITTEN.labels(rows).inc(await batch.flush())
        health.done(agent)


@worker_app.agent(enriched_topic)
async def store_enriched(stream):  # type: ignore[no-untyped-def]
    """Enriched articles → the sink, in batches written before their offsets are committed."""
    await store_batches(stream, "store_enriched", EnrichedArticle, lambda sink: sink.write_enriched, "articles")


@worker_app.agent(alerts_topic)
async def store_alerts(stream):  # type: ignore[no-untyped-def]
    """Alerts → the sink (deliver_alerts dead-letters an undecodable alert, once)."""
    await store_batches(stream, "store_alerts", Alert, lambda sink: sink.write_alerts, "alerts", dead_letter=False)


@worker_app.agent(stories_topic)
async def store_stories(stream):  # type: ignore[no-untyped-def]
    """Stories → the sink (the latest state of each, a replayed older state ignored)."""
    await store_batches(stream, "store_stories", Story, lambda sink: sink.write_stories, "stories")


@worker_app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode types the receiver narrower than it calls it
async def close_sink(app: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """On shutdown, after the streams are drained and committed, close the database cleanly."""
    if resources.sink is not None:
        sink, resources.sink = resources.sink, None
        await sink.close()
        log.info("sink closed")
