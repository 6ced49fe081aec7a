"""Recent alerts read back from wirewatch.alerts (``wirewatch alerts``) and re-sent to a destination (``alerts replay``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError

from schemas import Alert, decode
from streams.config import Settings
from streams.deliver.specs import parse_destination
from streams.errors import DecodeError, DeliveryFailed
from streams.kafka.admin import unavailable
from streams.kafka.client import caught_up, topic_partitions
from streams.kafka.sizes import consumer_options


def latest_per_id(alerts: list[Alert]) -> list[Alert]:
    """One alert per id, with the most sources seen (a story's updates share its alert id), oldest first."""
    by_id: dict[str, Alert] = {}
    for alert in alerts:
        known = by_id.get(alert.id)
        if known is None:
            by_id[alert.id] = alert.model_copy(update={"update": False})
        elif alert.source_count > known.source_count:
            by_id[alert.id] = known.model_copy(update={"source_count": alert.source_count, "sources": alert.sources})
    return sorted(by_id.values(), key=lambda a: a.detected)


async def read_alerts(settings: Settings, since: datetime) -> list[Alert]:
    """Alerts detected since ``since``: seeks each partition by timestamp, so old history is not read."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False, **consumer_options(settings)
    )
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
        await consumer.stop()  # a consumer that failed to start still holds its client
        raise unavailable(settings, exc) from exc
    found: list[Alert] = []
    try:
        partitions = await topic_partitions(consumer, settings.topic("alerts"))
        if not partitions:
            return []
        consumer.assign(partitions)
        # message timestamps are send times, a little after detection; seek a minute early to be safe
        start_ms = int((since - timedelta(minutes=1)).timestamp() * 1000)
        offsets = await consumer.offsets_for_times(dict.fromkeys(partitions, start_ms))
        end = await consumer.end_offsets(partitions)
        for tp in partitions:
            found_offset = offsets.get(tp)
            consumer.seek(tp, found_offset.offset if found_offset is not None else end[tp])
        while not await caught_up(consumer, end):
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    try:
                        alert = decode(Alert, record.value)
                    except DecodeError:
                        continue  # the delivery agent dead-letters it; a listing skips it
                    if alert.detected >= since:
                        found.append(alert)
    finally:
        await consumer.stop()
    return latest_per_id(found)


async def replay(settings: Settings, alerts: list[Alert], spec: str, progress: Callable[[], None] | None = None) -> list[str]:
    """Send ``alerts`` to the destination ``spec`` again (same ids, so receivers can deduplicate); returns the errors."""
    destination = parse_destination(spec, settings)
    errors: list[str] = []
    try:
        for alert in alerts:
            try:
                await destination.send(alert)
            except DeliveryFailed as exc:
                errors.append(str(exc))
            if progress is not None:
                progress()
    finally:
        await destination.close()
    return errors
