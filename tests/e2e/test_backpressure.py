"""Backpressure on a real worker: a blocked or slowed database stalls the stream, memory stays bounded, nothing is lost."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from schemas import EnrichedArticle, encode
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from tests.conftest import free_port
from tests.e2e.helpers import rss, stack_env, start, stop, wait_for
from tests.e2e.synthetic import PEOPLE, TOWNS, PacedProducer, count, invented_article, produce
from tests.figures import record_figure

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

ARTICLES = 4000
BODY_BYTES = 40_000
MB = 1024 * 1024


def big_enriched(i: int) -> EnrichedArticle:
    """Invented article ``i`` with a body of about BODY_BYTES, as the enrich agent would publish it."""
    article = invented_article(i, feed="bulk")
    paragraph = " ".join(
        f"{PEOPLE[(i + n) % len(PEOPLE)]} told the council of {TOWNS[(i * 7 + n) % len(TOWNS)]} that road {n} of plan {i} was ready."
        for n in range(8)
    )
    text = (paragraph + "\n\n") * (BODY_BYTES // (len(paragraph) + 2) + 1)
    article = article.model_copy(update={"text": text[:BODY_BYTES]})
    return EnrichedArticle(article=article, model="test", enriched=datetime.now(tz=UTC))


class SQLiteDatabase:
    """The worker's SQLite file; the lock is its write lock, held by this process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env: dict[str, str] = {}
        self._lock: sqlite3.Connection | None = None

    def count(self, query: str) -> int:
        return count(self.path, query)

    def lock(self) -> None:
        self._lock = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        self._lock.execute("BEGIN EXCLUSIVE")

    def count_locked(self, query: str) -> int:
        """A count read through the lock's own transaction."""
        assert self._lock is not None
        return int(self._lock.execute(query).fetchone()[0])

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None


class PostgresDatabase:
    """A schema of its own on the local PostgreSQL; the lock is an ACCESS EXCLUSIVE lock on its articles table."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.schema = f"bp{uuid.uuid4().hex[:8]}"
        self.env = {"WIREWATCH_DATABASE_URL": f"{url}?options=-csearch_path%3D{self.schema}"}
        # the lock's connection lives on a loop of its own, so it stays open between the test's steps
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self._conn: Any = None
        self._run(self._execute(f"CREATE SCHEMA {self.schema}"))

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def execute(self, sql: str) -> None:
        self._run(self._execute(sql))

    def count(self, query: str) -> int:
        async def fetch() -> int:
            conn = await asyncpg.connect(self.url, server_settings={"search_path": self.schema})
            try:
                return int(await conn.fetchval(query))
            except asyncpg.UndefinedTableError:
                return 0  # the worker has not created its tables yet
            finally:
                await conn.close()

        return int(self._run(fetch()))

    def lock(self) -> None:
        async def take() -> None:
            self._conn = await asyncpg.connect(self.url)
            await self._conn.execute(f"BEGIN; LOCK TABLE {self.schema}.articles IN ACCESS EXCLUSIVE MODE")

        self._run(take())

    def count_locked(self, query: str) -> int:
        """A count read through the lock's own transaction (nobody else can read the locked table)."""

        async def fetch() -> int:
            return int(await self._conn.fetchval(query.replace("FROM articles", f"FROM {self.schema}.articles")))

        return int(self._run(fetch()))

    def unlock(self) -> None:
        async def release() -> None:
            if self._conn is not None:
                await self._conn.execute("ROLLBACK")
                await self._conn.close()
                self._conn = None

        self._run(release())

    def close(self) -> None:
        self._run(self._execute(f"DROP SCHEMA {self.schema} CASCADE"))
        self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, kafka_settings: Settings) -> Iterator[SQLiteDatabase | PostgresDatabase]:
    if request.param == "sqlite":
        yield SQLiteDatabase(kafka_settings.sqlite_path)
        return
    postgres = PostgresDatabase(request.getfixturevalue("postgres_url"))
    try:
        yield postgres
    finally:
        postgres.close()


@pytest.mark.timeout(1200)  # 160 MB produced, waits of up to 180 s and 300 s, a 30 s sampling window, the stop
def test_blocked_database_bounds_worker_memory_and_loses_nothing(
    kafka_settings: Settings, database: SQLiteDatabase | PostgresDatabase, tmp_path: Path
) -> None:
    asyncio.run(ensure_topics(kafka_settings))
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(free_port()), **database.env})
    worker = start("worker", env, tmp_path / "worker.log")
    messages = [(a.article.id.encode(), encode(a)) for a in (big_enriched(i) for i in range(ARTICLES))]
    produced_bytes = sum(len(v) for _, v in messages)
    stored = "SELECT count(*) FROM articles"
    try:
        warm = 20
        produce(kafka_settings, "enriched", messages[:warm])
        wait_for("the first articles stored", lambda: database.count(stored) == warm, 180, processes=[worker])
        baseline = peak = rss(worker.pid)
        database.lock()
        try:
            produce(kafka_settings, "enriched", messages[warm:])
            # Sample after the last message is in Kafka. Not a timing threshold: the window only gives an
            # unbounded consumer time to fetch everything (with Faust's defaults it holds the whole backlog within it).
            for _ in range(60):
                peak = max(peak, rss(worker.pid))
                time.sleep(0.5)
            stored_while_locked = database.count_locked(stored)
        finally:
            database.unlock()
        wait_for(f"all {ARTICLES} articles stored", lambda: database.count(stored) == ARTICLES, 300, processes=[worker])
    finally:
        code = stop(worker)
    growth = peak - baseline
    row = f"backpressure holds memory (database locked, {type(database).__name__.removesuffix('Database')})"
    record_figure(row, f"backlog in Kafka ({ARTICLES} articles of {BODY_BYTES // 1000} KB)", round(produced_bytes / MB, 1), "MB")
    record_figure(row, "worker RSS before the backlog", round(baseline / MB, 1), "MB")
    record_figure(row, "growth at the peak (ceiling: a quarter of the backlog)", round(growth / MB, 1), "MB")
    assert stored_while_locked == warm, "the lock must have held the sink while the backlog was produced"
    # exactly once: every article is there, once (the key is the article id), with its whole text
    assert database.count("SELECT count(DISTINCT id) FROM articles") == ARTICLES
    assert database.count(f"SELECT count(*) FROM articles WHERE length(text) = {BODY_BYTES}") == ARTICLES
    assert code == 0
    # the ceiling: a quarter of what was produced (docs/operators.md, "Backpressure"; Faust's defaults grow by the whole backlog)
    assert growth < produced_bytes / 4, f"RSS grew {growth / MB:.1f} MB while {produced_bytes / MB:.1f} MB waited in Kafka"


