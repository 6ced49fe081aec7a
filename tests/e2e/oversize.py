"""Big messages for the size-policy tests: invented long texts, topics whose limit a test changes, raw produces with offsets."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.config import Settings
from streams.kafka.client import read_topic

#: one invented sentence; long texts repeat it (our own words: no shared data is copied)
SENTENCE = "Valdoria imposed new sanctions on Estmark after the talks in Kessin failed on Tuesday. "

#: the sizes the issue measured, in bytes (decimal megabytes: 10 MB stays under the 10 MiB feed body cap)
SIZES = {"0.9 MB": 900_000, "2 MB": 2_000_000, "10 MB": 10_000_000}

#: what the tests let a neighbour's producer send, and the articles topic take (beyond the policy's 1 MiB)
FOREIGN_LIMIT = 16 * 1024 * 1024


def big_text(size: int) -> str:
    """``size`` characters (and bytes: ASCII) of invented news text, ending at a sentence."""
    text = SENTENCE * (size // len(SENTENCE))
    return text + "x" * (size - len(text))


def set_topic_limit(settings: Settings, topic: str, max_message_bytes: int) -> None:
    """Set ``max.message.bytes`` of ``topic`` (a suffix), as an operator or a neighbour's tooling might (test topics only:
    AlterConfigs replaces the topic's whole configuration)."""

    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            configs = {"max.message.bytes": str(max_message_bytes)}
            resource = ConfigResource(ConfigResourceType.TOPIC, settings.topic(topic), configs=configs)
            await admin.alter_configs([resource])
            # the broker applies a change asynchronously: wait until it reports the new value, then a moment for the log
            for _ in range(100):
                (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, settings.topic(topic))])
                entries = response.resources[0][4]
                if any(entry[0] == "max.message.bytes" and entry[1] == str(max_message_bytes) for entry in entries):
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()

    asyncio.run(go())


def produce_at(
    settings: Settings, topic: str, messages: list[tuple[bytes, bytes]], partition: int | None = None, max_request_size: int = FOREIGN_LIMIT
) -> list[tuple[int, int]]:
    """Send raw ``(key, value)`` pairs to ``topic`` (a suffix), in order; returns each one's (partition, offset)."""

    async def go() -> list[tuple[int, int]]:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5, max_request_size=max_request_size
        )
        await producer.start()
        try:
            futures = [await producer.send(settings.topic(topic), key=key, value=value, partition=partition) for key, value in messages]
            return [(meta.partition, meta.offset) for meta in await asyncio.gather(*futures)]
        finally:
            await producer.stop()

    return asyncio.run(go())


def values(settings: Settings, topic: str) -> list[tuple[str | None, bytes]]:
    """Every ``(key, value)`` of ``topic`` (a suffix) with a value."""

    async def collect() -> list[tuple[str | None, bytes]]:
        return [(key, value) async for key, value in read_topic(settings, topic) if value is not None]

    return asyncio.run(collect())


def committed(settings: Settings, group: str, topic: str) -> dict[int, int]:
    """The offsets consumer group ``group`` committed on ``topic`` (a suffix), by partition."""

    async def go() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        name = settings.topic(topic)
        return {tp.partition: meta.offset for tp, meta in offsets.items() if isinstance(tp, TopicPartition) and tp.topic == name}

    return asyncio.run(go())
