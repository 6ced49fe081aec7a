"""Plain aiokafka clients for the CLI, start-up and followers: publish records, read a topic, a compacted topic's state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from schemas import Record, encode
from streams.config import Settings
from streams.kafka.admin import ensure_topics, unavailable
from streams.kafka.sizes import consumer_options, producer_options


async def publish(settings: Settings, topic: str, items: list[tuple[str, Record | None]]) -> None:
    """Send ``(key, record)`` pairs to ``topic`` (a suffix) with the idempotent producer; None is a tombstone."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, **producer_options(settings)
    )
    await producer.start()
    try:
        for key, record in items:
            await producer.send_and_wait(settings.topic(topic), key=key.encode(), value=encode(record) if record is not None else None)
    finally:
        await producer.stop()


async def read_topic(
    settings: Settings, topic: str, from_beginning: bool = True, follow: bool = False
) -> AsyncIterator[tuple[str | None, bytes | None]]:
    """Every ``(key, value)`` of ``topic`` (a suffix); stops at the end unless ``follow``."""
    name = settings.topic(topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False, **consumer_options(settings)
    )
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
        await consumer.stop()  # a consumer that failed to start still holds its client
        raise unavailable(settings, exc) from exc
    try:
        partitions = await topic_partitions(consumer, name)
        if not partitions:
            return
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        end = await consumer.end_offsets(partitions)
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    yield (record.key.decode("utf-8", "replace") if record.key else None), record.value
            if not follow and await caught_up(consumer, end):
                return
            if not batches:
                await asyncio.sleep(0)
    finally:
        await consumer.stop()


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` from fresh cluster metadata (a topic another process just made included)."""
    metadata = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - aiokafka has no public call for this
    return [TopicPartition(topic, p) for p in sorted(metadata.partitions_for_topic(topic) or [])]


async def caught_up(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    """True when the consumer's position has reached ``end`` on every partition."""
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return False
    return True


async def compacted_state(settings: Settings, topic: str) -> dict[str, bytes]:
    """The latest value per key of a compacted topic, tombstones applied."""
    state: dict[str, bytes] = {}
    async for key, value in read_topic(settings, topic):
        if key is None:
            continue
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state


async def latest_values(settings: Settings, topic: str, keys: set[str]) -> dict[str, tuple[bytes | None, int]]:
    """The latest value (None for a tombstone) and partition of each of ``keys`` on ``topic`` (a suffix), read to its end."""
    name = settings.topic(topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
        raise unavailable(settings, exc) from exc
    found: dict[str, tuple[bytes | None, int]] = {}
    try:
        partitions = await topic_partitions(consumer, name)
        if not partitions:
            return found
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        while not await caught_up(consumer, end):
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    key = record.key.decode("utf-8", "replace") if record.key else None
                    if key in keys:
                        found[key] = (record.value, tp.partition)
    finally:
        await consumer.stop()
    return found
