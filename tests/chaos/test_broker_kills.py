"""The broker SIGKILLed and restarted three times while the real poller publishes 20,000 articles: none it saw acknowledged is lost.

RELIABILITY.md: "producers never lose an acknowledged article: idempotent producer, acks=all; 20k articles, broker
killed (-9) and restarted 3 times mid-run; 0 lost, 0 duplicates in the sink". The articles come through the poller's
own producer path (agents/poll.py PollScheduler.publish: the poller app's topic send, acks=all with idempotence) from
feeds on a loopback server that grow while the broker dies; a worker enriches and stores them meanwhile. What the
poller saw acknowledged is what its saved feed states say it has seen (a state is saved only after its articles'
sends were acknowledged), read back from the feed-state changelog.

The broker is one of the test's own (``deploy/kafka/kafka.sh`` on free ports): the shared one on 127.0.0.1:9092
serves other tests at the same time and is never killed. WIREWATCH_CHAOS_ARTICLES sets the article count (2,000 by
default, to keep ``make test`` within minutes on a shared two-core machine); ``make chaos`` runs the full 20,000.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import FeedSource
from streams import ids
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.catalogue import changelog_topic
from streams.kafka.client import publish, read_topic
from tests.conftest import free_port
from tests.e2e.helpers import OwnBroker, http_get, local_kafka_jars, stack_env, start, stop, wait_for
from tests.e2e.synthetic import PEOPLE, TOWNS, count
from tests.e2e.test_ops import metric
from tests.figures import record_figure

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.kafka]

N = int(os.environ.get("WIREWATCH_CHAOS_ARTICLES", "2000"))
FEEDS = 50
KILLS = 3
STEPS = 40  # the feeds grow in this many steps; the broker is killed at a quarter, half and three quarters of them
ROW = "producers never lose an acknowledged article (broker SIGKILLed 3 times)"


class GrowingFeeds:
    """``FEEDS`` RSS feeds on loopback, each showing its first ``revealed`` items (the test raises it), with ETags."""

    def __init__(self, per_feed: int) -> None:
        self.per_feed = per_feed
        self.revealed = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                number = int(self.path.rsplit("/", 1)[1])
                shown = server.revealed
                etag = f'"{shown}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.body(number, shown)
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def item(number: int, i: int) -> str:
        person, town = PEOPLE[(number + i) % len(PEOPLE)], TOWNS[(number * 7 + i) % len(TOWNS)]
        return (
            f"<item><title>Notice {i} of feed {number}</title><guid>b{number}-{i}</guid>"
            f"<description>{person} opened depot {i} of network {number} in {town} on Tuesday.</description></item>"
        )

    def body(self, number: int, shown: int) -> bytes:
        items = "".join(self.item(number, i) for i in range(shown))
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {number}</title>{items}</channel></rss>'.encode()

    def url(self, number: int) -> str:
        return f"http://127.0.0.1:{self.port}/feed/{number}"

    def expected_ids(self) -> set[str]:
        """The article id of every item of every feed (the poller's id chain: the item's GUID)."""
        out = set()
        for number in range(FEEDS):
            out |= {ids.article_id(f"feed-{number}", f"b{number}-{i}", None, "", None) for i in range(self.per_feed)}
        return out

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    if shutil.which("java") is None or local_kafka_jars() is None:
        pytest.skip("no java or no local Kafka jars (deploy/kafka/kafka.sh start provides both)")
    broker = OwnBroker(tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()  # its state goes with tmp_path; a SIGKILL is quicker than a clean stop


def per_id(settings: Settings, topic: str, key_of: Any) -> Counter[str]:
    async def collect() -> Counter[str]:
        return Counter([key_of(orjson.loads(value)) async for _, value in read_topic(settings, topic) if value])

    return asyncio.run(collect())


def acknowledged(settings: Settings) -> set[str]:
    """Every article id a saved feed state says was published: the poller saves a state only after its sends were acked."""

    async def collect() -> set[str]:
        latest: dict[str, bytes] = {}
        changelog = settings.model_copy(update={"topic_prefix": ""})
        async for key, value in read_topic(changelog, changelog_topic(settings, "poller", "feed-state")):
            if key is not None and value is not None:
                latest[key] = value
        return {article for value in latest.values() for article in orjson.loads(value).get("recent", {})}

    return asyncio.run(collect())


@pytest.mark.timeout(3600)  # three broker restarts of up to 180 s each, the feeds' growth, waits of up to 900 s for the rest
def test_broker_killed_three_times_loses_no_acknowledged_article(own_broker: OwnBroker, tmp_path: Path) -> None:
    settings = Settings(
        kafka_bootstrap=own_broker.bootstrap, topic_prefix="bk.", app_prefix="bk", data_dir=tmp_path / "data",
        sqlite_path=tmp_path / "wirewatch.db",
    )  # fmt: skip
    asyncio.run(ensure_topics(settings))
    per_feed = max(1, N // FEEDS)
    server = GrowingFeeds(per_feed)
    expected = server.expected_ids()
    asyncio.run(publish(settings, "feeds", [(f"feed-{n}", FeedSource(id=f"feed-{n}", url=server.url(n))) for n in range(FEEDS)]))
    worker_port, poller_port = free_port(), free_port()
    env = stack_env(
        settings,
        {
            "WIREWATCH_WEB_PORT": str(worker_port),
            "WIREWATCH_POLLER_WEB_PORT": str(poller_port),
            "WIREWATCH_POLL_TICK_SECONDS": "0.5",
            "WIREWATCH_POLL_INTERVAL_SECONDS": "1",
            "WIREWATCH_POLL_MIN_INTERVAL_SECONDS": "1",
            "WIREWATCH_POLL_MAX_INTERVAL_SECONDS": "5",  # the longest error backoff after a failed publish
            "WIREWATCH_FETCH_PER_HOST": "8",  # every feed is on one loopback host
            "WIREWATCH_SINK_BATCH_SIZE": "100",
        },
    )
    poller = start("poller", env, tmp_path / "poller.log")
    worker = start("worker", env, tmp_path / "worker.log")
    processes = [poller, worker]
    db = settings.sqlite_path
    restarts: list[float] = []
    published: list[int] = []  # articles the poller had seen acknowledged before each kill
    started = time.monotonic()
    try:
        wait_for("the poller ready", lambda: http_get(f"http://127.0.0.1:{poller_port}/ready")[0] == 200, 180, processes=processes)
        kill_at = {STEPS * k // (KILLS + 1) for k in range(1, KILLS + 1)}
        for step in range(1, STEPS + 1):
            server.revealed = per_feed * step // STEPS
            time.sleep(1.0)
            if step in kill_at:
                # mid-run: polls publishing, the worker consuming, enriching and committing
                published.append(int(metric(poller_port, "wirewatch_articles_published_total", '{kind="new"}') or 0))
                own_broker.kill()
                time.sleep(2.0)
                restarts.append(own_broker.start())
        wait_for(f"all {N} articles stored", lambda: count(db, "SELECT count(*) FROM articles") >= len(expected), 900, 2.0, processes)
        wait_for("every feed state saved with all its items", lambda: acknowledged(settings) >= expected, 300, 2.0, processes)
    finally:
        poller_code, worker_code = stop(poller), stop(worker)
        server.close()
    elapsed = time.monotonic() - started
    assert (poller_code, worker_code) == (0, 0), f"exit codes: poller {poller_code}, worker {worker_code}"
    acked = acknowledged(settings)
    on_topic = per_id(settings, "articles", lambda value: value["id"])
    enriched = per_id(settings, "enriched", lambda value: value["article"]["id"])
    lost = acked - set(on_topic)
    assert 0 < published[0] and published[-1] < len(expected), f"the kills must land mid-run: {published} of {len(expected)} published"
    assert acked == expected, f"{len(expected - acked)} items never acknowledged"
    assert not lost, f"{len(lost)} acknowledged articles are not on the articles topic"
    assert set(enriched) == expected, f"{len(expected - set(enriched))} articles never enriched"
    stored = {row[0] for row in sqlite3.connect(db).execute("SELECT id FROM articles")}
    assert stored == expected
    assert count(db, "SELECT count(*) FROM (SELECT article_id, entity_id FROM mentions GROUP BY 1, 2 HAVING count(*) > 1)") == 0
    republished = sum(on_topic.values()) - len(on_topic)
    reenriched = sum(enriched.values()) - len(enriched)
    record_figure(ROW, "articles published by the poller", len(expected))
    record_figure(ROW, "broker SIGKILLs (each restarted)", len(restarts))
    record_figure(ROW, "articles acknowledged before each kill", ", ".join(map(str, published)))
    record_figure(ROW, "acknowledged articles lost", len(lost))
    record_figure(ROW, "articles stored", len(stored))
    record_figure(ROW, "articles on the topic twice or more (published again after a failed send)", republished)
    record_figure(ROW, "articles enriched twice or more (re-processed after a restart)", reenriched)
    record_figure(ROW, "broker restart, slowest", max(restarts), "s")
    record_figure(ROW, "whole run", elapsed, "s")
