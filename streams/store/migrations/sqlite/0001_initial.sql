-- Wirewatch SQLite schema, version 1: applied once, in order, never edited.
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
