"""The configured backend: PostgreSQL when ``WIREWATCH_DATABASE_URL`` is set, else the SQLite file."""

from __future__ import annotations

from streams.config import Settings
from streams.store.base import Sink


def create_sink(settings: Settings) -> Sink:
    """PostgreSQL when ``WIREWATCH_DATABASE_URL`` is set, else the SQLite file (not opened yet)."""
    if settings.database_url is not None:
        from streams.store.postgres import PostgresSink

        return PostgresSink(settings.database_url.get_secret_value())
    from streams.store.sqlite import SQLiteSink

    return SQLiteSink(settings.sqlite_path)
