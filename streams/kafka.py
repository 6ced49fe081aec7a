"""Plain aiokafka helpers for the CLI and start-up: create topics, publish records, read topics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from schemas import Record, encode
from streams.config import Settings

log = logging.getLogger(__name__)

TOPIC_NAMES = (
    "feeds", "rules", "articles", "enriched", "mentions", "events", "alerts", "deadletter", "digests", "destinations", "eventgroups",
)  # fmt: skip
COMPACTED = frozenset({"feeds", "rules", "destinations"})
#: Faust tables per app role; their changelog topics are created with the others, before Faust starts,
#: so the first rebalance never sees a missing changelog
TABLES = {"poller": ("feed-state",), "worker": ("entity-seen", "digest-pending", "event-groups")}


def changelog_topic(settings: Settings, role: str, table: str) -> str:
    return f"{settings.app_prefix}-{role}-{table}-changelog"


class BrokerUnavailable(RuntimeError):
    """No Kafka broker answers at the configured address."""


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
        raise unavailable(settings, exc) from exc
    try:
        yield admin
    finally:
        await admin.close()


async def ensure_topics(settings: Settings) -> None:
    """Create every Wirewatch topic that does not exist yet, compacted where the contract says so."""
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        names = {settings.topic(name): name in COMPACTED for name in TOPIC_NAMES}
        names.update({changelog_topic(settings, role, table): True for role, tables in TABLES.items() for table in tables})
        wanted = [
            NewTopic(
                name=name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs={"cleanup.policy": "compact"} if compacted else {},
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
    while asyncio.get_running_loop().time() < deadline:
        described = await admin.describe_topics(topics)
        if all(t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"]) for t in described):
            return
        await asyncio.sleep(0.2)
    log.warning("topics %s still have partitions without a leader after %g s", topics, timeout)


async def publish(settings: Settings, topic: str, items: list[tuple[str, Record | None]]) -> None:
    """Send ``(key, record)`` pairs to ``topic`` (a suffix) with the idempotent producer; None is a tombstone."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
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
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
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
