"""Topic creation, publishing and reading on the real broker."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas import FeedSource, decode
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.catalogue import TOPIC_NAMES
from streams.kafka.client import compacted_state, publish, read_topic

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
        policies = {}
        for response in configs:
            for resource in response.resources:
                policies[resource[3]] = {entry[0]: entry[1] for entry in resource[4]}["cleanup.policy"]
        assert policies == {kafka_settings.topic("feeds"): "compact", kafka_settings.topic("articles"): "delete"}
    finally:
        await admin.close()


async def test_registry_round_trip_with_tombstone(kafka_settings: Settings) -> None:
    feeds = [FeedSource(id=f"f{i}", url=f"http://127.0.0.1/{i}.xml") for i in range(5)]
    await publish(kafka_settings, "feeds", [(feed.id, feed) for feed in feeds])
    await publish(kafka_settings, "feeds", [("f2", None), ("f3", feeds[3].model_copy(update={"title": "renamed"}))])
    state = await compacted_state(kafka_settings, "feeds")
    assert sorted(state) == ["f0", "f1", "f3", "f4"]
    assert decode(FeedSource, state["f3"]).title == "renamed"
    seen = [key async for key, _ in read_topic(kafka_settings, "feeds")]
    assert len(seen) == 7