#: 5,000 in make test (a minute of the suite's half hour), 100,000 in make chaos
SLOW_ARTICLES = int(os.environ.get("WIREWATCH_BACKPRESSURE_ARTICLES", "5000"))
#: rows the slowed sink writes (20 ms each) while memory is sampled, the rest of the backlog waiting in Kafka: a minute
#: at the full figure, a quarter of the articles below 12,000
SLOW_ROWS = min(3000, SLOW_ARTICLES // 4)
SLOW_ROW = "backpressure holds memory (sink slowed to 20 ms a row)"
#: the ceiling of the worker's growth over its RSS before the backlog: docs/operators.md, "Backpressure" gives about
#: (sink batch + stream buffer + poll records) x message size per stream plus partitions x partition fetch, here
#: (200 + 256 + 100) x ~1.5 KB + 8 x 1 MiB, under 10 MB; Python's decoded copies and allocator slack take it to
#: three or four times that, so 64 MB is a bound no backlog-sized growth passes (the backlog is 100,000 x 1.5 KB)
CEILING_MB = 64


def enriched_small(i: int) -> tuple[bytes, bytes]:
    article = invented_article(i, feed="slow")
    return article.id.encode(), encode(EnrichedArticle(article=article, model="test", enriched=datetime.now(tz=UTC)))


@pytest.mark.postgres
@pytest.mark.timeout(3600)  # 100,000 articles in make chaos: production, a slowed minute, then the rest at full speed
def test_sink_slowed_to_20_ms_a_row_plateaus_memory_and_loses_nothing(kafka_settings: Settings, postgres_url: str, tmp_path: Path) -> None:
    # A real slow database: a trigger that sleeps 20 ms in every row written to the articles table (PostgreSQL's
    # pg_sleep; SQLite has no sleep), created once the worker has made its tables, dropped once memory was sampled.
    database = PostgresDatabase(postgres_url)
    try:
        asyncio.run(ensure_topics(kafka_settings))
        env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(free_port()), **database.env})
        worker = start("worker", env, tmp_path / "worker.log")
        messages = [enriched_small(i) for i in range(SLOW_ARTICLES)]
        produced_bytes = sum(len(v) for _, v in messages)
        stored = "SELECT count(*) FROM articles"
        samples: list[int] = []
        try:
            warm = 20
            produce(kafka_settings, "enriched", messages[:warm])
            wait_for("the first articles stored", lambda: database.count(stored) == warm, 180, processes=[worker])
            schema = database.schema
            database.execute(
                f"CREATE FUNCTION {schema}.slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.02); "
                f"RETURN NEW; END $$; CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON {schema}.articles FOR EACH ROW "
                f"EXECUTE FUNCTION {schema}.slow_row()"
            )
            baseline = rss(worker.pid)
            stream = PacedProducer(kafka_settings, "enriched", messages[warm:], rate=1e9).start()  # as fast as Kafka takes them
            target = warm + SLOW_ROWS

            def slowed_enough() -> bool:
                samples.append(rss(worker.pid))
                return stream.sent == len(messages) - warm and database.count(stored) >= target

            wait_for(f"{target} rows through the slowed sink, every article produced", slowed_enough, 1800, 1.0, [worker])
            slow_rows = database.count(stored) - warm
            database.execute(f"DROP TRIGGER slow ON {schema}.articles")
            stream.join(60)
            wait_for(f"all {SLOW_ARTICLES} articles stored", lambda: database.count(stored) == SLOW_ARTICLES, 1800, 1.0, [worker])
        finally:
            code = stop(worker)
        assert code == 0
        assert database.count("SELECT count(DISTINCT id) FROM articles") == SLOW_ARTICLES  # 0 lost
    finally:
        database.close()
    third = max(1, len(samples) // 3)
    early, late = max(samples[:third]), max(samples[-third:])
    peak = max(samples)
    record_figure(SLOW_ROW, "articles produced", SLOW_ARTICLES)
    record_figure(SLOW_ROW, "backlog in Kafka", round(produced_bytes / MB, 1), "MB")
    record_figure(SLOW_ROW, "rows written at 20 ms each while sampled", slow_rows)
    record_figure(SLOW_ROW, "worker RSS before the backlog", round(baseline / MB, 1), "MB")
    record_figure(SLOW_ROW, "worker RSS peak, first third of the samples", round(early / MB, 1), "MB")
    record_figure(SLOW_ROW, "worker RSS peak, last third (the plateau)", round(late / MB, 1), "MB")
    record_figure(SLOW_ROW, "growth at the peak (ceiling 64 MB)", round((peak - baseline) / MB, 1), "MB")
    assert peak - baseline < CEILING_MB * MB, f"RSS grew {(peak - baseline) / MB:.1f} MB with {produced_bytes / MB:.1f} MB waiting"
