"""The replay harness (tests/e2e/helpers.py reset_group_to_start) on the real broker: a group read to the end reads it all again."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer

from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.client import caught_up
from tests.e2e.helpers import committed_offsets, committed_to_end, reset_group_to_start
from tests.e2e.synthetic import invented_article, produce_articles

pytestmark = [pytest.mark.kafka]


def read_to_end_and_commit(settings: Settings, group: str) -> list[bytes]:
    """Consume ``articles`` as ``group`` from its committed offsets to the end, commit, and return what was read."""

    async def go() -> list[bytes]:
        consumer = AIOKafkaConsumer(
            settings.topic("articles"), bootstrap_servers=settings.kafka_bootstrap, group_id=group,
            enable_auto_commit=False, auto_offset_reset="earliest",
        )  # fmt: skip
        await consumer.start()
        read: list[bytes] = []
        try:
            # a position at every partition's end, once the group has its partitions (nothing read yet before that)
            while not (assigned := list(consumer.assignment())) or not await caught_up(consumer, await consumer.end_offsets(assigned)):
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    read += [record.key for record in records if record.key is not None]
            await consumer.commit()
        finally:
            await consumer.stop()
        return read

    return asyncio.run(go())


@pytest.mark.timeout(180)
def test_a_reset_group_reads_every_message_again(kafka_settings: Settings) -> None:
    settings = kafka_settings
    asyncio.run(ensure_topics(settings))
    articles = [invented_article(i, feed="replay") for i in range(30)]
    produce_articles(settings, articles)
    group = f"{settings.app_prefix}-replayed"
    first = read_to_end_and_commit(settings, group)
    assert sorted(first) == sorted(a.id.encode() for a in articles)
    assert committed_to_end(settings, group, "articles")
    reset = reset_group_to_start(settings, group, "articles")
    assert reset and set(reset.values()) == {0}
    assert {k: v for k, v in committed_offsets(settings, group).items() if k[0] == settings.topic("articles")} == reset
    assert not committed_to_end(settings, group, "articles")
    assert sorted(read_to_end_and_commit(settings, group)) == sorted(first)  # the same messages, each once more
