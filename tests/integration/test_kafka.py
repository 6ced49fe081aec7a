"""Topic creation, publishing and reading on the real broker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas import FeedSource, decode
from streams.config import Settings
from streams.deliver.replay import read_alerts
from streams.errors import BrokerUnavailable
from streams.kafka.admin import ensure_topics
from streams.kafka.catalogue import TOPIC_NAMES
from streams.kafka.client import compacted_state, latest_values, publish, read_topic
from streams.kafka.sizes import FRAMING_BYTES
from tests.conftest import free_port

pytestmark = pytest.mark.kafka


async def test_topics_are_created_with_the_contract(kafka_settings: Settings) -> None:
    await ensure_topics(kafka_settings)
    await ensure_topics(kafka_settings)  # idempotent
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([kafka_settings.topic(name) for name in TOPIC_NAMES])
        assert {t["topic"]: len(t["partitions"]) for t in described} == {kafka_settings.topic(n): 8 for n in TOPIC_NAMES}
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, kafka_settings.topic(n)) for n in ("feeds", "articles")]
        )
        policies, limits = {}, {}
        for response in configs:
            for resource in response.resources:
                entries = {entry[0]: entry[1] for entry in resource[4]}
                policies[resource[3]] = entries["cleanup.policy"]
                limits[resource[3]] = int(entries["max.message.bytes"])
        assert policies == {kafka_settings.topic("feeds"): "compact", kafka_settings.topic("articles"): "delete"}
        # the size policy: every topic takes what the producer may send (WIREWATCH_MAX_MESSAGE_BYTES and framing)
        assert set(limits.values()) == {kafka_settings.max_message_bytes + FRAMING_BYTES}
    finally:
        await admin.close()


async def test_a_topic_below_the_size_policy_is_named_at_start(kafka_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    await ensure_topics(kafka_settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.kafka_bootstrap)
    await admin.start()
    try:
        name = kafka_settings.topic("enriched")
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs={"max.message.bytes": "100000"})])
    finally:
        await admin.close()
    for _ in range(50):  # the broker applies the change asynchronously
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="streams.kafka.admin"):
            await ensure_topics(kafka_settings, check_limits=True)
        if caplog.records:
            break
        await asyncio.sleep(0.2)
    (record,) = caplog.records
    assert f"topic {name} accepts messages of 100000 bytes at most" in record.getMessage()
    assert "--add-config max.message.bytes=1049600" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streams.kafka.admin"):
        await ensure_topics(kafka_settings)  # as every CLI command does: the processes' start says it, once
    assert caplog.records == []


async def test_registry_round_trip_with_tombstone(kafka_settings: Settings) -> None:
    feeds = [FeedSource(id=f"f{i}", url=f"http://127.0.0.1/{i}.xml") for i in range(5)]
    await publish(kafka_settings, "feeds", [(feed.id, feed) for feed in feeds])
    await publish(kafka_settings, "feeds", [("f2", None), ("f3", feeds[3].model_copy(update={"title": "renamed"}))])
    state = await compacted_state(kafka_settings, "feeds")
    assert sorted(state) == ["f0", "f1", "f3", "f4"]
    assert decode(FeedSource, state["f3"]).title == "renamed"
    seen = [key async for key, _ in read_topic(kafka_settings, "feeds")]
    assert len(seen) == 7


READERS: dict[str, Callable[[Settings], Awaitable[Any]]] = {
    "read_topic": lambda settings: anext(read_topic(settings, "articles")),
    "latest_values": lambda settings: latest_values(settings, "feeds", {"feed-1"}),
    "read_alerts": lambda settings: read_alerts(settings, datetime.now(UTC)),
}


@pytest.mark.parametrize("reader", sorted(READERS))
async def test_every_plain_reader_names_a_broker_out_of_reach(reader: str) -> None:
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")  # a loopback port nothing listens on
    with pytest.raises(BrokerUnavailable, match=f"cannot reach Kafka at {settings.kafka_bootstrap}"):
        await READERS[reader](settings)
