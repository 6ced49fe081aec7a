"""Operations on a real worker: a hung sink or NLP batch turns /health unhealthy (timed), SIGTERM under load drains."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from schemas import Article, EnrichedArticle, encode
from streams import ids
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from tests.conftest import free_port
from tests.e2e.helpers import http_get, stack_env, start, stop, wait_for
from tests.e2e.synthetic import PEOPLE, TOWNS, count, invented_article, produce, produce_articles
from tests.figures import record_figure

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


def enriched_message(i: int) -> tuple[bytes, bytes]:
    """Invented article ``i`` as the enrich agent would publish it, for the storage agent alone."""
    article = invented_article(i, feed="ops")
    return article.id.encode(), encode(EnrichedArticle(article=article, model="test", enriched=datetime.now(tz=UTC)))


def long_article(i: int) -> Article:
    """Invented article ``i`` with a text of ``WIREWATCH_ARTICLE_MAX_CHARS`` (100,000): seconds of spaCy, valid in every way."""
    short = invented_article(i, feed="long")
    paragraph = " ".join(f"{PEOPLE[(i + n) % len(PEOPLE)]} met the council of {TOWNS[n % len(TOWNS)]} about road {n}." for n in range(12))
    text = ((paragraph + "\n\n") * (STUCK_TEXT_CHARS // (len(paragraph) + 2) + 1))[:STUCK_TEXT_CHARS]
    return short.model_copy(update={"text": text, "content_hash": ids.content_hash(text)})


STUCK_SECONDS = 3.0
STUCK_TEXT_CHARS = 100_000  # the default WIREWATCH_ARTICLE_MAX_CHARS: the longest text the poller lets through
ROW = "a stuck agent is visible (WIREWATCH_HEALTH_STUCK_SECONDS=3)"
SIGTERM_ROW = "shutdown is clean (SIGTERM under load)"


def seconds_to_503(port: int, agent: str, since: float, processes: list[subprocess.Popen[bytes]]) -> tuple[float, dict[str, object]]:
    """Wait for /health to answer 503 naming ``agent``; the seconds since ``since`` and the body.

    The positive signal is the agent named: on a loaded machine the topics behind it may be reported stalled first.
    """
    status, body = wait_for(
        f"/health to name {agent}", lambda: (h := health(port))[0] == 503 and agent in h[1]["stuck"] and h, 120, 0.1, processes=processes
    )
    elapsed = time.monotonic() - since
    assert status == 503 and agent in body["stuck"], body
    return elapsed, body


@pytest.mark.timeout(900)  # waits of up to 180 + 120 + 60 + 120 + 60 s, the stop
def test_hung_sink_fails_health_and_the_stream_waits_without_loss(kafka_settings: Settings, tmp_path: Path) -> None:
    asyncio.run(ensure_topics(kafka_settings))
    port = free_port()
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(port), "WIREWATCH_HEALTH_STUCK_SECONDS": str(STUCK_SECONDS)})
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
            # straight to the enriched topic: the storage agent takes them within its batch window and hangs
            produce(kafka_settings, "enriched", [enriched_message(i) for i in range(5, 25)])
            hung = time.monotonic()
            elapsed, body = seconds_to_503(port, "store_enriched", hung, [worker])
            record_figure(ROW, "hung sink: /health 503 after the enriched articles were in Kafka", elapsed, "s")
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


@pytest.mark.timeout(900)  # waits of up to 180 + 120 + 600 + 60 s, the stop
def test_hung_nlp_batch_fails_health_and_recovers_when_it_ends(kafka_settings: Settings, tmp_path: Path) -> None:
    asyncio.run(ensure_topics(kafka_settings))
    port = free_port()
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(port), "WIREWATCH_HEALTH_STUCK_SECONDS": str(STUCK_SECONDS)})
    worker = start("worker", env, tmp_path / "worker.log")
    db = kafka_settings.sqlite_path
    # two of the longest texts (one batch): about ten seconds of spaCy each on the development machine, several
    # times the stuck time, where a full batch of 16 held the suite for three minutes
    batch = min(2, kafka_settings.enrich_batch_size)
    try:
        produce_articles(kafka_settings, [invented_article(0, feed="long")])
        wait_for("the first article stored (the model loaded)", lambda: count(db, "SELECT count(*) FROM articles") == 1, 180,
                 processes=[worker])  # fmt: skip
        assert health(port)[0] == 200
        # one NLP batch of the longest texts the poller lets through: spaCy works on it for many times the stuck time
        produce_articles(kafka_settings, [long_article(i) for i in range(1, batch + 1)])
        hung = time.monotonic()
        elapsed, body = seconds_to_503(port, "enrich", hung, [worker])
        record_figure(ROW, f"hung NLP batch ({batch} articles of {STUCK_TEXT_CHARS:,} characters): /health 503 after they were in Kafka",
                      elapsed, "s")  # fmt: skip
        wait_for(f"all {batch + 1} articles stored", lambda: count(db, "SELECT count(*) FROM articles") == batch + 1, 600, 1.0, [worker])
        record_figure(ROW, "hung NLP batch: the batch's NLP took", time.monotonic() - hung, "s")
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
        sigterm = time.monotonic()
        code = stop(worker)
        exit_seconds = time.monotonic() - sigterm
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
    record_figure(SIGTERM_ROW, "articles stored before SIGTERM (of the stream)", f"{stored_before} of {total}")
    record_figure(SIGTERM_ROW, "SIGTERM to exit 0 (the test's grace: 40 s)", exit_seconds, "s")
    record_figure(SIGTERM_ROW, "rows written again after the restart", int((written or 0) - remainder))
