"""Invented articles produced straight to ``wirewatch.articles``, and counts read back from the SQLite sink."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from schemas import Article, encode
from streams import ids
from streams.config import Settings

TOWNS = ["Saltmere", "Port Elvan", "Redmoor", "Kessington", "Lindenport", "Ostrava Island", "Northfield", "Brackwater"]
PEOPLE = ["Agnes Mwangi", "Samuel Achebe", "Ingrid Halvorsen", "Daniel Okafor", "Marta Kowalczyk", "Teodor Brankovic"]


def invented_article(i: int, feed: str = "synthetic") -> Article:
    """Article ``i``: a short invented story naming a person and two towns (varied by ``i``)."""
    person, town, other = PEOPLE[i % len(PEOPLE)], TOWNS[i % len(TOWNS)], TOWNS[(i * 3 + 1) % len(TOWNS)]
    text = (
        f"{person} visited {town} on Tuesday to open the new depot number {i}. "
        f"Officials from {other} said the project would bring forty jobs to the region."
    )
    feed_id = ids.feed_id(f"http://127.0.0.1/{feed}.xml")
    url = f"http://127.0.0.1/{feed}/story-{i}"
    return Article(
        id=ids.article_id(feed_id, f"{feed}-{i}", url, "", None),
        feed_id=feed_id,
        feed_url=f"http://127.0.0.1/{feed}.xml",
        guid=f"{feed}-{i}",
        url=url,
        canonical_url=url,
        title=f"{person} opens depot {i} in {town}",
        text=text,
        published=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        fetched=datetime.now(tz=UTC),
        content_hash=ids.content_hash(text),
    )


def produce(settings: Settings, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """Send raw ``(key, value)`` pairs to ``topic`` (a suffix) and wait until all are acknowledged."""

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
        await producer.start()
        try:
            futures = [await producer.send(settings.topic(topic), key=key, value=value) for key, value in messages]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(go())


def produce_articles(settings: Settings, articles: list[Article]) -> None:
    produce(settings, "articles", [(a.id.encode(), encode(a)) for a in articles])


def count(path: Path, query: str) -> int:
    """A count from the SQLite sink; 0 while the worker has not created it yet."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=10) as conn:
            return int(conn.execute(query).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


class PacedProducer:
    """Sends ``messages`` to ``topic`` at about ``rate`` a second from a thread of its own: a stream, not a backlog.

    It stops before message ``hold_at`` until :meth:`release` (so a test can keep the stream running until it has done
    what it must do during it); :attr:`sent` counts the acknowledged messages.
    """

    def __init__(
        self, settings: Settings, topic: str, messages: list[tuple[bytes, bytes]], rate: float, hold_at: int | None = None
    ) -> None:
        self.settings, self.topic, self.messages, self.rate = settings, topic, messages, rate
        self.hold_at = len(messages) if hold_at is None else hold_at
        self.sent = 0
        self.error: BaseException | None = None
        self._released = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PacedProducer:
        self._thread.start()
        return self

    def release(self) -> None:
        """Send the held rest of the stream."""
        self._released.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        assert not self._thread.is_alive(), f"the stream was not sent within {timeout:g} s ({self.sent} of {len(self.messages)})"

    def _run(self) -> None:
        try:
            asyncio.run(self._send())
        except BaseException as exc:  # noqa: BLE001 - reported by join
            self.error = exc

    async def _send(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
        await producer.start()
        try:
            tick = 0.2
            per_tick = max(1, round(self.rate * tick))
            begin = 0
            while begin < len(self.messages):
                if begin == self.hold_at:
                    await asyncio.to_thread(self._released.wait)
                end = min(begin + per_tick, len(self.messages), self.hold_at if begin < self.hold_at else len(self.messages))
                futures = [
                    await producer.send(self.settings.topic(self.topic), key=key, value=value) for key, value in self.messages[begin:end]
                ]
                await asyncio.gather(*futures)
                self.sent, begin = end, end
                await asyncio.sleep(tick)
        finally:
            await producer.stop()
