"""A feed on a local server through the real poller and worker processes on the real broker to one alert."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.config import Settings
from streams.deliver.signing import verify_webhook
from streams.kafka.client import read_topic
from tests.conftest import FIXTURES, free_port
from tests.e2e.helpers import FeedServer, WebhookReceiver, cli, http_get, stack_env, start, stop, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

SECRET = "whsec_" + base64.b64encode(b"wirewatch-e2e-secret-0123456789").decode()


def topic_values(settings: Settings, topic: str) -> list[tuple[str | None, bytes | None]]:
    async def collect() -> list[tuple[str | None, bytes | None]]:
        return [item async for item in read_topic(settings, topic)]

    return asyncio.run(collect())


def sqlite_rows(path: Path, query: str) -> list[tuple[object, ...]]:
    if not path.exists():
        return []
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return conn.execute(query).fetchall()
    except sqlite3.OperationalError:
        return []  # the worker has not created its tables yet


def produce_raw(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(settings.topic(topic), key=key, value=value)
        finally:
            await producer.stop()

    asyncio.run(go())


@pytest.mark.timeout(900)  # three CLI runs, waits of up to 180 + 60 + 60 + 30 + 60 s, two processes stopped
def test_feed_to_stored_article_mentions_and_exactly_one_alert(kafka_settings: Settings, tmp_path: Path) -> None:
    feeds = FeedServer(
        {
            "/valley.xml": (FIXTURES / "valley-news.xml").read_bytes(),
            "/login.xml": b"<!DOCTYPE html><html><body>Please sign in</body></html>",
        }
    )
    hook = WebhookReceiver()
    dead_url = f"http://127.0.0.1:{free_port()}/gone.xml"  # nothing listens here
    worker_port, poller_port = free_port(), free_port()
    env = stack_env(
        kafka_settings,
        {
            "WIREWATCH_POLL_INTERVAL_SECONDS": "2",
            "WIREWATCH_POLL_MIN_INTERVAL_SECONDS": "1",
            "WIREWATCH_POLL_MAX_INTERVAL_SECONDS": "3",
            "WIREWATCH_POLL_TICK_SECONDS": "0.5",
            "WIREWATCH_WEB_PORT": str(worker_port),
            "WIREWATCH_POLLER_WEB_PORT": str(poller_port),
            "WIREWATCH_WEBHOOK_URL": hook.url,
            "WIREWATCH_WEBHOOK_SECRET": SECRET,
            "WIREWATCH_ALERTS_FILE": str(tmp_path / "alerts.jsonl"),
        },
    )
    added = cli(env, "feeds", "add", feeds.url("/valley.xml"), feeds.url("/login.xml"), dead_url, "--no-check")
    assert added.returncode == 0, added.stderr
    watched = cli(env, "watch", "add", "Ingrid Halvorsen", "--alias", "Halvorsen", "--type", "PERSON")
    assert watched.returncode == 0, watched.stderr
    listed = cli(env, "feeds", "list", "--json")
    assert sorted(feed["url"] for feed in orjson.loads(listed.stdout)) == sorted(
        [feeds.url("/valley.xml"), feeds.url("/login.xml"), dead_url]
    )

    poller_log, worker_log = tmp_path / "poller.log", tmp_path / "worker.log"
    poller = start("poller", env, poller_log)
    worker = start("worker", env, worker_log)
    processes = [poller, worker]
    db = kafka_settings.sqlite_path
    try:
        wait_for("2 articles in SQLite", lambda: sqlite_rows(db, "SELECT count(*) FROM articles") == [(2,)], 180, processes=processes)
        # the feed is polled again (answered 304 or unchanged) at least twice more
        wait_for("two more polls of the feed", lambda: feeds.requests.get("/valley.xml", 0) >= 3, 60, processes=processes)
        wait_for("the alert in SQLite", lambda: sqlite_rows(db, "SELECT count(*) FROM alerts") == [(1,)], 60, processes=processes)
        wait_for("the webhook delivery", lambda: len(hook.received) >= 1, 30, processes=processes)

        titles = sorted(row[0] for row in sqlite_rows(db, "SELECT title FROM articles"))
        assert titles == ["Councillor Ingrid Halvorsen wins vote on the Redmoor bridge", "Redmoor library reopens after flood repairs"]

        mentions = [orjson.loads(value) for _, value in topic_values(kafka_settings, "mentions") if value]
        halvorsen = [m for m in mentions if m["name"] == "Ingrid Halvorsen"]
        assert len(halvorsen) == 1 and halvorsen[0]["watch_ids"], mentions
        assert {m["name"] for m in mentions} >= {"Ingrid Halvorsen", "Redmoor", "Samuel Achebe"}

        alerts = [orjson.loads(value) for _, value in topic_values(kafka_settings, "alerts") if value]
        assert len(alerts) == 1
        assert alerts[0]["entity_name"] == "Ingrid Halvorsen"
        assert "**Ingrid Halvorsen**" in alerts[0]["evidence"]

        headers, body = hook.received[0]
        assert len(hook.received) == 1
        assert headers["webhook-id"] == alerts[0]["id"]
        assert verify_webhook(SECRET, headers, body)
        assert (tmp_path / "alerts.jsonl").read_text().count("\n") == 1

        # bad feeds: one clear line each, naming the feed and the cause; the good feed went on
        poller_text = poller_log.read_text()
        assert f"({feeds.url('/login.xml')}): response is an HTML page, not a feed" in poller_text
        assert f"({dead_url}): cannot connect" in poller_text

        # a poison message goes to the dead-letter topic with its origin, and the worker keeps going
        produce_raw(kafka_settings, "articles", b"poison-1", b'{"schema_version": 1, "id": "p1", "title": 42}')
        dead = wait_for(
            "the dead letter",
            lambda: [orjson.loads(v) for _, v in topic_values(kafka_settings, "deadletter") if v],
            60,
            processes=processes,
        )
        assert dead[0]["key"] == "poison-1" and dead[0]["topic"] == kafka_settings.topic("articles") and dead[0]["agent"] == "enrich"
        assert "Article" in dead[0]["error"] and dead[0]["offset"] >= 0
        assert base64.b64decode(dead[0]["value_b64"]).startswith(b'{"schema_version": 1')

        status, metrics = http_get(f"http://127.0.0.1:{worker_port}/metrics")
        assert status == 200 and b"wirewatch_articles_enriched_total 2.0" in metrics
        assert http_get(f"http://127.0.0.1:{worker_port}/health")[0] == 200
        assert http_get(f"http://127.0.0.1:{poller_port}/ready")[0] == 200
        status, poller_metrics = http_get(f"http://127.0.0.1:{poller_port}/metrics")
        assert b'wirewatch_fetch_errors_total{kind="parse"}' in poller_metrics
        assert b'wirewatch_articles_published_total{kind="new"} 2.0' in poller_metrics
    finally:
        codes = [stop(process) for process in processes]
        feeds.close()
        hook.close()
    assert codes == [0, 0], f"exit codes {codes}; logs in {tmp_path}"
    # after all that polling, still exactly one alert
    assert len([v for _, v in topic_values(kafka_settings, "alerts") if v]) == 1


@pytest.mark.timeout(600)  # the demo may take up to its own 300 s
def test_demo_command(tmp_path: Path) -> None:
    env = stack_env(Settings(data_dir=tmp_path), {})
    # nothing allowlisted by the caller: the demo allows its own sample server's address and port, and only that
    del env["WIREWATCH_FETCH_ALLOW_HOSTS"]
    result = cli(env, "demo", "--json", "--timeout", "180", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert summary["articles"] == 6 and summary["alerts"] == 2 and summary["dead_letters"] == 0
    assert summary["entities"] > 10
    # a good run leaves nothing behind: its topics are deleted, its folder (database, logs) removed
    assert summary["database"] is None and list((tmp_path / "demo").iterdir()) == []
