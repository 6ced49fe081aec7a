"""The PostgreSQL backend: an asyncpg pool, ``tsvector`` search, migrations tracked in ``wirewatch_migrations``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas import Alert, EnrichedArticle, Story
from streams.enrich.fingerprint import source_of
from streams.errors import SinkUnavailable
from streams.store.base import Sink
from streams.store.migrations import migrations
from streams.store.queries import (
    MAX_NAMES,
    EntityReport,
    EntitySummary,
    SearchHit,
    SearchQuery,
    StoredWindow,
    StoryArticleRow,
    Trend,
    hour_buckets,
    query_words,
    stored_article,
    trends,
)
from streams.store.rows import (
    TABLES,
    alert_row,
    article_row,
    entity_rows,
    event_rows,
    iso,
    mention_row,
    newer_than_stored,
    story_article_rows,
    story_row,
    without_nul,
)
from streams.store.search import Candidate, SearchRun, pg_tsquery
from streams.store.sqlite import UPDATE_ARTICLE

POSTGRES_UPSERT_ARTICLE = (
    """INSERT INTO articles (id, feed_id, url, canonical_url, title, summary, text, authors, published, fetched, language,
         content_hash, revision, enriched) VALUES ($1,$2,$3,$4,$5,$6,$7,$8::jsonb,$9,$10,$11,$12,$13,$14) """  # noqa: S608
    + UPDATE_ARTICLE
)


class PostgresSink(Sink):
    """PostgreSQL through an asyncpg pool; migrations tracked in ``wirewatch_migrations``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: Any = None

    async def open(self) -> None:
        try:
            import asyncpg
        except ImportError as exc:  # pragma: no cover - asyncpg is a hard dependency today
            raise RuntimeError("PostgreSQL storage needs asyncpg: .venv/bin/pip install asyncpg") from exc
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(7231)")  # one migrator at a time
            await conn.execute("CREATE TABLE IF NOT EXISTS wirewatch_migrations (version INTEGER PRIMARY KEY)")
            done = await conn.fetchval("SELECT coalesce(max(version), 0) FROM wirewatch_migrations")
            for number, migration in enumerate(migrations("postgres")[done:], start=done + 1):
                await conn.execute(migration)
                await conn.execute("INSERT INTO wirewatch_migrations VALUES ($1)", number)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _write(self, fn: Any, batch: list[Any]) -> None:
        import asyncpg

        try:
            await fn(batch)
        except (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise SinkUnavailable(f"PostgreSQL: {type(exc).__name__}: {exc}", retry_after=2.0) from exc

    async def write_enriched(self, batch: list[EnrichedArticle]) -> None:
        if batch:
            await self._write(self._write_enriched, [without_nul(item) for item in batch])

    async def _write_enriched(self, batch: list[EnrichedArticle]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch("SELECT id, revision FROM articles WHERE id = ANY($1::text[])", [item.article.id for item in batch])
            stored = {row[0]: row[1] for row in rows}
            await conn.executemany(
                "INSERT INTO story_articles VALUES ($1,$2) ON CONFLICT (article_id) DO UPDATE SET story_id = excluded.story_id",
                story_article_rows(batch),
            )
            todo = newer_than_stored(batch, stored)
            if not todo:
                return
            await conn.executemany(
                POSTGRES_UPSERT_ARTICLE,
                [(*row[:8], a.published, a.fetched, *row[10:13], i.enriched) for i in todo for a, row in [(i.article, article_row(i))]],
            )
            replaced = [item.article.id for item in todo if item.article.id in stored]
            if replaced:  # a new revision replaces the article's mentions and events; a first revision has none
                await conn.execute("DELETE FROM mentions WHERE article_id = ANY($1::text[])", replaced)
                await conn.execute("DELETE FROM events WHERE article_id = ANY($1::text[])", replaced)
            await conn.executemany("INSERT INTO entities VALUES ($1,$2,$3,$4) ON CONFLICT (id) DO NOTHING", entity_rows(todo))
            await conn.executemany(
                "INSERT INTO mentions VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7,$8) ON CONFLICT (id) DO UPDATE SET spans = excluded.spans",
                [(*mention_row(i, e)[:6], i.article.published, i.article.fetched) for i in todo for e in i.entities],
            )
            await conn.executemany(
                "INSERT INTO events VALUES ($1,$2,$3,$4::jsonb) ON CONFLICT (id) DO UPDATE SET body = excluded.body", event_rows(todo)
            )

    async def write_alerts(self, batch: list[Alert]) -> None:
        if batch:
            await self._write(self._write_alerts, [without_nul(alert) for alert in batch])

    async def _write_alerts(self, batch: list[Alert]) -> None:
        async with self._pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO alerts VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10::jsonb) ON CONFLICT (id) DO UPDATE SET"
                " article_id = excluded.article_id, title = excluded.title, url = excluded.url, sentence = excluded.sentence,"
                " body = excluded.body"
                # as in the SQLite sink: more sources, or as many and an earlier article of the story quoted
                " WHERE (excluded.body->>'source_count')::int > (alerts.body->>'source_count')::int"
                " OR ((excluded.body->>'source_count')::int = (alerts.body->>'source_count')::int"
                " AND (coalesce(excluded.body->>'published', excluded.body->>'fetched'), excluded.article_id)"
                " < (coalesce(alerts.body->>'published', alerts.body->>'fetched'), alerts.article_id))",
                [(*alert_row(alert)[:8], alert.detected, alert_row(alert)[9]) for alert in batch],
            )

    async def write_stories(self, batch: list[Story]) -> None:
        if batch:
            await self._write(self._write_stories, [without_nul(story) for story in batch])

    async def _write_stories(self, batch: list[Story]) -> None:
        async with self._pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO stories VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9::jsonb) ON CONFLICT (id) DO UPDATE SET"
                " headline = excluded.headline, url = excluded.url, first_seen = excluded.first_seen, last_seen = excluded.last_seen,"
                " article_count = excluded.article_count, source_count = excluded.source_count, lifecycle = excluded.lifecycle,"
                " body = excluded.body WHERE excluded.article_count >= stories.article_count",
                [(*row[:3], story.first_seen, story.last_seen, *row[5:]) for story in batch for row in [story_row(story)]],
            )

    async def recent_stories(self, since: datetime, limit: int = 20) -> list[Story]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT body FROM stories WHERE last_seen >= $1 ORDER BY article_count DESC, last_seen DESC, id LIMIT $2", since, limit
            )
        return [Story.model_validate_json(row[0]) for row in rows]

    async def story(self, story_id: str, limit: int = 200) -> tuple[Story, list[StoryArticleRow]] | None:
        async with self._pool.acquire() as conn:
            found = await conn.fetch("SELECT id, body FROM stories WHERE id = $1 OR starts_with(id, $1) ORDER BY id LIMIT 2", story_id)
            exact = [row for row in found if row[0] == story_id]
            if not (exact or len(found) == 1):
                return None
            story = Story.model_validate_json((exact or found)[0][1])
            rows = await conn.fetch(
                """SELECT a.id, a.title, a.url, a.feed_id, coalesce(a.published, a.fetched) AS time FROM story_articles s
                   JOIN articles a ON a.id = s.article_id WHERE s.story_id = $1 ORDER BY time, a.id LIMIT $2""",
                story.id,
                limit,
            )
        return story, [StoryArticleRow(r[0], r[1], r[2], r[3], source_of(r[2]) or r[3], str(iso(r[4]))) for r in rows]

    async def counts(self) -> dict[str, int]:
        async with self._pool.acquire() as conn:
            return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}  # noqa: S608

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        run = SearchRun(query)
        match = pg_tsquery(run.node)
        # the index narrows (an article stored without text is matched on its summary, which the index does not hold)
        # (a union of two indexed look-ups, the GIN index and the partial index of text-less articles)
        narrow = (
            "a.id IN (SELECT id FROM articles WHERE search @@ to_tsquery('simple', $5) UNION ALL SELECT id FROM articles WHERE text = '')"
            if match
            else "$5::text IS NULL"
        )
        offset = 0
        async with self._pool.acquire() as conn:
            while not run.done:
                page = run.page(offset)
                rows = await conn.fetch(
                    f"""SELECT a.id, a.title, a.url, a.feed_id, a.published, a.fetched, a.summary, a.text, a.language,
                               (SELECT s.story_id FROM story_articles s WHERE s.article_id = a.id)
                        FROM articles a
                        WHERE {narrow}
                          AND ($1::timestamptz IS NULL OR coalesce(a.published, a.fetched) >= $1)
                          AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM mentions m WHERE m.article_id = a.id AND m.type = $2))
                        ORDER BY coalesce(a.published, a.fetched) DESC, a.id
                        LIMIT $3 OFFSET $4""",  # noqa: S608 - narrow is one of two fixed strings
                    query.since,
                    query.entity_type,
                    page,
                    offset,
                    match,
                )
                candidates = [Candidate(r[0], r[1], r[2], r[3], iso(r[4]), str(iso(r[5])), r[6], r[7], r[8], r[9]) for r in rows]
                mentions: dict[str, list[tuple[str, str, str, object]]] = {}
                for r in await conn.fetch(
                    "SELECT article_id, entity_id, name, type, spans FROM mentions WHERE article_id = ANY($1::text[])",
                    [row.article_id for row in candidates],
                ):
                    mentions.setdefault(r[0], []).append((r[1], r[2], r[3], r[4]))
                run.add(candidates, mentions)
                if len(rows) < page:
                    break
                offset += page
        return run.hits

    async def entity_report(self, name: str, limit: int = 10) -> EntityReport | None:
        query_words(name)
        async with self._pool.acquire() as conn:
            candidates = [
                EntitySummary(*row)
                for row in await conn.fetch(
                    """SELECT e.id, e.name, e.type, (SELECT count(*) FROM mentions m WHERE m.entity_id = e.id)::int AS n
                       FROM entities e WHERE strpos(lower(e.name), lower($1)) > 0
                       ORDER BY lower(e.name) = lower($1) DESC, n DESC, e.name LIMIT $2""",
                    name.strip(),
                    limit + 1,
                )
            ]
            if not candidates:
                return None
            entity = candidates[0]
            timeline = await conn.fetch(
                """SELECT to_char(coalesce(published, fetched) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*)::int
                   FROM mentions WHERE entity_id = $1 GROUP BY day ORDER BY day""",
                entity.id,
            )
            company = await conn.fetch(
                """SELECT o.entity_id, max(o.name), max(o.type), count(DISTINCT o.article_id)::int AS n
                   FROM mentions m JOIN mentions o ON o.article_id = m.article_id AND o.entity_id != m.entity_id
                   WHERE m.entity_id = $1 GROUP BY o.entity_id ORDER BY n DESC, max(o.name) LIMIT $2""",
                entity.id,
                limit,
            )
            articles = await conn.fetch(
                """SELECT a.id, a.title, a.url, coalesce(a.published, a.fetched) AS time FROM mentions m
                   JOIN articles a ON a.id = m.article_id WHERE m.entity_id = $1 ORDER BY time DESC, a.id LIMIT $2""",
                entity.id,
                limit,
            )
        return EntityReport(
            entity=entity,
            timeline=[(row[0], row[1]) for row in timeline],
            co_mentioned=[EntitySummary(*row) for row in company],
            articles=[{"id": r[0], "title": r[1], "url": r[2], "time": iso(r[3])} for r in articles],
            others=candidates[1:],
        )

    async def recent_alerts(self, limit: int = 20) -> list[Alert]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch("SELECT body FROM alerts ORDER BY detected DESC LIMIT $1", limit)
        return [Alert.model_validate_json(row[0]) for row in rows]

    async def stored_articles(self, since: datetime, until: datetime, names: list[str]) -> StoredWindow:
        names = [n for n in names if n][:MAX_NAMES]
        async with self._pool.acquire() as conn:
            total = await conn.fetchval(
                "SELECT count(*) FROM articles WHERE coalesce(published, fetched) >= $1 AND coalesce(published, fetched) < $2", since, until
            )
            if not names:
                return StoredWindow(total, [])
            # strpos() is case-sensitive, as the gazetteer is: a superset of its whole-word hits, which the caller then finds
            rows = await conn.fetch(
                """SELECT a.id, a.feed_id, a.url, a.canonical_url, a.title, a.summary, a.text, a.authors::text, a.published, a.fetched,
                          a.language, a.content_hash, a.revision, (SELECT s.story_id FROM story_articles s WHERE s.article_id = a.id)
                   FROM articles a WHERE coalesce(a.published, a.fetched) >= $1 AND coalesce(a.published, a.fetched) < $2
                     AND EXISTS (SELECT 1 FROM unnest($3::text[]) AS n(name)
                                 WHERE strpos(a.title, n.name) > 0 OR strpos(a.text, n.name) > 0)
                   ORDER BY coalesce(a.published, a.fetched), a.id""",
                since,
                until,
                names,
            )
        return StoredWindow(total, [stored_article(tuple(row)) for row in rows])

    async def trending(self, now: datetime, hours: int = 24, limit: int = 10) -> list[Trend]:
        buckets = hour_buckets(now, hours)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT entity_id, max(name), max(type), to_char(fetched AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24') AS hour,
                          count(*)::int
                   FROM mentions WHERE fetched >= $1::timestamptz GROUP BY entity_id, hour""",
                datetime.fromisoformat(buckets[0] + ":00:00+00:00"),
            )
        return trends([tuple(row) for row in rows], buckets, limit)
