"""The SQLite backend: one file in WAL mode with a busy timeout, FTS5 search, writes and reads on threads of their own."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas import Alert, EnrichedArticle, Story
from streams.enrich.fingerprint import source_of
from streams.errors import SinkUnavailable
from streams.store.base import Sink
from streams.store.migrations import migrations, split_statements
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
    mention_row,
    newer_than_stored,
    story_article_rows,
    story_row,
)
from streams.store.search import Candidate, SearchRun, fts5_match

UPDATE_ARTICLE = """ON CONFLICT (id) DO UPDATE SET url=excluded.url, canonical_url=excluded.canonical_url,
    title=excluded.title, summary=excluded.summary, text=excluded.text, authors=excluded.authors,
    published=excluded.published, fetched=excluded.fetched, language=excluded.language,
    content_hash=excluded.content_hash, revision=excluded.revision, enriched=excluded.enriched
  WHERE excluded.revision > articles.revision"""


SQLITE_UPSERT_ARTICLE = "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) " + UPDATE_ARTICLE  # noqa: S608 - constants only


class SQLiteSink(Sink):
    """SQLite in WAL mode with a busy timeout; all calls run on one thread of its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-sink")
        self._conn: sqlite3.Connection | None = None
        # Reads get a connection and thread of their own: in WAL mode they never wait for a write, so the
        # dashboard and queries keep answering while a slow or locked write holds the writer.
        self._read_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._reader: sqlite3.Connection | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, migration in enumerate(migrations("sqlite")[version:], start=version + 1):
            for statement in split_statements(migration):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
        self._conn = conn

    async def _read(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._read_executor, fn, self._reading(), *args)

    def _reading(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._reader.execute("PRAGMA query_only=ON")
        return self._reader

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        if self._reader is not None:
            await asyncio.get_running_loop().run_in_executor(self._read_executor, self._reader.close)
            self._reader = None
        self._executor.shutdown(wait=True)
        self._read_executor.shutdown(wait=True)

    async def _write(self, fn: Any, batch: list[Any]) -> None:
        try:
            await self._run(fn, batch)
        except sqlite3.OperationalError as exc:  # locked past the busy timeout, disk full: the data is fine, retry
            raise SinkUnavailable(f"SQLite {self.path}: {exc}") from exc

    async def write_enriched(self, batch: list[EnrichedArticle]) -> None:
        if batch:
            await self._write(self._write_enriched, batch)

    def _write_enriched(self, batch: list[EnrichedArticle]) -> None:
        conn = self._require()
        with _transaction(conn):
            stored: dict[str, int] = {}
            keys = [item.article.id for item in batch]
            for chunk in range(0, len(keys), 500):  # SQLite caps the number of parameters per statement
                part = keys[chunk : chunk + 500]
                sql = f"SELECT id, revision FROM articles WHERE id IN ({','.join('?' * len(part))})"  # noqa: S608
                stored.update(conn.execute(sql, part).fetchall())
            # the story of an article is written even when the article itself is not newer (a replay fills it in)
            conn.executemany("INSERT OR REPLACE INTO story_articles VALUES (?,?)", story_article_rows(batch))
            todo = newer_than_stored(batch, stored)
            if not todo:
                return
            conn.executemany(SQLITE_UPSERT_ARTICLE, [article_row(item) for item in todo])
            # a new revision replaces the article's mentions and events; a first revision has none to replace
            replaced = [(item.article.id,) for item in todo if item.article.id in stored]
            conn.executemany("DELETE FROM mentions WHERE article_id = ?", replaced)
            conn.executemany("DELETE FROM events WHERE article_id = ?", replaced)
            conn.executemany("INSERT INTO entities VALUES (?,?,?,?) ON CONFLICT(id) DO NOTHING", entity_rows(todo))
            conn.executemany(
                "INSERT OR REPLACE INTO mentions VALUES (?,?,?,?,?,?,?,?)", [mention_row(i, e) for i in todo for e in i.entities]
            )
            conn.executemany("INSERT OR REPLACE INTO events VALUES (?,?,?,?)", event_rows(todo))

    async def write_alerts(self, batch: list[Alert]) -> None:
        if batch:
            await self._write(self._write_alerts, batch)

    def _write_alerts(self, batch: list[Alert]) -> None:
        conn = self._require()
        with _transaction(conn):
            conn.executemany(
                # a later copy of the story re-sends the alert with the same id and more sources: keep the fuller one; one
                # as full replaces it only when it quotes an earlier article of the story (by published, else fetched, then
                # id: the alert stage's order): the same alert again, or one quoting a later copy (a replay meeting the
                # copies in another order), changes nothing, not even the detection time
                "INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET article_id = excluded.article_id,"
                " title = excluded.title, url = excluded.url, sentence = excluded.sentence, body = excluded.body"
                " WHERE json_extract(excluded.body, '$.source_count') > json_extract(alerts.body, '$.source_count')"
                " OR (json_extract(excluded.body, '$.source_count') = json_extract(alerts.body, '$.source_count')"
                " AND (coalesce(json_extract(excluded.body, '$.published'), json_extract(excluded.body, '$.fetched')), excluded.article_id)"
                " < (coalesce(json_extract(alerts.body, '$.published'), json_extract(alerts.body, '$.fetched')), alerts.article_id))",
                [alert_row(alert) for alert in batch],
            )

    async def write_stories(self, batch: list[Story]) -> None:
        if batch:
            await self._write(self._write_stories, batch)

    def _write_stories(self, batch: list[Story]) -> None:
        conn = self._require()
        with _transaction(conn):
            conn.executemany(
                "INSERT INTO stories VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET headline = excluded.headline,"
                " url = excluded.url, first_seen = excluded.first_seen, last_seen = excluded.last_seen,"
                " article_count = excluded.article_count, source_count = excluded.source_count, lifecycle = excluded.lifecycle,"
                " body = excluded.body WHERE excluded.article_count >= stories.article_count",
                [story_row(story) for story in batch],
            )

    async def recent_stories(self, since: datetime, limit: int = 20) -> list[Story]:
        rows = await self._read(
            _sqlite_fetch,
            "SELECT body FROM stories WHERE julianday(last_seen) >= julianday(?) ORDER BY article_count DESC, last_seen DESC, id LIMIT ?",
            (since.isoformat(), limit),
        )
        return [Story.model_validate_json(row[0]) for row in rows]

    async def story(self, story_id: str, limit: int = 200) -> tuple[Story, list[StoryArticleRow]] | None:
        result: tuple[Story, list[StoryArticleRow]] | None = await self._read(self._story, story_id, limit)
        return result

    @staticmethod
    def _story(conn: sqlite3.Connection, story_id: str, limit: int) -> tuple[Story, list[StoryArticleRow]] | None:
        found = conn.execute("SELECT id, body FROM stories WHERE id = ? OR id LIKE ? ORDER BY id LIMIT 2",
                             (story_id, story_id.replace("%", "").replace("_", "") + "%")).fetchall()  # fmt: skip
        exact = [row for row in found if row[0] == story_id]
        if not (exact or len(found) == 1):
            return None
        story = Story.model_validate_json((exact or found)[0][1])
        rows = conn.execute(
            """SELECT a.id, a.title, a.url, a.feed_id, coalesce(a.published, a.fetched) AS time FROM story_articles s
               JOIN articles a ON a.id = s.article_id WHERE s.story_id = ? ORDER BY julianday(time), a.id LIMIT ?""",
            (story.id, limit),
        ).fetchall()
        return story, [StoryArticleRow(r[0], r[1], r[2], r[3], source_of(r[2]) or r[3], r[4]) for r in rows]

    async def counts(self) -> dict[str, int]:
        return dict(await self._run(self._counts))

    def _counts(self) -> dict[str, int]:
        conn = self._require()
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}  # noqa: S608

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        return list(await self._read(self._search, query))

    @staticmethod
    def _search(conn: sqlite3.Connection, query: SearchQuery) -> list[SearchHit]:
        run = SearchRun(query)
        match = fts5_match(run.node)
        # the index narrows (an article stored without text is matched on its summary, which the index does not hold)
        # (a union of two indexed look-ups: an OR would scan every article)
        narrow = (
            "a.rowid IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :match"
            " UNION ALL SELECT rowid FROM articles WHERE text = '')"
            if match
            else "1"
        )
        params = {"match": match, "since": query.since.isoformat() if query.since else None, "type": query.entity_type}
        offset = 0
        while not run.done:
            page = run.page(offset)
            rows = conn.execute(
                f"""SELECT a.id, a.title, a.url, a.feed_id, a.published, a.fetched, a.summary, a.text, a.language,
                           (SELECT s.story_id FROM story_articles s WHERE s.article_id = a.id)
                    FROM articles a
                    WHERE {narrow}
                      AND (:since IS NULL OR julianday(coalesce(a.published, a.fetched)) >= julianday(:since))
                      AND (:type IS NULL OR EXISTS (SELECT 1 FROM mentions m WHERE m.article_id = a.id AND m.type = :type))
                    ORDER BY julianday(coalesce(a.published, a.fetched)) DESC, a.id
                    LIMIT :page OFFSET :offset""",  # noqa: S608 - narrow is one of two fixed strings
                params | {"page": page, "offset": offset},
            ).fetchall()
            candidates = [Candidate(*row) for row in rows]
            mentions: dict[str, list[tuple[str, str, str, object]]] = {}
            for article_id, entity_id, name, kind, spans in conn.execute(
                f"SELECT article_id, entity_id, name, type, spans FROM mentions WHERE article_id IN ({','.join('?' * len(rows))})",  # noqa: S608
                [row.article_id for row in candidates],
            ).fetchall():
                mentions.setdefault(article_id, []).append((entity_id, name, kind, spans))
            run.add(candidates, mentions)
            if len(rows) < page:
                break
            offset += page
        return run.hits

    async def entity_report(self, name: str, limit: int = 10) -> EntityReport | None:
        result: EntityReport | None = await self._read(self._entity_report, name, limit)
        return result

    @staticmethod
    def _entity_report(conn: sqlite3.Connection, name: str, limit: int) -> EntityReport | None:
        query_words(name)
        candidates = [
            EntitySummary(*row)
            for row in conn.execute(
                """SELECT e.id, e.name, e.type, (SELECT count(*) FROM mentions m WHERE m.entity_id = e.id) AS n
                   FROM entities e WHERE instr(lower(e.name), lower(?)) > 0
                   ORDER BY lower(e.name) = lower(?) DESC, n DESC, e.name LIMIT ?""",
                (name.strip(), name.strip(), limit + 1),
            ).fetchall()
        ]
        if not candidates:
            return None
        entity = candidates[0]
        timeline = conn.execute(
            """SELECT date(coalesce(published, fetched)) AS day, count(*) FROM mentions
               WHERE entity_id = ? GROUP BY day ORDER BY day""",
            (entity.id,),
        ).fetchall()
        company = conn.execute(
            """SELECT o.entity_id, max(o.name), max(o.type), count(DISTINCT o.article_id) AS n
               FROM mentions m JOIN mentions o ON o.article_id = m.article_id AND o.entity_id != m.entity_id
               WHERE m.entity_id = ? GROUP BY o.entity_id ORDER BY n DESC, max(o.name) LIMIT ?""",
            (entity.id, limit),
        ).fetchall()
        articles = conn.execute(
            """SELECT a.id, a.title, a.url, coalesce(a.published, a.fetched) FROM mentions m JOIN articles a ON a.id = m.article_id
               WHERE m.entity_id = ? ORDER BY julianday(coalesce(a.published, a.fetched)) DESC, a.id LIMIT ?""",
            (entity.id, limit),
        ).fetchall()
        return EntityReport(
            entity=entity,
            timeline=[(day, count) for day, count in timeline],
            co_mentioned=[EntitySummary(*row) for row in company],
            articles=[{"id": r[0], "title": r[1], "url": r[2], "time": r[3]} for r in articles],
            others=candidates[1:],
        )

    async def recent_alerts(self, limit: int = 20) -> list[Alert]:
        rows = await self._read(_sqlite_fetch, "SELECT body FROM alerts ORDER BY detected DESC LIMIT ?", (limit,))
        return [Alert.model_validate_json(row[0]) for row in rows]

    async def stored_articles(self, since: datetime, until: datetime, names: list[str]) -> StoredWindow:
        result: StoredWindow = await self._read(self._stored_articles, since, until, [n for n in names if n][:MAX_NAMES])
        return result

    @staticmethod
    def _stored_articles(conn: sqlite3.Connection, since: datetime, until: datetime, names: list[str]) -> StoredWindow:
        time = "julianday(coalesce(a.published, a.fetched))"
        window = f"{time} >= julianday(?) AND {time} < julianday(?)"
        bounds = (since.isoformat(), until.isoformat())
        total = conn.execute(f"SELECT count(*) FROM articles a WHERE {window}", bounds).fetchone()[0]  # noqa: S608 - constants only
        if not names:
            return StoredWindow(total, [])
        # instr() is case-sensitive, as the gazetteer is: a superset of its whole-word hits, which the caller then finds
        naming = " OR ".join(["instr(a.title, ?) > 0 OR instr(a.text, ?) > 0"] * len(names))
        rows = conn.execute(
            f"""SELECT a.id, a.feed_id, a.url, a.canonical_url, a.title, a.summary, a.text, a.authors, a.published, a.fetched,
                       a.language, a.content_hash, a.revision, (SELECT s.story_id FROM story_articles s WHERE s.article_id = a.id)
                FROM articles a WHERE {window} AND ({naming})
                ORDER BY julianday(coalesce(a.published, a.fetched)), a.id""",  # noqa: S608 - placeholders only
            (*bounds, *[name for name in names for _ in (0, 1)]),
        ).fetchall()
        return StoredWindow(total, [stored_article(row) for row in rows])

    async def trending(self, now: datetime, hours: int = 24, limit: int = 10) -> list[Trend]:
        buckets = hour_buckets(now, hours)
        rows = await self._read(
            _sqlite_fetch,
            """SELECT entity_id, max(name), max(type), strftime('%Y-%m-%dT%H', fetched) AS hour, count(*)
               FROM mentions WHERE julianday(fetched) >= julianday(?) GROUP BY entity_id, hour""",
            (buckets[0] + ":00:00+00:00",),
        )
        return trends(rows, buckets, limit)

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("sink used before open()")
        return self._conn


def _sqlite_fetch(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    return conn.execute(sql, params).fetchall()


class _transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
