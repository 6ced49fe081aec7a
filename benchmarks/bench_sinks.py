"""Sink throughput against a bare ``executemany`` of the same rows, and search latency on 100k stored articles."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import Article, EnrichedArticle, Entity, MentionSpan
from streams import ids
from streams.store.base import Sink
from streams.store.migrations import migrations, split_statements
from streams.store.postgres import PostgresSink
from streams.store.queries import SearchQuery
from streams.store.rows import article_row, entity_rows, mention_row
from streams.store.sqlite import SQLiteSink

ROOT = Path(__file__).resolve().parent.parent
BBC = ROOT.parent / "shared" / "data" / "articles" / "bbc-news" / "bbc"
TYPES = ("PERSON", "ORG", "GPE", "NORP", "EVENT")
NAME = re.compile(r"\b[A-Z][a-z]{3,}(?: [A-Z][a-z]{3,})?\b")
QUERIES = ["Blair", "economy growth", "film awards", "Chelsea", "Microsoft", "election campaign", "oil prices", "mobile phone",
           "interest rates", "music", "Brown budget", "Oscar", "broadband", "World Cup", "shares", "court"]  # fmt: skip
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def bbc_texts() -> list[tuple[str, str]]:
    """(title, body) of every BBC News article, read at run time from the shared data (never copied)."""
    out = []
    for path in sorted(BBC.rglob("*.txt")):
        lines = path.read_bytes().decode("utf-8", "replace").strip().splitlines()
        if len(lines) > 1:
            out.append((lines[0].strip(), "\n".join(lines[1:]).strip()))
    return out


def synthetic(texts: list[tuple[str, str]], count: int, entities_per_article: int = 5) -> list[EnrichedArticle]:
    """``count`` enriched articles made from the BBC texts (repeated with distinct ids), names taken from each text."""
    items = []
    for i in range(count):
        title, body = texts[i % len(texts)]
        url = f"http://bench.invalid/{i}"
        names = list(dict.fromkeys(NAME.findall(body)))[:entities_per_article]
        fetched = NOW - timedelta(minutes=i % (60 * 24 * 60))  # spread over 60 days
        article = Article(id=ids.stable_id("bench", str(i)), feed_id="bench", feed_url="http://bench.invalid/feed", url=url,
                          canonical_url=url, title=f"{title} ({i})", text=body, published=fetched, fetched=fetched,
                          content_hash=ids.content_hash(body))  # fmt: skip
        entities = [
            Entity(id=ids.entity_id(name, TYPES[n % len(TYPES)]), name=name, type=TYPES[n % len(TYPES)],
                   mentions=[MentionSpan(start=body.index(name), end=body.index(name) + len(name), text=name)])
            for n, name in enumerate(names)
        ]  # fmt: skip
        items.append(EnrichedArticle(article=article, entities=entities, model="bench", enriched=fetched))
    return items


def row_count(items: list[EnrichedArticle]) -> int:
    """Rows one write of ``items`` puts in the database: articles, entities (first sight) and mentions."""
    return len(items) + len({e.id for i in items for e in i.entities}) + sum(len(i.entities) for i in items)


def batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[n : n + size] for n in range(0, len(items), size)]


# ---------------------------------------------------------------- SQLite


def sqlite_bare(path: Path, items: list[EnrichedArticle], size: int) -> float:
    """Plain executemany of the same rows, one transaction per batch; returns seconds."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for migration in migrations("sqlite"):
        for statement in split_statements(migration):
            conn.execute(statement)
    rows = [([article_row(i) for i in b], entity_rows(b), [mention_row(i, e) for i in b for e in i.entities]) for b in batches(items, size)]
    started = time.perf_counter()
    for articles, entities, mentions in rows:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", articles)
        conn.executemany("INSERT OR IGNORE INTO entities VALUES (?,?,?,?)", entities)
        conn.executemany("INSERT INTO mentions VALUES (?,?,?,?,?,?,?,?)", mentions)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def sink_writes(sink: Sink, items: list[EnrichedArticle], size: int) -> float:
    """The sink's own batched writes (row building, revision check, upserts); returns seconds."""
    started = time.perf_counter()
    for batch in batches(items, size):
        await sink.write_enriched(batch)
    return time.perf_counter() - started


