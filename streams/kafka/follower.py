"""A compacted topic followed from its start by a group-less consumer, so every process holds its whole state."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.config import Settings
from streams.kafka.background import keep_following
from streams.kafka.client import caught_up, topic_partitions
from streams.kafka.sizes import consumer_options

log = logging.getLogger(__name__)


class CompactedFollower:
    """Reads every partition of a compacted topic from its start with a group-less consumer, then follows it.

    ``ready`` is set once the state as of start-up has been read, so callers never act on a partial view.
    ``apply`` returns why a record was refused (None when it was taken); :meth:`rejected` then hears of it.
    """

    topic_suffix = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = asyncio.Event()

    def apply(self, key: str, value: bytes | None) -> str | None:
        raise NotImplementedError

    def loaded(self) -> None:
        """Called once the start-up state has been read."""

    async def rejected(self, record: Any, reason: str) -> None:
        """A record :meth:`apply` refused (``record`` is aiokafka's ConsumerRecord); subclasses dead-letter it."""

    async def run(self) -> None:
        """Follow the topic for as long as the process lives; after a failure (a broker away), read it again from its start
        (every record again: ``apply`` takes a record it holds already as it is)."""
        await keep_following(f"follow_{self.topic_suffix}", self._follow)

    async def _follow(self) -> None:
        topic = self.settings.topic(self.topic_suffix)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False, group_id=None, **consumer_options(self.settings)
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer, topic)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        reason = self.apply(record.key.decode("utf-8", "replace") if record.key else "", record.value)
                        if reason is not None:
                            await self.rejected(record, reason)
                if not self.ready.is_set() and await caught_up(consumer, end):
                    self.loaded()
                    self.ready.set()
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
        for _ in range(60):
            found = await topic_partitions(consumer, topic)
            if found:
                return found
            await asyncio.sleep(0.5)
        raise RuntimeError(f"topic {topic} does not exist on {self.settings.kafka_bootstrap}")
