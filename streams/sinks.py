"""Storage sinks: idempotent, batched upserts of enriched articles and alerts into SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from schemas import Alert, EnrichedArticle
from streams import ids
from streams.config import Settings
from streams.search import EntityReport, EntitySummary, SearchHit, SearchQuery, Trend, fts5_query, hour_buckets, query_words

ArticleRow = tuple[Any, ...]

# One migration list per backend; a migration is applied once, in order, and never edited.
SQLITE_MIGRATIONS = [
    """
    CREATE TABLE articles (
        id TEXT PRIMARY KEY, feed_id TEXT NOT NULL, url TEXT NOT NULL, canonical_url TEXT NOT NULL,
        title TEXT NOT NULL, summary TEXT NOT NULL, text TEXT NOT NULL, authors TEXT NOT NULL,
        published TEXT, fetched TEXT NOT NULL, language TEXT, content_hash TEXT NOT NULL,
        revision INTEGER NOT NULL, enriched TEXT NOT NULL
    );
    CREATE TABLE entities (id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, wikidata TEXT);
    CREATE TABLE mentions (
        id TEXT PRIMARY KEY, entity_id TEXT NOT NULL, article_id TEXT NOT NULL, name TEXT NOT NULL,
        type TEXT NOT NULL, spans TEXT NOT NULL, published TEXT, fetched TEXT NOT NULL
    );
    CREATE INDEX mentions_entity ON mentions (entity_id, fetched);
    CREATE INDEX mentions_article ON mentions (article_id);
    CREATE TABLE events (id TEXT PRIMARY KEY, article_id TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL);
    CREATE INDEX events_article ON events (article_id);
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, kind TEXT NOT NULL, entity_id TEXT NOT NULL,
        article_id TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL, sentence TEXT NOT NULL,
        detected TEXT NOT NULL, body TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE articles_fts USING fts5(title, text, content='articles', content_rowid='rowid');
    CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text);
    END;
    CREATE TRIGGER articles_au AFTER UPDATE ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);
        INSERT INTO articles_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text);
    END;
    """,
]

POSTGRES_MIGRATIONS = [
    """
    CREATE TABLE articles (
        id TEXT PRIMARY KEY, feed_id TEXT NOT NULL, url TEXT NOT NULL, canonical_url TEXT NOT NULL,
        title TEXT NOT NULL, summary TEXT NOT NULL, text TEXT NOT NULL, authors JSONB NOT NULL,
        published TIMESTAMPTZ, fetched TIMESTAMPTZ NOT NULL, language TEXT, content_hash TEXT NOT NULL,
        revision INTEGER NOT NULL, enriched TIMESTAMPTZ NOT NULL,
        search tsvector GENERATED ALWAYS AS (to_tsvector('simple', title || ' ' || text)) STORED
    );
    CREATE INDEX articles_search ON articles USING GIN (search);
    CREATE TABLE entities (id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, wikidata TEXT);
    CREATE TABLE mentions (
        id TEXT PRIMARY KEY, entity_id TEXT NOT NULL, article_id TEXT NOT NULL, name TEXT NOT NULL,
        type TEXT NOT NULL, spans JSONB NOT NULL, published TIMESTAMPTZ, fetched TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX mentions_entity ON mentions (entity_id, fetched);
    CREATE INDEX mentions_article ON mentions (article_id);
    CREATE TABLE events (id TEXT PRIMARY KEY, article_id TEXT NOT NULL, type TEXT NOT NULL, body JSONB NOT NULL);
    CREATE INDEX events_article ON events (article_id);
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, kind TEXT NOT NULL, entity_id TEXT NOT NULL,
        article_id TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL, sentence TEXT NOT NULL,
        detected TIMESTAMPTZ NOT NULL, body JSONB NOT NULL
    );
    """,
]

TABLES = ("articles", "entities", "mentions", "events", "alerts")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


_UPDATE_ARTICLE = """ON CONFLICT (id) DO UPDATE SET url=excluded.url, canonical_url=excluded.canonical_url,
    title=excluded.title, summary=excluded.summary, text=excluded.text, authors=excluded.authors,
    published=excluded.published, fetched=excluded.fetched, language=excluded.language,
    content_hash=excluded.content_hash, revision=excluded.revision, enriched=excluded.enriched
  WHERE excluded.revision > articles.revision"""
SQLITE_UPSERT_ARTICLE = "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) " + _UPDATE_ARTICLE  # noqa: S608 - constants only
POSTGRES_UPSERT_ARTICLE = (
    """INSERT INTO articles (id, feed_id, url, canonical_url, title, summary, text, authors, published, fetched, language,
         content_hash, revision, enriched) VALUES ($1,$2,$3,$4,$5,$6,$7,$8::jsonb,$9,$10,$11,$12,$13,$14) """  # noqa: S608
    + _UPDATE_ARTICLE
)


def newer_than_stored(batch: list[EnrichedArticle], stored: dict[str, int]) -> list[EnrichedArticle]:
    """The batch's newest revision of each article, keeping only those newer than the stored revision.

    Writing only these makes a replay a read and nothing else, and never lets an old revision replace a new one.
    """
    return [item for item in latest_revisions(batch) if item.article.revision > stored.get(item.article.id, 0)]


def latest_revisions(batch: list[EnrichedArticle]) -> list[EnrichedArticle]:
    """One item per article id, the newest revision, so a batch never writes an article twice."""
    newest: dict[str, EnrichedArticle] = {}
    for item in batch:
        current = newest.get(item.article.id)
        if current is None or item.article.revision >= current.article.revision:
            newest[item.article.id] = item
    return list(newest.values())


class SinkUnavailable(RuntimeError):
    """The database cannot take a write right now (locked, restarting, unreachable); retry after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Sink(ABC):
    """A database the storage agent writes to; every write is an idempotent upsert on derived ids."""

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def write_enriched(self, batch: list[EnrichedArticle]) -> None: ...

    @abstractmethod
    async def write_alerts(self, batch: list[Alert]) -> None: ...

    @abstractmethod
    async def counts(self) -> dict[str, int]: ...

    @abstractmethod
    async def search(self, query: SearchQuery) -> list[SearchHit]:
        """Stored articles containing every word of the query, newest first."""

    @abstractmethod
    async def entity_report(self, name: str, limit: int = 10) -> EntityReport | None:
        """The best-matching entity's timeline, company and articles; None when no entity matches."""

    @abstractmethod
    async def recent_alerts(self, limit: int = 20) -> list[Alert]:
        """The latest alerts, newest first."""

    @abstractmethod
    async def trending(self, now: datetime, hours: int = 24, limit: int = 10) -> list[Trend]:
        """The most-mentioned entities of the last ``hours`` hours (by arrival), with mentions per hour."""


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
        for number, migration in enumerate(SQLITE_MIGRATIONS[version:], start=version + 1):
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
                # a later copy of the story re-sends the alert with the same id and more sources: keep the fuller one
                "INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET body = excluded.body"
                " WHERE json_extract(excluded.body, '$.source_count') > json_extract(alerts.body, '$.source_count')",
                [_alert_row(alert) for alert in batch],
            )

    async def counts(self) -> dict[str, int]:
        return dict(await self._run(self._counts))

    def _counts(self) -> dict[str, int]:
        conn = self._require()
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}  # noqa: S608

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        return list(await self._read(self._search, query))

    @staticmethod
    def _search(conn: sqlite3.Connection, query: SearchQuery) -> list[SearchHit]:
        since = query.since.isoformat() if query.since else None
        rows = conn.execute(
            """SELECT a.id, a.title, a.url, a.feed_id, a.published, a.fetched,
                      snippet(articles_fts, -1, '[', ']', '…', 16)
               FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid
               WHERE articles_fts MATCH :match
                 AND (:since IS NULL OR julianday(coalesce(a.published, a.fetched)) >= julianday(:since))
                 AND (:type IS NULL OR EXISTS (
                      SELECT 1 FROM mentions m WHERE m.article_id = a.id AND m.type = :type
                        AND (instr(lower(:text), lower(m.name)) > 0 OR instr(lower(m.name), lower(:text)) > 0)))
               ORDER BY julianday(coalesce(a.published, a.fetched)) DESC, a.id
               LIMIT :limit""",
            {"match": fts5_query(query.text), "since": since, "type": query.entity_type, "text": query.text, "limit": query.limit},
        ).fetchall()
        named = _named_entities(
            conn.execute(
                f"""SELECT article_id, name, type FROM mentions WHERE article_id IN ({",".join("?" * len(rows))})
                    AND (instr(lower(?), lower(name)) > 0 OR instr(lower(name), lower(?)) > 0) ORDER BY name""",  # noqa: S608
                [row[0] for row in rows] + [query.text, query.text],
            ).fetchall(),
            query.entity_type,
        )
        return [SearchHit(r[0], r[1], r[2], r[3], r[4], r[5], r[6], entities=named.get(r[0], [])) for r in rows]

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

    async def trending(self, now: datetime, hours: int = 24, limit: int = 10) -> list[Trend]:
        buckets = hour_buckets(now, hours)
        rows = await self._read(
            _sqlite_fetch,
            """SELECT entity_id, max(name), max(type), strftime('%Y-%m-%dT%H', fetched) AS hour, count(*)
               FROM mentions WHERE julianday(fetched) >= julianday(?) GROUP BY entity_id, hour""",
            (buckets[0] + ":00:00+00:00",),
        )
        return _trends(rows, buckets, limit)

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
            for number, migration in enumerate(POSTGRES_MIGRATIONS[done:], start=done + 1):
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
            await self._write(self._write_enriched, [_without_nul(item) for item in batch])

    async def _write_enriched(self, batch: list[EnrichedArticle]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch("SELECT id, revision FROM articles WHERE id = ANY($1::text[])", [item.article.id for item in batch])
            stored = {row[0]: row[1] for row in rows}
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
            await self._write(self._write_alerts, [_without_nul(alert) for alert in batch])

    async def _write_alerts(self, batch: list[Alert]) -> None:
        async with self._pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO alerts VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10::jsonb) ON CONFLICT (id) DO UPDATE SET body = excluded.body"
                " WHERE (excluded.body->>'source_count')::int > (alerts.body->>'source_count')::int",
                [(*_alert_row(alert)[:8], alert.detected, _alert_row(alert)[9]) for alert in batch],
            )

    async def counts(self) -> dict[str, int]:
        async with self._pool.acquire() as conn:
            return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}  # noqa: S608

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """WITH hits AS (
                       SELECT a.id, a.title, a.url, a.feed_id, a.published, a.fetched, a.text,
                              coalesce(a.published, a.fetched) AS time
                       FROM articles a
                       WHERE a.search @@ plainto_tsquery('simple', $1)
                         AND ($2::timestamptz IS NULL OR coalesce(a.published, a.fetched) >= $2)
                         AND ($3::text IS NULL OR EXISTS (
                              SELECT 1 FROM mentions m WHERE m.article_id = a.id AND m.type = $3
                                AND (strpos(lower($4), lower(m.name)) > 0 OR strpos(lower(m.name), lower($4)) > 0)))
                       ORDER BY time DESC, a.id LIMIT $5)
                   SELECT id, title, url, feed_id, published, fetched,
                          ts_headline('simple', text, plainto_tsquery('simple', $1),
                                      'StartSel=[, StopSel=], MaxWords=20, MinWords=8, MaxFragments=1, FragmentDelimiter=…')
                   FROM hits ORDER BY time DESC, id""",
                " ".join(query_words(query.text)),
                query.since,
                query.entity_type,
                query.text,
                query.limit,
            )
            named = _named_entities(
                await conn.fetch(
                    """SELECT article_id, name, type FROM mentions WHERE article_id = ANY($1::text[])
                       AND (strpos(lower($2), lower(name)) > 0 OR strpos(lower(name), lower($2)) > 0) ORDER BY name""",
                    [row[0] for row in rows],
                    query.text,
                ),
                query.entity_type,
            )
        return [SearchHit(r[0], r[1], r[2], r[3], _iso(r[4]), str(_iso(r[5])), r[6], entities=named.get(r[0], [])) for r in rows]

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
            articles=[{"id": r[0], "title": r[1], "url": r[2], "time": _iso(r[3])} for r in articles],
            others=candidates[1:],
        )

    async def recent_alerts(self, limit: int = 20) -> list[Alert]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch("SELECT body FROM alerts ORDER BY detected DESC LIMIT $1", limit)
        return [Alert.model_validate_json(row[0]) for row in rows]

    async def trending(self, now: datetime, hours: int = 24, limit: int = 10) -> list[Trend]:
        buckets = hour_buckets(now, hours)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT entity_id, max(name), max(type), to_char(fetched AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24') AS hour,
                          count(*)::int
                   FROM mentions WHERE fetched >= $1::timestamptz GROUP BY entity_id, hour""",
                datetime.fromisoformat(buckets[0] + ":00:00+00:00"),
            )
        return _trends([tuple(row) for row in rows], buckets, limit)


def _without_nul(record: Any) -> Any:
    """The record with NUL characters removed: PostgreSQL text cannot hold them and they carry no meaning."""
    if "\\u0000" not in record.model_dump_json():
        return record
    return type(record).model_validate(_strip_nul(record.model_dump()))


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_strip_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: _strip_nul(item) for key, item in value.items()}
    return value


def _named_entities(rows: list[Any], entity_type: str | None) -> dict[str, list[str]]:
    """Per article, the names (with type) of the entities the search named, of the wanted type if one is given."""
    named: dict[str, list[str]] = {}
    for article_id, name, entity_type_ in rows:
        if entity_type is None or entity_type_ == entity_type:
            named.setdefault(article_id, []).append(f"{name} ({entity_type_})")
    return named


def _trends(rows: list[Any], buckets: list[str], limit: int) -> list[Trend]:
    """Rows of (entity id, name, type, hour, count) → the ``limit`` entities with most mentions, per hour."""
    index = {hour: i for i, hour in enumerate(buckets)}
    series: dict[str, list[int]] = {}
    names: dict[str, tuple[str, str]] = {}
    for entity_id, name, entity_type, hour, count in rows:
        if hour in index:
            series.setdefault(entity_id, [0] * len(buckets))[index[hour]] += count
            names[entity_id] = (name, entity_type)
    top = sorted(series, key=lambda e: (-sum(series[e]), names[e][0]))[:limit]
    return [Trend(EntitySummary(e, names[e][0], names[e][1], sum(series[e])), series[e]) for e in top]


def split_statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and (not joined.upper().startswith("CREATE TRIGGER") or joined.upper().endswith("END;")):
            statements.append(joined)
            current = []
    return statements


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def article_row(item: EnrichedArticle) -> tuple[Any, ...]:
    a = item.article
    return (
        a.id,
        a.feed_id,
        a.url,
        a.canonical_url,
        a.title,
        a.summary,
        a.text,
        _json(a.authors),
        _iso(a.published),
        _iso(a.fetched),
        a.language,
        a.content_hash,
        a.revision,
        _iso(item.enriched),
    )


def entity_rows(batch: list[EnrichedArticle]) -> list[tuple[Any, ...]]:
    return [(e.id, e.name, e.type, e.wikidata) for item in batch for e in item.entities]


def event_rows(batch: list[EnrichedArticle]) -> list[tuple[Any, ...]]:
    return [(ev.id, item.article.id, ev.type, _json(ev.model_dump(mode="json"))) for item in batch for ev in item.events]


def mention_row(item: EnrichedArticle, entity: Any) -> tuple[Any, ...]:
    spans = [[m.start, m.end] for m in entity.mentions]
    return (
        ids.mention_id(entity.id, item.article.id),
        entity.id,
        item.article.id,
        entity.name,
        entity.type,
        _json(spans),
        _iso(item.article.published),
        _iso(item.article.fetched),
    )


def _alert_row(alert: Alert) -> tuple[Any, ...]:
    return (
        alert.id,
        alert.rule_id,
        alert.kind,
        alert.entity_id,
        alert.article_id,
        alert.title,
        alert.url,
        alert.sentence,
        _iso(alert.detected),
        _json(alert.model_dump(mode="json")),
    )


async def write_with_retry(
    write: Callable[[list[Any]], Awaitable[None]], batch: list[Any], on_retry: Callable[[SinkUnavailable, float], None], cap: float = 30.0
) -> None:
    """Write ``batch``, waiting out an unavailable database with growing pauses: the stream waits, nothing is dropped.

    While this waits the agent takes no new messages, so Kafka keeps them and memory stays flat.
    """
    attempt = 0
    while True:
        try:
            await write(batch)
            return
        except SinkUnavailable as exc:
            pause = min(cap, exc.retry_after * 2**attempt)
            on_retry(exc, pause)
            await asyncio.sleep(pause)
            attempt += 1


def create_sink(settings: Settings) -> Sink:
    """PostgreSQL when ``WIREWATCH_DATABASE_URL`` is set, else the SQLite file."""
    if settings.database_url is not None:
        return PostgresSink(settings.database_url.get_secret_value())
    return SQLiteSink(settings.sqlite_path)
