"""Storage sinks against a real SQLite file and the local PostgreSQL: idempotent, newest revision wins."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import Alert, EnrichedArticle, Story
from streams.store.base import Sink
from streams.store.postgres import PostgresSink
from streams.store.queries import SearchQuery
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
        # an earlier article of the story reached the alert agent late: the update quoting it, as many sources, replaces it
        first = alert("x1")
        earlier = (first.published or first.fetched) - timedelta(hours=1)
        await sink.write_alerts(
            [first.model_copy(update={"article_id": "a0", "evidence": "earlier", "update": True, "published": earlier})]
        )
        # a replay meets the copies in another order: the alert quoting the later copy, as many sources, changes nothing
        await sink.write_alerts([first.model_copy(update={"evidence": "later copy"})])
        stored = {a.id: a for a in await sink.recent_alerts()}
        assert (stored["x1"].article_id, stored["x1"].evidence) == ("a0", "earlier") and stored["x2"].source_count == 3
        # the same alert again (a replay under new groups raises it anew, detected later): the stored row stays as it was
        later = stored["x2"].detected + timedelta(hours=1)
        await sink.write_alerts([stored["x2"].model_copy(update={"detected": later, "latency_seconds": 99.0})])
        again = {a.id: a for a in await sink.recent_alerts()}
        assert again["x2"].detected == stored["x2"].detected and again["x2"].latency_seconds == stored["x2"].latency_seconds
        counts = await sink.counts()
        assert counts == {"articles": 50, "entities": 1, "mentions": 50, "events": 0, "alerts": 2, "stories": 0}
        # a newer revision replaces the article and its mentions; an older one arriving late changes nothing
        await sink.write_enriched([enriched("a0", revision=2, title="Edited", entity="Ben Okri")])
        await sink.write_enriched([enriched("a0", revision=1, title="Stale")])
        # two revisions in one batch: the newest is kept
        await sink.write_enriched([enriched("a1", revision=3, title="Third"), enriched("a1", revision=2, title="Second")])
        counts = await sink.counts()
        assert counts["articles"] == 50 and counts["mentions"] == 50 and counts["entities"] == 2
    finally:
        await sink.close()


def story(article_count: int, headline: str = "Floodgates opened at the Elkhorn dam") -> Story:
    return Story(id="story-1", headline=headline, url="http://x/a1", article_id="a1", first_seen=T, last_seen=T + timedelta(hours=1),
                 article_count=article_count, source_count=article_count, sources=[f"s{n}.example" for n in range(article_count)],
                 lifecycle="growing", velocity=article_count, per_hour=[0] * 23 + [article_count])  # fmt: skip


async def check_stories(sink: Sink) -> None:
    """Stories upsert (a replayed older state is ignored), the articles of a story, search hits carry their story."""
    await sink.open()
    try:
        items = [enriched(f"s{n}", title=f"Elkhorn dam report {n}").model_copy(update={"story_id": "story-1"}) for n in range(3)]
        await sink.write_enriched(items)
        await sink.write_enriched([enriched("other", title="Harbour closed").model_copy(update={"story_id": "story-2"})])
        await sink.write_stories([story(2), story(3, "Elkhorn dam releases water")])
        await sink.write_stories([story(2, "Stale")])  # an older state, replayed: ignored
        assert (await sink.counts())["stories"] == 1
        recent = await sink.recent_stories(T)
        assert [(s.id, s.article_count, s.headline) for s in recent] == [("story-1", 3, "Elkhorn dam releases water")]
        assert await sink.recent_stories(T + timedelta(hours=2)) == []
        found = await sink.story("story-")  # a unique prefix is enough
        assert found is not None and found[0].id == "story-1"
        assert [row.article_id for row in found[1]] == ["s0", "s1", "s2"] and found[1][0].source == "x"
        assert await sink.story("nothing") is None
        hits = await sink.search(SearchQuery("Elkhorn"))
        assert {hit.story_id for hit in hits} == {"story-1"} and len(hits) == 3
    finally:
        await sink.close()


async def test_sqlite_stories(tmp_path: Path) -> None:
    await check_stories(SQLiteSink(tmp_path / "w.db"))


@pytest.mark.postgres
async def test_postgres_stories(postgres_url: str) -> None:
    import asyncpg

    schema = f"t{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        await check_stories(PostgresSink(f"{postgres_url}?options=-csearch_path%3D{schema}"))
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


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
