"""The storage stage: a sink base that batches, one module per backend (SQLite, PostgreSQL), migrations and queries."""
