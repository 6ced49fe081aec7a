"""A real worker's event-group table stays within WIREWATCH_EVENT_GROUPS_MAX_MB while reports name ever new places.

Every report is an event of its own type, place and day (a new key of the table, as a feed naming new places makes).
The worker (role ``core``: the event agents without NLP) raises one alert per event and keeps only the groups its
budget holds, the least recently reported dropped first, tombstoned in the changelog. WIREWATCH_EVENT_GROUP_KEYS sets
how many distinct keys (5,000 by default; ``make chaos`` runs 100,000).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from schemas import Event, Magnitude, encode
from streams.alert.events import group_key
from streams.alert.retention import footprint
from streams.alert.rulefile import make_rule
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.catalogue import changelog_topic
from streams.kafka.client import caught_up, publish, read_topic, topic_partitions
from streams.kafka.partitioning import key_partition
from tests.conftest import free_port
from tests.e2e.helpers import committed_to_end, rss, stack_env, start, stop, wait_for
from tests.e2e.synthetic import produce
from tests.e2e.test_ops import metric
from tests.figures import record_figure

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

KEYS = int(os.environ.get("WIREWATCH_EVENT_GROUP_KEYS", "5000"))
BUDGET_MB = 1
ROW = "the event-group table stays within its memory budget on a real worker"


def report(i: int, now: datetime) -> Event:
    return Event(
        id=f"ev{i}", article_id=f"art{i}", type="ASSAULT", location=f"Town {i}", actors=[f"Militia {i % 97}"],
        magnitudes=[Magnitude(kind="killed", value=i % 40 + 1)], sentence=f"Gunmen from Militia {i % 97} attacked Town {i} at dawn.",
        start=0, end=50, confidence=0.9, date=now.date().isoformat(),
    )  # fmt: skip


def changelog(settings: Settings) -> dict[str, tuple[int, bytes]]:
    """The event-group changelog's live entries (tombstones applied): key → (partition, value)."""

    async def read() -> dict[str, tuple[int, bytes]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        live: dict[str, tuple[int, bytes]] = {}
        try:
            partitions = await topic_partitions(consumer, changelog_topic(settings, "worker", "event-groups"))
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            while not await caught_up(consumer, end):
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    for record in records:
                        key = orjson.loads(record.key)  # Faust writes a table's keys as JSON
                        if record.value is None:
                            live.pop(key, None)
                        else:
                            live[key] = (tp.partition, record.value)
        finally:
            await consumer.stop()
        return live

    return asyncio.run(read())


@pytest.mark.timeout(3600)  # 100,000 alerts in make chaos: waits of up to 180 s and 3,000 s
def test_distinct_event_groups_stay_within_the_budget(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = kafka_settings
    asyncio.run(ensure_topics(settings))
    rule = make_rule("Any assault", [], kind="event", event_types=["ASSAULT"])
    asyncio.run(publish(settings, "rules", [(rule.id, rule)]))
    now = datetime.now(tz=UTC)
    reports = [report(i, now) for i in range(KEYS)]
    keys = [group_key(event, now) for event in reports]
    assert len(set(keys)) == KEYS
    port = free_port()
    env = stack_env(settings, {"WIREWATCH_WEB_PORT": str(port), "WIREWATCH_WORKER_ROLE": "core",
                               "WIREWATCH_EVENT_GROUPS_MAX_MB": str(BUDGET_MB)})  # fmt: skip
    worker = start("worker", env, tmp_path / "worker.log")
    group = f"{settings.app_prefix}-worker"
    samples: list[int] = []  # the worker's RSS from the moment its budget was full (the first group dropped)
    try:
        produce(settings, "eventgroups", [(key.encode(), encode(event)) for key, event in zip(keys, reports, strict=True)])
        produced = time.monotonic()

        def done() -> bool:
            if samples or (metric(port, "wirewatch_event_groups_dropped_total", '{reason="budget"}') or 0) > 0:
                samples.append(rss(worker.pid))
            # every report turned into its alert, and every alert delivered (to the console) and stored
            return committed_to_end(settings, group, "eventgroups") and committed_to_end(settings, group, "alerts")

        wait_for(f"all {KEYS} reports handled and their alerts delivered", done, 3000, 2.0, [worker])
        elapsed = time.monotonic() - produced
        held = metric(port, "wirewatch_event_groups")
        counted = metric(port, "wirewatch_event_group_bytes")
        dropped = metric(port, "wirewatch_event_groups_dropped_total", '{reason="budget"}')
    finally:
        code = stop(worker)
    assert code == 0
    live = changelog(settings)
    per_partition: dict[int, int] = {}
    for key, (partition, value) in live.items():
        assert partition == key_partition(key, settings.partitions), "a group in a changelog partition its key does not hash to"
        per_partition[partition] = per_partition.get(partition, 0) + footprint(key, len(value))
    budget = BUDGET_MB * 1024 * 1024
    assert max(per_partition.values()) <= budget // settings.partitions, per_partition
    assert held is not None and counted is not None and dropped is not None
    assert held == len(live) < KEYS and counted <= budget and dropped == KEYS - len(live)
    assert keys[-1] in live and keys[0] not in live  # the newest kept, the oldest dropped
    fired = {value["id"] for value in _alerts(settings) if not value.get("update")}
    assert len(fired) == KEYS, "every distinct event alerted once"
    record_figure(ROW, "distinct keys (type, place and day)", KEYS)
    record_figure(ROW, "budget (WIREWATCH_EVENT_GROUPS_MAX_MB)", BUDGET_MB, "MB")
    record_figure(ROW, "groups held at the end (changelog and the worker alike)", len(live))
    record_figure(ROW, "counted bytes held", round(counted / 1024 / 1024, 3), "MB")
    record_figure(ROW, "groups dropped, oldest first", int(dropped))
    assert samples, "the budget must have filled while the reports were handled"
    record_figure(ROW, "worker RSS when the budget was full", round(samples[0] / 2**20, 1), "MB")
    record_figure(ROW, "worker RSS, peak after that", round(max(samples) / 2**20, 1), "MB")
    record_figure(ROW, "every report handled (one alert each) after", elapsed, "s")


def _alerts(settings: Settings) -> list[dict[str, object]]:
    async def collect() -> list[dict[str, object]]:
        return [orjson.loads(value) async for _, value in read_topic(settings, "alerts") if value]

    return asyncio.run(collect())
