"""Replaying on the workers' OWN consumer groups (reset to the earliest offsets) changes nothing: no alert, no delivery.

The replay test in test_worker_kills.py reads everything again under new consumer groups and compares the sink; this one
resets the worker's own groups, as an operator does after an incident (``kafka-consumer-groups.sh --reset-offsets
--to-earliest``), and also counts what reaches people: alert messages on ``wirewatch.alerts``, webhook requests and
lines of a file destination (Slack, e-mail and console cannot deduplicate on ``webhook-id``, like the file).

WIREWATCH_REPLAY_ARTICLES articles (600 by default, for CI; 1200 for the full figure): N / COPIES invented stories
naming the watched person, each carried by COPIES outlets (the story stage may split copies that arrive together, so
there can be more alerting stories than that), every tenth with a protest for the event rule, a breaking rule and a
query rule.
"""

from __future__ import annotations

import asyncio
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas import Article
from streams import ids
from streams.alert.rulefile import make_rule
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.catalogue import TOPIC_NAMES
from streams.kafka.client import publish, read_topic
from tests.chaos.test_worker_kills import checksum
from tests.conftest import free_port
from tests.e2e.helpers import WebhookReceiver, committed_to_end, stack_env, start, stop, wait_for
from tests.e2e.synthetic import count, produce
from tests.figures import record_figure

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.kafka]

N = int(os.environ.get("WIREWATCH_REPLAY_ARTICLES", "600"))
COPIES = 6  # outlets carrying each story: one alert per story, then updates as sources are added
PROTESTS = 10  # every tenth story reports a protest (under the event groups' count bounds, see the report of issue 13)
WATCHED = "Teodor Brankovic"
ROW = "Replay changes nothing on the same consumer groups"
#: every topic the worker reads, so "committed to the end" on all of them means the pipeline is idle
READ = tuple(
    name
    for name in ("articles", "storywork", "storykeys", "storyupdates", "enriched", "stories", "mentions", "events", "eventgroups",
                 "alerts", "delivered")
    if name in TOPIC_NAMES
)  # fmt: skip


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3))


def story_articles(n: int) -> list[Article]:
    """``n // COPIES`` invented stories naming the watched person, each in COPIES outlets (one host each)."""
    rng = random.Random(20261201)
    now = datetime.now(tz=UTC)
    stories = n // COPIES
    articles = []
    for s in range(stories):
        place, thing, group, other = (_word(rng).capitalize() for _ in range(4))
        text = (
            f"{WATCHED} told reporters in {place} that the {_word(rng)} {_word(rng)} plan for {thing} would start in spring. "
            f"The {group} council said the {_word(rng)} and {_word(rng)} works at {other} were ready."
        )
        if s % PROTESTS == 0:  # a key event for the event rule, its actors its own (so each story is an event of its own)
            text += f" Members of the {_word(rng).capitalize()} union protested against the plan on Monday."
        title = f"{WATCHED} backs {thing} plan in {place}"
        published = now - timedelta(minutes=2 * (stories - s))
        for outlet in range(COPIES):
            feed_url = f"http://outlet{outlet}.example/feed.xml"
            feed_id = ids.feed_id(feed_url)
            url = f"http://outlet{outlet}.example/news/{s}"
            articles.append(
                Article(
                    id=ids.article_id(feed_id, f"story-{s}", url, "", None), feed_id=feed_id, feed_url=feed_url, guid=f"story-{s}",
                    url=url, canonical_url=url, title=title, text=text, published=published + timedelta(seconds=outlet),
                    fetched=now, content_hash=ids.content_hash(text),
                )
            )  # fmt: skip
    return articles


def alert_messages(settings: Settings) -> int:
    async def collect() -> int:
        return len([value async for _, value in read_topic(settings, "alerts") if value])

    return asyncio.run(collect())


def reset_to_earliest(settings: Settings) -> list[str]:
    """Commit the earliest offset of every partition each of the app's consumer groups has committed; the groups.

    What ``kafka-consumer-groups.sh --reset-offsets --to-earliest --all-topics --execute`` does, through the Kafka
    protocol (aiokafka's admin client has no AlterConsumerGroupOffsets): a consumer without a subscription commits
    for an empty group.
    """

    async def go() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            groups = sorted(g[0] for g in await admin.list_consumer_groups() if g[0].startswith(f"{settings.app_prefix}-"))
            offsets = {group: list(await admin.list_consumer_group_offsets(group)) for group in groups}
        finally:
            await admin.close()
        for group, partitions in offsets.items():
            consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
            await consumer.start()
            try:
                consumer.assign(partitions)
                earliest = await consumer.beginning_offsets(partitions)
                await consumer.commit({tp: offset for tp, offset in earliest.items() if isinstance(tp, TopicPartition)})
            finally:
                await consumer.stop()
        return groups

    return asyncio.run(go())