async def latencies(sink: Sink, queries: list[SearchQuery]) -> list[float]:
    out = []
    for query in queries:
        started = time.perf_counter()
        await sink.search(query)
        out.append(time.perf_counter() - started)
    return out


def search_queries() -> list[SearchQuery]:
    since = NOW - timedelta(days=7)
    return [SearchQuery(q) for q in QUERIES] + [SearchQuery(q, since=since) for q in QUERIES]


async def bench_sqlite(items: list[EnrichedArticle], corpus: list[EnrichedArticle], size: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        bare_s = min(sqlite_bare(Path(tmp) / f"bare{n}.db", items, size) for n in range(2))
        ours = []
        for n in range(2):
            sink = SQLiteSink(Path(tmp) / f"ours{n}.db")
            await sink.open()
            ours.append(await sink_writes(sink, items, size))
            await sink.close()
        ours_s = min(ours)
        sink = SQLiteSink(Path(tmp) / "corpus.db")
        await sink.open()
        load_s = await sink_writes(sink, corpus, 1000)
        await latencies(sink, search_queries()[:4])  # warm the page cache
        times = await latencies(sink, search_queries() * 3)
        await sink.close()
    rows = row_count(items)
    return {"rows": rows, "bare_rows_s": rows / bare_s, "ours_rows_s": rows / ours_s, "ratio": bare_s / ours_s,
            "articles_s": len(items) / ours_s, "corpus": len(corpus), "corpus_load_s": load_s,
            "p50_ms": statistics.median(times) * 1000, "p95_ms": sorted(times)[int(len(times) * 0.95)] * 1000}  # fmt: skip


# ---------------------------------------------------------------- PostgreSQL


def postgres_url() -> str | None:
    url = os.environ.get("WIREWATCH_TEST_DATABASE_URL") or os.environ.get("WIREWATCH_DATABASE_URL")
    if url:
        return url
    try:
        result = subprocess.run(["bash", str(ROOT / "deploy" / "postgres" / "pg.sh"), "url"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


async def in_schema(url: str, work: Callable[[str], Awaitable[Any]]) -> Any:
    """Run ``work(url_of_a_fresh_schema)`` and drop the schema afterwards."""
    import asyncpg

    schema = f"bench{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        return await work(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def postgres_bare(url: str, items: list[EnrichedArticle], size: int) -> float:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for migration in migrations("postgres"):
            await conn.execute(migration)
        rows = [
            ([(*article_row(i)[:8], i.article.published, i.article.fetched, *article_row(i)[10:13], i.enriched) for i in b],
             entity_rows(b),
             [(*mention_row(i, e)[:6], i.article.published, i.article.fetched) for i in b for e in i.entities])
            for b in batches(items, size)
        ]  # fmt: skip
        started = time.perf_counter()
        for articles, entities, mentions in rows:
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO articles (id, feed_id, url, canonical_url, title, summary, text, authors, published, fetched, language, content_hash, revision, enriched) VALUES ($1,$2,$3,$4,$5,$6,$7,$8::jsonb,$9,$10,$11,$12,$13,$14)",
                    articles,
                )
                await conn.executemany("INSERT INTO entities VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING", entities)
                await conn.executemany("INSERT INTO mentions VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7,$8)", mentions)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def postgres_sink(url: str, items: list[EnrichedArticle], size: int) -> float:
    sink = PostgresSink(url)
    await sink.open()
    try:
        return await sink_writes(sink, items, size)
    finally:
        await sink.close()


async def postgres_search(url: str, corpus: list[EnrichedArticle]) -> tuple[float, list[float]]:
    sink = PostgresSink(url)
    await sink.open()
    try:
        load_s = await sink_writes(sink, corpus, 1000)
        async with sink._pool.acquire() as conn:  # noqa: SLF001 - fresh statistics, as autovacuum would give a live database
            await conn.execute("ANALYZE")
        await latencies(sink, search_queries()[:4])
        return load_s, await latencies(sink, search_queries() * 3)
    finally:
        await sink.close()


async def bench_postgres(url: str, items: list[EnrichedArticle], corpus: list[EnrichedArticle], size: int) -> dict[str, float]:
    bare_s = min([await in_schema(url, lambda u: postgres_bare(u, items, size)) for _ in range(2)])
    ours_s = min([await in_schema(url, lambda u: postgres_sink(u, items, size)) for _ in range(2)])
    load_s, times = await in_schema(url, lambda u: postgres_search(u, corpus))
    rows = row_count(items)
    return {"rows": rows, "bare_rows_s": rows / bare_s, "ours_rows_s": rows / ours_s, "ratio": bare_s / ours_s,
            "articles_s": len(items) / ours_s, "corpus": len(corpus), "corpus_load_s": load_s,
            "p50_ms": statistics.median(times) * 1000, "p95_ms": sorted(times)[int(len(times) * 0.95)] * 1000}  # fmt: skip


def bench_sinks(articles: int = 5000, corpus_size: int | None = None, batch: int = 200) -> dict[str, dict[str, float] | None]:
    """Both backends: throughput of ``articles`` enriched articles in batches of ``batch``, search p50 on the corpus."""
    corpus_size = corpus_size or int(os.environ.get("WIREWATCH_BENCH_SEARCH_ARTICLES", "100000"))
    texts = bbc_texts()
    items = synthetic(texts, articles)
    corpus = synthetic(texts, corpus_size, entities_per_article=2)
    result: dict[str, dict[str, float] | None] = {"sqlite": asyncio.run(bench_sqlite(items, corpus, batch)), "postgres": None}
    url = postgres_url()
    if url:
        try:
            result["postgres"] = asyncio.run(bench_postgres(url, items, corpus, batch))
        except OSError as exc:
            print(f"  PostgreSQL at {url} not reachable ({exc}); start it with `make postgres`")
    return result


def describe(result: dict[str, dict[str, float] | None]) -> str:
    """The paragraph ``make bench`` writes into docs/benchmarks.md."""
    parts = []
    for name, figures in (("SQLite", result["sqlite"]), ("PostgreSQL", result["postgres"])):
        if figures is None:
            parts.append(f"{name}: not measured (no database reachable).")
            continue
        parts.append(
            f"{name}: {figures['ours_rows_s']:.0f} rows/s ({figures['articles_s']:.0f} articles/s) through the sink vs "
            f"{figures['bare_rows_s']:.0f} rows/s bare, ratio **{figures['ratio']:.2f}** (target ≥ 0.8); search over "
            f"{figures['corpus']:.0f} stored articles **p50 {figures['p50_ms']:.1f} ms**, p95 {figures['p95_ms']:.1f} ms "
            f"(target p50 ≤ 50 ms; corpus loaded through the sink in {figures['corpus_load_s']:.0f} s)."
        )
    return (
        "Sinks (`benchmarks/bench_sinks.py`): 5,000 enriched articles built from the BBC texts (5 entities each; article, "
        "entity and mention rows counted) written in batches of 200 by the sink (revision check, upserts, mention "
        "replacement) against a bare `executemany` of the same pre-built rows into the same schema, one transaction per "
        "batch; search = `wirewatch search` queries (16 terms, with and without `--since 7d`, limit 20, 96 runs) over "
        "synthetic articles made from the BBC texts. " + " ".join(parts)
    )


if __name__ == "__main__":
    figures = bench_sinks(corpus_size=int(os.environ.get("WIREWATCH_BENCH_SEARCH_ARTICLES", "100000")))
    print(describe(figures))
