"""Storage agents: enriched articles and alerts into the sink, batched, written before offsets are committed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from agents.common import decode_or_dead_letter, health, resources, send_dead_letter, settings
from schemas import Alert, DecodeError, EnrichedArticle, Record, decode
from streams.errors import SinkUnavailable
from streams.kafka.apps import worker_app
from streams.kafka.topology import alerts_topic, enriched_topic
from streams.store.base import write_with_retry
from streams.store.metrics import ROWS_WRITTEN

log = logging.getLogger(__name__)


async def store_batch(agent: str, write: Callable[[list[Any]], Awaitable[None]], items: list[tuple[Any, Record]]) -> int:
    """Write a batch, waiting while the database is unavailable; a batch the database refuses is retried item by item
    and the items it refuses alone are dead-lettered. Returns the number of records written."""

    def retrying(exc: SinkUnavailable, pause: float) -> None:
        log.warning("%s: %s; retrying in %.1f s", agent, exc, pause, extra={"agent": agent})

    records = [record for _, record in items]
    try:
        await write_with_retry(write, records, retrying)
        return len(records)
    except Exception:  # noqa: BLE001 - one record the database refuses must not stop the stream
        log.exception("%s: batch of %d refused; writing one by one", agent, len(records), extra={"agent": agent})
    written = 0
    for event, record in items:
        try:
            await write_with_retry(write, [record], retrying)
            written += 1
        except Exception as exc:  # noqa: BLE001
            record_id = getattr(record, "id", None) or getattr(getattr(record, "article", None), "id", "?")
            await send_dead_letter(event, agent, f"record {record_id}: refused by the database: {type(exc).__name__}: {exc}")
    return written


@worker_app.agent(enriched_topic)
async def store_enriched(stream):  # type: ignore[no-untyped-def]
    """Enriched articles → the sink, in batches written before their offsets are committed."""
    async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
        sink = await resources.get_sink()  # inside the loop: the stream subscribes its topic only once iterated
        health.begin("store_enriched")
        batch: list[tuple[Any, Record]] = []
        for event in events:
            if (item := await decode_or_dead_letter(event, EnrichedArticle, "store_enriched")) is not None:
                batch.append((event, item))
        ROWS_WRITTEN.labels("articles").inc(await store_batch("store_enriched", sink.write_enriched, batch))
        health.done("store_enriched")


@worker_app.agent(alerts_topic)
async def store_alerts(stream):  # type: ignore[no-untyped-def]
    """Alerts → the sink."""
    async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
        sink = await resources.get_sink()  # inside the loop: the stream subscribes its topic only once iterated
        health.begin("store_alerts")
        batch: list[tuple[Any, Record]] = []
        for event in events:
            try:
                batch.append((event, decode(Alert, event.value)))
            except DecodeError:
                continue  # deliver_alerts dead-letters the same message once
        ROWS_WRITTEN.labels("alerts").inc(await store_batch("store_alerts", sink.write_alerts, batch))
        health.done("store_alerts")


@worker_app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode types the receiver narrower than it calls it
async def close_sink(app: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """On shutdown, after the streams are drained and committed, close the database cleanly."""
    if resources.sink is not None:
        sink, resources.sink = resources.sink, None
        await sink.close()
        log.info("sink closed")
