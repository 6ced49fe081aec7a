"""The sink contract: a backend's idempotent writes and reads, and the batch an agent fills (add → flush → write(batch)).

In the manner of quix-streams' ``BatchingSink``: records are added as they come, :meth:`SinkBatch.flush` writes them
as one batch and clears it in ``finally`` (so flushing twice is safe), and backpressure is an exception carrying
``retry_after`` (:class:`~streams.errors.SinkUnavailable`) that the flush waits out instead of dropping anything.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from schemas import Alert, EnrichedArticle, Record, Story
from streams.errors import SinkUnavailable
from streams.store.queries import EntityReport, SearchHit, SearchQuery, StoredWindow, StoryArticleRow, Trend

log = logging.getLogger(__name__)
R = TypeVar("R", bound=Record)


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
    async def write_stories(self, batch: list[Story]) -> None:
        """Upsert stories; a record with fewer articles than the stored one (an older state, replayed) is ignored."""

    @abstractmethod
    async def recent_stories(self, since: datetime, limit: int = 20) -> list[Story]:
        """Stories with an article since ``since``, the most articles first."""

    @abstractmethod
    async def story(self, story_id: str, limit: int = 200) -> tuple[Story, list[StoryArticleRow]] | None:
        """A story and its stored articles, oldest first; None when no story has this id (or a unique prefix of it)."""

    async def linked_stories(self, story: Story) -> list[Story]:
        """The stored stories ``story`` is linked to (the same news, opened apart in one burst), in its order."""
        found = [await self.story(other, 0) for other in story.linked_story_ids]
        return [pair[0] for pair in found if pair is not None and pair[0].id in story.linked_story_ids]

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
    async def stored_articles(self, since: datetime, until: datetime, names: list[str]) -> StoredWindow:
        """The articles stored for ``since`` ≤ published (else fetched) < ``until``: their count, and those naming one of
        ``names`` (at most :data:`~streams.store.queries.MAX_NAMES`) oldest first, each with its story id."""

    @abstractmethod
    async def trending(self, now: datetime, hours: int = 24, limit: int = 10) -> list[Trend]:
        """The most-mentioned entities of the last ``hours`` hours (by arrival), with mentions per hour."""


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


#: called with the message, the agent and the error when the database refuses one record on its own
DeadLetterer = Callable[[Any, str, str], Awaitable[object]]


class SinkBatch(Generic[R]):
    """One agent's records for one table: ``add`` them as messages come, ``flush`` writes them as one batch.

    A batch the database refuses is written again record by record, and each record refused on its own is
    dead-lettered with the database's error, so one bad row never holds up the others. While the database is
    unavailable the flush waits and retries with growing pauses: the agent takes no new messages meanwhile,
    so Kafka keeps them and memory stays flat.
    """

    def __init__(self, agent: str, write: Callable[[list[R]], Awaitable[None]], dead_letter: DeadLetterer) -> None:
        self.agent = agent
        self._write = write
        self._dead_letter = dead_letter
        self._items: list[tuple[Any, R]] = []

    def __len__(self) -> int:
        return len(self._items)

    def add(self, message: Any, record: R) -> None:
        """Queue ``record`` (decoded from ``message``, which a dead letter would name) for the next flush."""
        self._items.append((message, record))

    async def flush(self) -> int:
        """Write what was added since the last flush; returns the number of records written."""
        items = list(self._items)
        try:
            return await self._flush(items)
        finally:
            self._items.clear()

    async def _flush(self, items: list[tuple[Any, R]]) -> int:
        if not items:
            return 0
        try:
            await write_with_retry(self._write, [record for _, record in items], self._retrying)
            return len(items)
        except Exception:  # noqa: BLE001 - one record the database refuses must not stop the stream
            log.exception("%s: batch of %d refused; writing one by one", self.agent, len(items), extra={"agent": self.agent})
        written = 0
        for message, record in items:
            try:
                await write_with_retry(self._write, [record], self._retrying)
                written += 1
            except Exception as exc:  # noqa: BLE001
                record_id = getattr(record, "id", None) or getattr(getattr(record, "article", None), "id", "?")
                await self._dead_letter(message, self.agent, f"record {record_id}: refused by the database: {type(exc).__name__}: {exc}")
        return written

    def _retrying(self, exc: SinkUnavailable, pause: float) -> None:
        log.warning("%s: %s; retrying in %.1f s", self.agent, exc, pause, extra={"agent": self.agent})
