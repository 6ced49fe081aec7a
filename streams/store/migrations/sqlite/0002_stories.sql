-- Wirewatch SQLite schema, version 2: stories across outlets. Applied once, in order, never edited.
CREATE TABLE stories (
    id TEXT PRIMARY KEY, headline TEXT NOT NULL, url TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
    article_count INTEGER NOT NULL, source_count INTEGER NOT NULL, lifecycle TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX stories_last_seen ON stories (last_seen);
CREATE TABLE story_articles (article_id TEXT PRIMARY KEY, story_id TEXT NOT NULL);
CREATE INDEX story_articles_story ON story_articles (story_id);
