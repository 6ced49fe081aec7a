-- Wirewatch SQLite schema, version 3: the articles stored without text, found at once (a search matches them on their
-- summary, which the full-text index does not hold). Applied once, in order, never edited.
CREATE INDEX articles_textless ON articles (id) WHERE text = '';
