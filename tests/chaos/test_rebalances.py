"""Two workers in one group on 8 partitions, the second started and stopped five times during a stream: nothing lost.

RELIABILITY.md: "rebalances lose nothing: 2 workers, 8 partitions; start/stop the second worker 5 times during the
stream; 0 lost, 0 duplicate rows". Each start and each stop moves partitions between the two workers; an article
whose batch was in flight when its partition moved is enriched again by the new owner (at least once, idempotent
sinks), and the test counts those per article id on the enriched topic. WIREWATCH_CHAOS_ARTICLES sets the count
(2,000 by default; ``make chaos`` runs 20,000).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import orjson
import pytest

from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.client import read_topic
from tests.conftest import free_port
from tests.e2e.helpers import committed_to_end, stack_env, start, stop, wait_for
from tests.e2e.synthetic import PacedProducer, count, invented_article
from tests.e2e.test_ops import metric
from tests.figures import record_figure

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.kafka]

N = int(os.environ.get("WIREWATCH_CHAOS_ARTICLES", "2000"))
CYCLES = 5
CYCLE_SECONDS = 40.0  # about one run of the second worker on a loaded two-core machine: start, join, enrich, stop
ROW = "rebalances lose nothing (second worker started and stopped 5 times)"
#: the worker's consumer group reads these; every one committed to its end means nothing is left to process
TOPICS = ("articles", "enriched", "mentions", "events", "eventgroups", "alerts")


def enriched_per_id(settings: Settings) -> Counter[str]:
    async def collect() -> Counter[str]:
        return Counter([orjson.loads(value)["article"]["id"] async for _, value in read_topic(settings, "enriched") if value])

    return asyncio.run(collect())


@pytest.mark.timeout(3600)  # five cycles of waits of up to 300 s, the rest of the stream, the stops
def test_second_worker_started_and_stopped_five_times_loses_nothing(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = kafka_settings.model_copy(update={"partitions": 8})
    asyncio.run(ensure_topics(settings))
    articles = [invented_article(i, feed="rebalance") for i in range(N)]
    messages = [(a.id.encode(), a.model_dump_json().encode()) for a in articles]
    # A stream, not a backlog: paced so the five runs of the second worker fall within it, and its last sixth held
    # back until they are done (a worker processes a backlog of 2,000 in less time than the second takes to start).
    stream = PacedProducer(settings, "articles", messages, N / (CYCLES * CYCLE_SECONDS), hold_at=N - N // (CYCLES + 1))
    ports = {"A": free_port(), "B": free_port()}

    def env(name: str) -> dict[str, str]:
        return stack_env(settings, {"WIREWATCH_PARTITIONS": "8", "WIREWATCH_WEB_PORT": str(ports[name]),
                                    "WIREWATCH_DATA_DIR": str(tmp_path / name), "WIREWATCH_SINK_BATCH_SIZE": "100"})  # fmt: skip

    db = settings.sqlite_path
    rows = lambda: count(db, "SELECT count(*) FROM articles")  # noqa: E731
    by_second = lambda: int(metric(ports["B"], "wirewatch_articles_enriched_total") or 0)  # noqa: E731
    first = start("worker", env("A"), tmp_path / "worker-A.log")
    second: subprocess.Popen[bytes] | None = None
    moved: list[int] = []  # articles the second worker enriched in each of its runs
    try:
        stream.start()
        wait_for("the first worker storing", lambda: rows() > 0, 300, 1.0, [first])
        for cycle in range(1, CYCLES + 1):
            second = start("worker", env("B"), tmp_path / f"worker-B-{cycle}.log")
            # stopped only once it took partitions and enriched some of them: a rebalance each way, mid-stream
            wait_for(f"the second worker enriching (run {cycle})", lambda: by_second() >= 20, 300, processes=[first, second])
            moved.append(by_second())
            code = stop(second)
            assert code == 0, f"the second worker's run {cycle} exited with {code}"
            second = None
        assert stream.sent < N, "the stream must still be running at the last stop"
        stream.release()
        stream.join(600)
        wait_for(f"all {N} articles stored", lambda: rows() == N, 600, processes=[first])
        group = f"{settings.app_prefix}-worker"
        wait_for("every topic committed to its end", lambda: committed_to_end(settings, group, *TOPICS), 120, 1.0, [first])
    finally:
        stream.release()
        if second is not None:
            stop(second)
        assert stop(first) == 0
    enriched = enriched_per_id(settings)
    expected = {a.id for a in articles}
    assert set(enriched) == expected, f"{len(expected - set(enriched))} articles never enriched"
    stored = {row[0] for row in sqlite3.connect(db).execute("SELECT id FROM articles")}
    assert stored == expected
    assert count(db, "SELECT count(*) FROM (SELECT article_id, entity_id FROM mentions GROUP BY 1, 2 HAVING count(*) > 1)") == 0
    twice = sum(1 for n in enriched.values() if n > 1)
    record_figure(ROW, "articles (a stream of about N a second)".replace("N", f"{N / (CYCLES * CYCLE_SECONDS):.0f}"), N)
    record_figure(ROW, "runs of the second worker (each a rebalance in and one out)", CYCLES)
    record_figure(ROW, "articles the second worker enriched, per run", ", ".join(map(str, moved)))
    record_figure(ROW, "articles lost", len(expected - stored))
    record_figure(ROW, "articles enriched more than once (partition moved mid-batch)", twice)
    record_figure(ROW, "share enriched more than once", 100.0 * twice / N, "%")
    record_figure(ROW, "extra enriched messages", sum(enriched.values()) - N)
