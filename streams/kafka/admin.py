"""Topic administration: create the catalogue's topics (compacted where it says so, sized by policy), await leaders, delete a namespace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams.config import Settings
from streams.errors import BrokerUnavailable
from streams.kafka.catalogue import COMPACTED, TABLES, TOPIC_NAMES, changelog_topic
from streams.kafka.sizes import limits, topic_configs

log = logging.getLogger(__name__)


def unavailable(settings: Settings, exc: Exception) -> BrokerUnavailable:
    return BrokerUnavailable(
        f"cannot reach Kafka at {settings.kafka_bootstrap} ({exc}). Start the local broker with "
        f"'bash deploy/kafka/kafka.sh start' (make run does it) or set WIREWATCH_KAFKA_BOOTSTRAP."
    )


@contextlib.asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client for the configured broker, closed on exit; BrokerUnavailable when none answers."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15000)
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        await admin.close()
        raise unavailable(settings, exc) from exc
    try:
        yield admin
    finally:
        await admin.close()


async def ensure_topics(settings: Settings, check_limits: bool = False) -> list[str]:
    """Create every Wirewatch topic that does not exist yet, compacted where the contract says so, each accepting
    the policy's largest message (``max.message.bytes``, streams/kafka/sizes.py); with ``check_limits`` (the long-running
    processes), warn about existing ones that do not: once at a process's start, not on every CLI command.

    Returns the topics it created, once each of their partitions has a leader: a client that starts after this
    reads and writes them at once, with none of the ``NotLeaderForPartition`` retries a cold start otherwise logs.
    """
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        names = {settings.topic(name): name in COMPACTED for name in TOPIC_NAMES}
        names.update({changelog_topic(settings, role, table): True for role, tables in TABLES.items() for table in tables})
        wanted = [
            NewTopic(
                name=name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=topic_configs(settings, compacted),
            )
            for name, compacted in names.items()
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created them first
            await _await_leaders(admin, [topic.name for topic in wanted])
        if check_limits:
            await _warn_small_limits(admin, settings, sorted(name for name in names if name in existing))
        return [topic.name for topic in wanted]


async def _warn_small_limits(admin: AIOKafkaAdminClient, settings: Settings, topics: list[str]) -> None:
    """Log existing topics whose ``max.message.bytes`` is below the policy's (made before it, or by hand).

    They are not altered: Kafka's AlterConfigs replaces a topic's whole configuration, which would drop settings an
    operator made. The broker then refuses the largest messages; those are dead-lettered, never lost.
    """
    if not topics:
        return
    wanted = limits(settings).topic
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in topics])
    except Exception as exc:  # noqa: BLE001 - a broker that refuses DescribeConfigs must not stop the start
        log.debug("could not read topic configurations: %s", exc)
        return
    for response in responses:
        for resource in getattr(response, "resources", []):
            name, entries = resource[3], resource[4]
            value = next((entry[1] for entry in entries if entry[0] == "max.message.bytes"), None)
            if value is not None and int(value) < wanted:
                log.warning(
                    "topic %s accepts messages of %s bytes at most, less than WIREWATCH_MAX_MESSAGE_BYTES needs (%d); raise it with "
                    "kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config max.message.bytes=%d",
                    name, value, wanted, name, wanted,
                )  # fmt: skip


async def delete_topics(settings: Settings) -> int:
    """Delete every topic of this namespace (its contract topics, changelogs and Faust's own); returns how many.

    For throwaway namespaces only (``wirewatch demo``, tests): each run otherwise leaves about 150
    partitions behind, and a development broker holding tens of thousands runs out of heap.
    """
    async with admin_client(settings) as admin:
        ours = [t for t in await admin.list_topics() if t.startswith((settings.topic_prefix, f"{settings.app_prefix}-"))]
        if ours:
            await admin.delete_topics(ours)
        return len(ours)


async def _await_leaders(admin: AIOKafkaAdminClient, topics: list[str], timeout: float = 30.0) -> None:
    """Wait until every partition of new ``topics`` has a leader, so the first reads and writes succeed."""
    deadline = asyncio.get_running_loop().time() + timeout
    said = False
    while asyncio.get_running_loop().time() < deadline:
        described = await admin.describe_topics(topics)
        if all(t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"]) for t in described):
            return
        if not said:  # once, not per retry: a cold start is no failure
            log.info("waiting for the new topics to get leaders (%d topics)", len(topics))
            said = True
        await asyncio.sleep(0.2)
    log.warning("topics %s still have partitions without a leader after %g s", topics, timeout)
