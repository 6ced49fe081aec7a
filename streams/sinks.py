"""Storage sinks: idempotent, batched upserts of enriched articles and alerts into SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from schemas import Alert, EnrichedArticle
from streams import ids
from streams.config import Settings

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


def latest_revisions(batch: list[EnrichedArticle]) -> list[EnrichedArticle]:
    """One item per article id, the newest revision, so a batch never writes an article twice."""
    newest: dict[str, EnrichedArticle] = {}
    for item in batch:
        current = newest.get(item.article.id)
        if current is None or item.article.revision >= current.article.revision:
            newest[item.article.id] = item
    return list(newest.values())


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


class SQLiteSink(Sink):
    """SQLite in WAL mode with a busy timeout; all calls run on one thread of its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-sink")
        self._conn: sqlite3.Connection | None = None

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
            for statement in _statements(migration):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    async def write_enriched(self, batch: list[EnrichedArticle]) -> None:
        if batch:
            await self._run(self._write_enriched, latest_revisions(batch))

    def _write_enriched(self, batch: list[EnrichedArticle]) -> None:
        conn = self._require()
        with _transaction(conn):
            for item in batch:
                a = item.article
                cursor = conn.execute(
                    """INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                       ON CONFLICT(id) DO UPDATE SET url=excluded.url, canonical_url=excluded.canonical_url,
                         title=excluded.title, summary=excluded.summary, text=excluded.text, authors=excluded.authors,
                         published=excluded.published, fetched=excluded.fetched, language=excluded.language,
                         content_hash=excluded.content_hash, revision=excluded.revision, enriched=excluded.enriched
                       WHERE excluded.revision > articles.revision""",
                    (
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
                    ),
                )
                if cursor.rowcount == 0:
                    continue  # an older or the same revision: already stored
                conn.execute("DELETE FROM mentions WHERE article_id = ?", (a.id,))
                conn.execute("DELETE FROM events WHERE article_id = ?", (a.id,))
                conn.executemany(
                    "INSERT INTO entities VALUES (?,?,?,?) ON CONFLICT(id) DO NOTHING",
                    [(e.id, e.name, e.type, e.wikidata) for e in item.entities],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO mentions VALUES (?,?,?,?,?,?,?,?)",
                    [_mention_row(item, e) for e in item.entities],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO events VALUES (?,?,?,?)",
                    [(ev.id, a.id, ev.type, _json(ev.model_dump(mode="json"))) for ev in item.events],
                )

    async def write_alerts(self, batch: list[Alert]) -> None:
        if batch:
            await self._run(self._write_alerts, batch)

    def _write_alerts(self, batch: list[Alert]) -> None:
        conn = self._require()
        with _transaction(conn):
            conn.executemany(
                "INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
                [_alert_row(alert) for alert in batch],
            )

    async def counts(self) -> dict[str, int]:
        return dict(await self._run(self._counts))

    def _counts(self) -> dict[str, int]:
        conn = self._require()
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}  # noqa: S608

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("sink used before open()")
        return self._conn


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

    async def write_enriched(self, batch: list[EnrichedArticle]) -> None:
        if not batch:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            for item in latest_revisions(batch):
                a = item.article
                stored = await conn.fetchval(
                    """INSERT INTO articles (id, feed_id, url, canonical_url, title, summary, text, authors, published,
                         fetched, language, content_hash, revision, enriched)
                       VALUES ($1,$2,$3,$4,$5,$6,$7,$8::jsonb,$9,$10,$11,$12,$13,$14)
                       ON CONFLICT (id) DO UPDATE SET url=excluded.url, canonical_url=excluded.canonical_url,
                         title=excluded.title, summary=excluded.summary, text=excluded.text, authors=excluded.authors,
                         published=excluded.published, fetched=excluded.fetched, language=excluded.language,
                         content_hash=excluded.content_hash, revision=excluded.revision, enriched=excluded.enriched
                       WHERE excluded.revision > articles.revision
                       RETURNING id""",
                    a.id,
                    a.feed_id,
                    a.url,
                    a.canonical_url,
                    a.title,
                    a.summary,
                    a.text,
                    _json(a.authors),
                    a.published,
                    a.fetched,
                    a.language,
                    a.content_hash,
                    a.revision,
                    item.enriched,
                )
                if stored is None:
                    continue
                await conn.execute("DELETE FROM mentions WHERE article_id = $1", a.id)
                await conn.execute("DELETE FROM events WHERE article_id = $1", a.id)
                await conn.executemany(
                    "INSERT INTO entities VALUES ($1,$2,$3,$4) ON CONFLICT (id) DO NOTHING",
                    [(e.id, e.name, e.type, e.wikidata) for e in item.entities],
                )
                await conn.executemany(
                    """INSERT INTO mentions VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7,$8)
                       ON CONFLICT (id) DO UPDATE SET spans = excluded.spans""",
                    [(*row[:5], row[5], a.published, a.fetched) for row in (_mention_row(item, e) for e in item.entities)],
                )
                await conn.executemany(
                    "INSERT INTO events VALUES ($1,$2,$3,$4::jsonb) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                    [(ev.id, a.id, ev.type, _json(ev.model_dump(mode="json"))) for ev in item.events],
                )

    async def write_alerts(self, batch: list[Alert]) -> None:
        if not batch:
            return
        async with self._pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO alerts VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10::jsonb) ON CONFLICT (id) DO NOTHING",
                [(*_alert_row(alert)[:8], alert.detected, _alert_row(alert)[9]) for alert in batch],
            )

    async def counts(self) -> dict[str, int]:
        async with self._pool.acquire() as conn:
            return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}  # noqa: S608


def _statements(script: str) -> list[str]:
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


def _mention_row(item: EnrichedArticle, entity: Any) -> tuple[Any, ...]:
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


def create_sink(settings: Settings) -> Sink:
    """PostgreSQL when ``WIREWATCH_DATABASE_URL`` is set, else the SQLite file."""
    if settings.database_url is not None:
        return PostgresSink(settings.database_url.get_secret_value())
    return SQLiteSink(settings.sqlite_path)