def idle(settings: Settings) -> bool:
    """The worker has committed every topic it reads to its end, twice in a row (nothing was in flight between)."""
    group = f"{settings.app_prefix}-worker"
    return committed_to_end(settings, group, *READ) and committed_to_end(settings, group, *READ)


def lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


@pytest.mark.timeout(3600)  # two runs over every article on a shared two-core machine: waits of up to 1,500 s and 300 s
def test_replay_on_the_same_consumer_groups_changes_nothing(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = kafka_settings
    hook = WebhookReceiver()
    alerts_dir = tmp_path / "alerts"
    alerts_dir.mkdir()
    alerts_file = alerts_dir / "replay.jsonl"
    try:
        asyncio.run(ensure_topics(settings))
        destinations = [hook.url, "file:replay.jsonl"]
        rules = [
            make_rule(WATCHED, [], "PERSON", None, "mention", destinations=destinations),
            make_rule("Protests", [], kind="event", event_types=["PROTEST"], destinations=destinations),
            make_rule("*", [], kind="breaking", destinations=destinations),  # any story with three outlets in the hour
            make_rule("", [], kind="query", query=f'"{WATCHED}" AND plan', destinations=destinations),  # counted by rule id
        ]
        asyncio.run(publish(settings, "rules", [(rule.id, rule) for rule in rules]))
        articles = story_articles(N)
        produce(settings, "articles", [(a.id.encode(), a.model_dump_json().encode()) for a in articles])
        env = stack_env(settings, {"WIREWATCH_WEB_PORT": str(free_port()), "WIREWATCH_FILE_DESTINATION_DIR": str(alerts_dir)})

        worker = start("worker", env, tmp_path / "worker.log")
        try:
            wait_for(f"all {len(articles)} articles stored", lambda: count(settings.sqlite_path, "SELECT count(*) FROM articles")
                     == len(articles), 900, 1.0, [worker])  # fmt: skip
            wait_for("the worker to be idle", lambda: idle(settings), 300, 2.0, [worker])
        finally:
            assert stop(worker) == 0
        before = checksum(settings.sqlite_path)
        messages, deliveries, written = alert_messages(settings), len(hook.received), lines(alerts_file)
        db = settings.sqlite_path
        stories = count(db, f"SELECT count(DISTINCT json_extract(body, '$.story_id')) FROM alerts WHERE rule_id = '{rules[0].id}'")
        kinds = {kind: count(db, f"SELECT count(*) FROM alerts WHERE kind = '{kind}'")
                 for kind in ("mention", "event", "breaking", "query")}  # fmt: skip
        alerts = sum(kinds.values())
        print(f"first run: {messages} alert messages, {alerts} alerts {kinds} ({stories} alerting stories of the mention rule), "
              f"{deliveries} webhook deliveries, {written} file lines")  # fmt: skip
        assert stories > 0 and kinds["breaking"] > 0 and kinds["query"] > 0
        assert deliveries == alerts and written >= alerts  # each alert pushed once; the file also gets the updates

        groups = reset_to_earliest(settings)
        assert f"{settings.app_prefix}-worker" in groups
        assert not idle(settings)  # the reset took: the worker's own group is back at the start
        worker = start("worker", env, tmp_path / "replay.log")
        try:
            wait_for("the replay to re-read everything", lambda: idle(settings), 1500, 2.0, [worker])
        finally:
            assert stop(worker) == 0
        new_messages = alert_messages(settings) - messages
        new_deliveries = len(hook.received) - deliveries
        new_lines = lines(alerts_file) - written
        record_figure(ROW, "articles replayed", len(articles))
        record_figure(ROW, "alerting stories (mention rule)", stories)
        for kind, n in kinds.items():
            record_figure(ROW, f"{kind} alerts", n)
        record_figure(ROW, "alert messages before the replay", messages)
        record_figure(ROW, "new alert messages after the replay", new_messages)
        record_figure(ROW, "new webhook deliveries after the replay", new_deliveries)
        record_figure(ROW, "new file-destination lines after the replay", new_lines)
        print(f"replay of groups {groups}: {new_messages} new alert messages, {new_deliveries} webhook, {new_lines} file lines")
        assert (new_messages, new_deliveries, new_lines) == (0, 0, 0)
        assert checksum(settings.sqlite_path) == before
    finally:
        hook.close()
