"""Storage sinks against a real SQLite file and the local PostgreSQL: idempotent, newest revision wins."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import Alert, EnrichedArticle
from streams.store.base import Sink
from streams.store.postgres import PostgresSink
from streams.store.sqlite import SQLiteSink
from tests import factories

T = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def enriched(article_id: str, revision: int = 1, title: str = "Title", entity: str = "Ana Lima") -> EnrichedArticle:
    text = f"{entity} spoke in Redmoor."
    item = factories.article(article_id, text, title=title, fetched=T, content_hash=f"h{revision}", revision=revision)
    return factories.enriched(item, factories.entity(entity, id=f"e-{entity}"), enriched=T)


def alert(alert_id: str) -> Alert:
    return Alert(
        id=alert_id,
        rule_id="r",
        kind="new_mention",
        entity_id="e",
        entity_name="Ana Lima",
        article_id="a1",
        title="t",
        url="http://x/",
        feed_id="f",
        sentence="s",
        evidence="s",
        story_id="st",
        fetched=T,
        detected=T,
        latency_seconds=0.1,
    )


async def check_idempotent(sink: Sink) -> None:
    await sink.open()
    try:
        batch = [enriched(f"a{i}") for i in range(50)]
        await sink.write_enriched(batch)
        await sink.write_enriched(batch)  # a replay
        await sink.write_alerts([alert("x1"), alert("x2")])
        await sink.write_alerts([alert("x1")])
        # a later copy of the story: same alert id, more sources; an older copy arriving late changes nothing
        await sink.write_alerts([alert("x2").model_copy(update={"source_count": 3, "update": True})])
        await sink.write_alerts([alert("x2").model_copy(update={"source_count": 2, "update": True})])
        counts = await sink.counts()
        assert counts == {"articles": 50, "entities": 1, "mentions": 50, "events": 0, "alerts": 2}
        # a newer revision replaces the article and its mentions; an older one arriving late changes nothing
        await sink.write_enriched([enriched("a0", revision=2, title="Edited", entity="Ben Okri")])
        await sink.write_enriched([enriched("a0", revision=1, title="Stale")])
        # two revisions in one batch: the newest is kept
        await sink.write_enriched([enriched("a1", revision=3, title="Third"), enriched("a1", revision=2, title="Second")])
        counts = await sink.counts()
        assert counts["articles"] == 50 and counts["mentions"] == 50 and counts["entities"] == 2
    finally:
        await sink.close()


async def test_sqlite_sink_is_idempotent(tmp_path: Path) -> None:
    sink = SQLiteSink(tmp_path / "w.db")
    await check_idempotent(sink)
    import sqlite3

    conn = sqlite3.connect(tmp_path / "w.db")
    assert conn.execute("SELECT title, revision FROM articles WHERE id='a0'").fetchone() == ("Edited", 2)
    assert conn.execute("SELECT title FROM articles WHERE id='a1'").fetchone() == ("Third",)
    assert conn.execute("SELECT json_extract(body, '$.source_count') FROM alerts WHERE id='x2'").fetchone() == (3,)
    assert conn.execute("SELECT name FROM mentions WHERE article_id='a0'").fetchall() == [("Ben Okri",)]
    # full-text search follows the upserts
    assert conn.execute("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'Edited'").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'Stale'").fetchone() == (0,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_sqlite_concurrent_writers(tmp_path: Path) -> None:
    sinks = [SQLiteSink(tmp_path / "w.db") for _ in range(4)]
    for sink in sinks:
        await sink.open()
    try:
        await asyncio.gather(*(sink.write_enriched([enriched(f"w{n}-{i}") for i in range(100)]) for n, sink in enumerate(sinks)))
        assert (await sinks[0].counts())["articles"] == 400
    finally:
        for sink in sinks:
            await sink.close()


@pytest.mark.postgres
async def test_postgres_sink_is_idempotent(postgres_url: str) -> None:
    import asyncpg

    schema = f"t{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        sink = PostgresSink(f"{postgres_url}?options=-csearch_path%3D{schema}")
        await check_idempotent(sink)
        row = await admin.fetchrow(f"SELECT title, revision FROM {schema}.articles WHERE id='a0'")
        assert (row["title"], row["revision"]) == ("Edited", 2)
        assert await admin.fetchval(f"SELECT (body->>'source_count')::int FROM {schema}.alerts WHERE id='x2'") == 3
        hits = await admin.fetchval(f"SELECT count(*) FROM {schema}.articles WHERE search @@ plainto_tsquery('simple', 'Edited')")
        assert hits == 1
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
