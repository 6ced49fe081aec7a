"""Alert delivery under failure: a worker SIGKILLed mid-stream, and a webhook that is down while alerts are raised."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from schemas import Mention, encode
from streams import ids
from streams.alert.rulefile import make_rule
from streams.config import Settings
from streams.enrich.gazetteer import watched_entity_id
from streams.kafka.admin import ensure_topics
from streams.kafka.client import publish, read_topic
from streams.story.decide import story_id_for
from tests.conftest import free_port
from tests.e2e.helpers import committed_to_end, stack_env, start, stop, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.chaos]

ENTITIES, STORIES = 20, 8  # 160 alerts


class SlowReceiver:
    """A webhook that takes 25 ms per request, so a kill lands while deliveries are still in flight."""

    def __init__(self, port: int = 0) -> None:
        self.ids: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(0.025)
                receiver.ids.append(self.headers.get("webhook-id", ""))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def mentions_and_expected_ids(stories: int = STORIES) -> tuple[list[tuple[str, Any]], list[Mention], set[str]]:
    rules = [make_rule(f"Chaos Person {n}", [], "PERSON", kind="mention") for n in range(ENTITIES)]
    now = datetime.now(tz=UTC)
    items, expected = [], set()
    for story in range(stories):
        for rule in rules:
            entity = watched_entity_id(rule.entity)
            article = f"chaos-{story}-{rule.id[:6]}"
            when = now - timedelta(minutes=stories - story)
            items.append(
                Mention(
                    id=ids.mention_id(entity, article), entity_id=entity, name=rule.entity.name, type="PERSON", watch_ids=[rule.id],
                    article_id=article, feed_id="f", url=f"https://chaos{story}.example/{article}", title=f"Story {story}",
                    sentence=f"{rule.entity.name} spoke about story {story}.", sentence_start=0, start=0, end=len(rule.entity.name),
                    published=when, fetched=when, content_hash=article, sketch=f"{(story * 0x9E3779B97F4A7C15) % 2**64:016x}",
                )
            )  # fmt: skip
            # produced straight to wirewatch.mentions, without the story stage: each article is a story of its own
            expected.add(ids.story_alert_id(rule.id, story_id_for(article)))
    return [(rule.id, rule) for rule in rules], items, expected


def produce(settings: Settings, rules: list[tuple[str, Any]], items: list[Mention]) -> None:
    async def go() -> None:
        await ensure_topics(settings)
        await publish(settings, "rules", rules)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for item in items:
                await producer.send(settings.topic("mentions"), key=item.entity_id.encode(), value=encode(item))
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(go())


def topic_ids(settings: Settings, topic: str) -> list[str]:
    async def collect() -> list[str]:
        return [orjson.loads(v).get("id", "") if topic == "alerts" else str(k) async for k, v in read_topic(settings, topic) if v]

    return asyncio.run(collect())


@pytest.mark.timeout(900)  # two waits of up to 180 s, one of 120 s, and the stops
def test_killed_worker_loses_and_duplicates_no_alert(kafka_settings: Settings, tmp_path: Path) -> None:
    hook = SlowReceiver()
    rules, items, expected = mentions_and_expected_ids()
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(free_port()), "WIREWATCH_WEBHOOK_URL": hook.url})
    produce(kafka_settings, rules, items)
    log = tmp_path / "worker.log"
    worker = start("worker", env, log)
    try:
        wait_for("a third of the alerts at the webhook", lambda: len(set(hook.ids)) >= len(expected) // 3, 180, 0.05, [worker])
        os.killpg(worker.pid, signal.SIGKILL)  # mid-stream: deliveries and commits in flight
        worker.wait()
        seen_before_restart = len(set(hook.ids))
        assert seen_before_restart < len(expected), "the kill came too late to test anything"
        worker = start("worker", env, log)
        wait_for("every alert at the webhook", lambda: set(hook.ids) >= expected, 180, 0.2, [worker])
        # anything still to come would be a duplicate under a new id: wait until the worker has committed every mention
        # (each alert it raises is on the alerts topic before that) and every alert (each delivered before that)
        group = f"{kafka_settings.app_prefix}-worker"
        wait_for("every mention and alert committed", lambda: committed_to_end(kafka_settings, group, "mentions", "alerts"), 120, 1.0,
                 [worker])  # fmt: skip
    finally:
        code = stop(worker)
        hook.close()
    assert code == 0, f"worker exit code {code}; log in {log}"
    assert set(hook.ids) == expected  # 0 lost, and no alert under a second id
    redelivered = len(hook.ids) - len(expected)  # same webhook-id again: what receivers deduplicate

    on_topic = topic_ids(kafka_settings, "alerts")
    assert set(on_topic) == expected
    print(f"\nchaos: {len(expected)} alerts, {seen_before_restart} delivered before SIGKILL, {redelivered} re-deliveries "
          f"of a webhook-id after restart, {len(on_topic) - len(expected)} duplicate messages on the alerts topic")  # fmt: skip


@pytest.mark.timeout(600)  # waits of up to 180 s and 120 s, and the stop
def test_dead_webhook_never_stalls_detection_and_gets_every_alert_after_recovery(kafka_settings: Settings, tmp_path: Path) -> None:
    port = free_port()  # nothing listens here until the endpoint "recovers"
    rules, items, expected = mentions_and_expected_ids(stories=3)
    env = stack_env(
        kafka_settings,
        {"WIREWATCH_WEB_PORT": str(free_port()), "WIREWATCH_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
         "WIREWATCH_DELIVERY_ATTEMPTS": "1000", "WIREWATCH_DELIVERY_BASE_DELAY_SECONDS": "0.2",
         "WIREWATCH_DELIVERY_MAX_DELAY_SECONDS": "1"},
    )  # fmt: skip
    produce(kafka_settings, rules, items)
    log = tmp_path / "worker.log"
    worker = start("worker", env, log)
    hook: SlowReceiver | None = None
    try:
        # detection goes on at full pace while every delivery attempt is refused
        wait_for("every alert on the alerts topic", lambda: set(topic_ids(kafka_settings, "alerts")) >= expected, 180, 1.0, [worker])
        hook = SlowReceiver(port)
        wait_for("every alert at the recovered webhook", lambda: set(hook.ids) >= expected if hook else False, 120, 0.2, [worker])
    finally:
        code = stop(worker)
        if hook is not None:
            hook.close()
    assert code == 0, f"worker exit code {code}; log in {log}"
    assert hook is not None and set(hook.ids) == expected
    assert topic_ids(kafka_settings, "deadletter") == []
