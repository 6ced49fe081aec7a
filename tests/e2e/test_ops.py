"""Operations on a real worker: a hung sink turns /health unhealthy while the stream waits, SIGTERM under load drains."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import orjson
import pytest

from streams.config import Settings
from streams.kafka.admin import ensure_topics
from tests.conftest import free_port
from tests.e2e.helpers import http_get, stack_env, start, stop, wait_for
from tests.e2e.synthetic import count, invented_article, produce_articles

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


def metric(port: int, name: str, labels: str = "") -> float | None:
    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    if status != 200:
        return None
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", body.decode(), re.MULTILINE)
    return float(match.group(1)) if match else None


def health(port: int) -> tuple[int, dict[str, object]]:
    status, body = http_get(f"http://127.0.0.1:{port}/health")
    return status, (orjson.loads(body) if status in (200, 503) else {})


@pytest.mark.timeout(900)  # waits of up to 180 + 120 + 60 + 120 + 60 s, the stop
def test_hung_sink_fails_health_and_the_stream_waits_without_loss(kafka_settings: Settings, tmp_path: Path) -> None:
    asyncio.run(ensure_topics(kafka_settings))
    port = free_port()
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(port), "WIREWATCH_HEALTH_STUCK_SECONDS": "3"})
    worker = start("worker", env, tmp_path / "worker.log")
    db = kafka_settings.sqlite_path
    try:
        produce_articles(kafka_settings, [invented_article(i) for i in range(5)])
        wait_for("the first 5 articles stored", lambda: count(db, "SELECT count(*) FROM articles") == 5, 180, processes=[worker])
        assert health(port)[0] == 200
        # Hold the database's write lock: the storage agent hangs inside its write, as with a stuck database.
        lock = sqlite3.connect(db, timeout=10, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            produce_articles(kafka_settings, [invented_article(i) for i in range(5, 25)])
            # the positive signal is the agent named: on a loaded machine the topics behind it may be reported stalled first
            status, body = wait_for(
                "/health to name the hung agent",
                lambda: (h := health(port))[0] == 503 and "store_enriched" in h[1]["stuck"] and h,
                120,
                processes=[worker],
            )
            assert status == 503 and "store_enriched" in body["stuck"], body
            # the stream waits: the enriched articles stay in Kafka, uncommitted, instead of piling up in memory
            assert wait_for("lag on the enriched topic", lambda: (metric(port, "wirewatch_consumer_lag",
                            f'{{topic="{kafka_settings.topic("enriched")}"}}') or 0) > 0, 60)  # fmt: skip
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        wait_for("all 25 articles stored", lambda: count(db, "SELECT count(*) FROM articles") == 25, 120, processes=[worker])
        wait_for("/health back to 200", lambda: health(port)[0] == 200, 60, processes=[worker])
    finally:
        code = stop(worker)
    assert code == 0


@pytest.mark.timeout(1200)  # waits of up to 240 + 300 + 30 s, two workers stopped
def test_sigterm_under_load_drains_commits_and_exits_zero(kafka_settings: Settings, tmp_path: Path) -> None:
    total = 400
    asyncio.run(ensure_topics(kafka_settings))
    port = free_port()
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(port)})
    produce_articles(kafka_settings, [invented_article(i) for i in range(total)])
    db = kafka_settings.sqlite_path
    worker = start("worker", env, tmp_path / "worker-1.log")
    try:
        wait_for("some articles stored", lambda: count(db, "SELECT count(*) FROM articles") >= 40, 240, processes=[worker])
    finally:
        code = stop(worker)
    assert code == 0, "SIGTERM must exit 0 within the grace period"
    assert "sink closed" in (tmp_path / "worker-1.log").read_text()  # after draining and committing, the database was closed
    stored_before = count(db, "SELECT count(*) FROM articles")
    assert 40 <= stored_before < total, "the test must stop the worker mid-stream"

    worker = start("worker", env, tmp_path / "worker-2.log")
    try:
        wait_for(f"all {total} articles stored", lambda: count(db, "SELECT count(*) FROM articles") == total, 300, processes=[worker])
        # nothing written before the shutdown is written again: the restarted worker stores exactly the rest
        remainder = total - stored_before
        wait_for(
            "the restarted worker's row counter",
            lambda: (metric(port, "wirewatch_sink_rows_total", '{table="articles"}') or 0) >= remainder,
            30,
        )
        written = metric(port, "wirewatch_sink_rows_total", '{table="articles"}')
    finally:
        code = stop(worker)
    assert code == 0
    assert count(db, "SELECT count(*) FROM (SELECT article_id, entity_id FROM mentions GROUP BY 1, 2 HAVING count(*) > 1)") == 0
    # exactly the rest: the drained worker's last commit covered everything it stored, and the restarted worker
    # processed nothing twice while its tables recovered (streams.kafka.transport.ReliableConsumer)
    assert written == remainder, f"{written} rows written after restart, {remainder} expected"
