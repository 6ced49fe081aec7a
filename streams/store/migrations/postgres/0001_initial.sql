-- Wirewatch PostgreSQL schema, version 1: applied once, in order, never edited.
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
