"""Poller agents: keep the feed-state table in step with ``wirewatch.feeds`` and poll the feeds this process owns."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from agents.web import register_pages
from schemas import Article, DecodeError, FeedSource, decode, encode
from streams.config import get_settings
from streams.kafka.apps import poller_app
from streams.kafka.background import survives
from streams.kafka.client import latest_values
from streams.kafka.deadletter import dead_letter, reference
from streams.kafka.health import Health, recovered
from streams.kafka.metrics import DEAD_LETTERS
from streams.kafka.outbox import Outbox, too_large
from streams.kafka.sizes import limits
from streams.kafka.topology import articles_out_topic, feed_state_table, feeds_topic, poller_deadletter_topic
from streams.poll.fetch import Fetcher
from streams.poll.metrics import (
    ARTICLES_PUBLISHED,
    ARTICLES_TRUNCATED,
    FEEDS,
    FETCH_ERRORS,
    FETCH_SECONDS,
    FULLTEXT,
    LINKS_DROPPED,
    PARSE_SECONDS,
    POLLS,
    SUSPECT_DATES,
)
from streams.poll.parserpool import ParserPool
from streams.poll.state import FeedState
from streams.poll.steps import PollOutcome, poll_feed, publish_failed

log = logging.getLogger(__name__)
settings = get_settings()
health = Health()
#: the /health entry of poll progress: due feeds with no poll stored for WIREWATCH_HEALTH_STUCK_SECONDS
PROGRESS = "poll_due_feeds"
#: wait before a failed repair of an undecodable state (the broker away, say) is tried again
REPAIR_RETRY_SECONDS = 30.0
register_pages(poller_app, health)


@poller_app.agent(feeds_topic)
async def track_feeds(stream):  # type: ignore[no-untyped-def]
    """Add, change and remove feeds in the feed-state table as the registry changes."""
    async for event in stream.events():
        key = event.key
        if event.value is None:
            feed_state_table.pop(key, None)
            log.info("feed %s removed", key, extra={"feed_id": key})
            continue
        try:
            source = decode(FeedSource, event.value)
        except DecodeError as exc:
            DEAD_LETTERS.labels("track_feeds").inc()
            record = dead_letter(event.message, "track_feeds", str(exc), limits(settings).message)
            await (await poller_deadletter_topic.send(key=record.key, value=encode(record)))
            continue
        existing = feed_state_table.get(key)
        state = FeedState(source=source, partition=event.message.partition)
        if existing is not None:
            try:
                # A changed registry entry keeps the polling state but is checked again at once.
                state = FeedState.loads(existing).model_copy(update={"source": source, "partition": state.partition, "next_check": 0.0})
            except DecodeError as exc:
                await dead_letter_state(key, existing, state.partition, exc, agent="track_feeds")  # the new entry starts afresh
        feed_state_table[key] = state.dumps()


def record_metrics(outcome: PollOutcome) -> None:
    """Count one poll's outcome in the poller's Prometheus metrics."""
    FETCH_SECONDS.observe(outcome.fetch_seconds)
    if outcome.parse_seconds:
        PARSE_SECONDS.observe(outcome.parse_seconds)
    POLLS.labels(outcome.status).inc()
    if outcome.error_kind:
        FETCH_ERRORS.labels(outcome.error_kind).inc()
    for kind, count in outcome.fulltext.items():
        FULLTEXT.labels(kind).inc(count)
    for kind, count in outcome.dropped_links.items():
        LINKS_DROPPED.labels(kind).inc(count)
    ARTICLES_TRUNCATED.inc(outcome.truncated)
    for reason, count in outcome.suspect.items():
        SUSPECT_DATES.labels(reason).inc(count)


@dataclass(frozen=True)
class StoredState:
    """A feed-state value as the table holds it, in the shape :func:`dead_letter` reads (its offset is not kept)."""

    key: str
    value: bytes
    topic: str
    partition: int
    offset: int = -1


async def dead_letter_state(
    key: str, raw: bytes, partition: int, exc: Exception, action: str = "replaced by a fresh state", agent: str = "poll_due_feeds"
) -> None:
    """Log and dead-letter a stored feed state that cannot be decoded, naming the feed."""
    log.error("feed %s: its stored state cannot be decoded (%s); dead-lettered and %s", key, exc, action, extra={"feed_id": key})
    stored = StoredState(key, raw, feed_state_table.changelog_topic.get_topic_name(), partition)
    DEAD_LETTERS.labels(agent).inc()
    await (await poller_deadletter_topic.send(key=key, value=encode(dead_letter(stored, agent, f"feed state: {exc}"))))


class PollScheduler:
    """Starts a poll for each due feed of the partitions this process actively owns, one at a time per feed."""

    def __init__(self) -> None:
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        # feed id → when a poll that failed before its state was saved may be tried again
        self.not_before: dict[str, float] = {}
        # decoded states by key, with the stored bytes they came from: a tick over thousands of feeds
        # decodes only the states that changed since the last tick
        self._decoded: dict[str, tuple[bytes, FeedState]] = {}
        #: keys whose stored state could not be decoded, with the bytes seen: each is repaired once, in the background
        self.repairing: dict[str, bytes] = {}
        self._repairs: set[asyncio.Task[None]] = set()
        self.fetcher: Fetcher | None = None
        self.parser = ParserPool(settings.parse_timeout_seconds, settings.parse_workers, settings.parse_max_memory_mb)
        # Polls in progress (fetch and parse) at most: without it fetching runs ahead of the parser and
        # every fetched body waits in memory for its turn.
        self.slots = asyncio.Semaphore(settings.fetch_concurrency)

    def owned_partitions(self) -> set[int]:
        name = feeds_topic.get_topic_name()
        return {tp.partition for tp in poller_app.consumer.assignment() if tp.topic == name}

    def restoring(self) -> bool:
        """True until the first restore and during every later one (Faust's 'completed' flag stays set after the first)."""
        return not recovered(poller_app) or bool(poller_app.in_recovery)

    async def tick(self) -> None:
        if self.restoring():
            health.done(PROGRESS)  # not polling while tables restore: /ready says so, liveness does not
            return
        if self.fetcher is None:
            self.fetcher = await Fetcher(settings).__aenter__()
        owned = self.owned_partitions()
        now = time.time()
        counts: dict[str, int] = {}
        decoded: dict[str, tuple[bytes, FeedState]] = {}
        due = 0
        for key, raw in list(feed_state_table.items()):
            cached = self._decoded.get(key)
            try:
                state = cached[1] if cached is not None and cached[0] is raw else FeedState.loads(raw)
            except DecodeError as exc:
                if self.repairing.get(key) is not raw:
                    self.repairing[key] = raw
                    task = asyncio.create_task(self.repair(key, raw, exc))
                    self._repairs.add(task)
                    task.add_done_callback(self._repairs.discard)
                continue
            decoded[key] = (raw, state)
            if state.partition not in owned:
                continue
            counts[state.last_status] = counts.get(state.last_status, 0) + 1
            if not state.source.enabled or state.next_check > now or self.not_before.get(key, 0.0) > now:
                continue
            due += 1
            if key not in self.in_flight:
                self.in_flight[key] = asyncio.create_task(self.poll(key, state, self.fetcher))
        self._decoded = decoded
        # Liveness as poll progress: due feeds and no poll stored since this mark, for the stuck time, fail /health.
        if due:
            health.begin(PROGRESS)
        else:
            health.done(PROGRESS)
        for status in ("new", "ok", "not_modified", "error", "broken"):
            FEEDS.labels(status).set(counts.get(status, 0))

    async def poll(self, key: str, state: FeedState, fetcher: Fetcher) -> None:
        try:
            async with self.slots:
                outcome = await poll_feed(state, fetcher, self.parser, settings, time.time())
            if state.partition not in self.owned_partitions() or self.restoring():
                # A rebalance came during the poll. Revoked: the new owner polls the feed from the stored
                # state, and publishing here would duplicate what it publishes. Restoring: the restore
                # replays older states over whatever we store now, and the next poll would publish again.
                log.info("feed %s: rebalance during the poll; result dropped, polled again after it", state.source.url)
                return
            record_metrics(outcome)
            new_state = await self.publish(key, state, outcome)
            if state.partition in self.owned_partitions() and key in feed_state_table:
                self.store(key, new_state)
                health.done(PROGRESS)
            self.not_before.pop(key, None)
        except Exception:
            # The state is not saved: wait the shortest interval before the next try, not a tick
            self.not_before[key] = time.time() + settings.poll_min_interval_seconds
            log.exception("feed %s: poll failed", state.source.url, extra={"feed_id": key})
        finally:
            self.in_flight.pop(key, None)

    def store(self, key: str, state: FeedState) -> None:
        """Write a feed's state to the table and its changelog (the scheduler runs outside any stream)."""
        value = state.dumps()
        feed_state_table.data[key] = value
        self._decoded[key] = (value, state)
        feed_state_table.send_changelog(state.partition, key, value)

    async def repair(self, key: str, raw: bytes, exc: DecodeError) -> None:
        """A stored state that cannot be decoded: logged and dead-lettered, and replaced by a fresh state from the
        feed's registry entry (its items are published once more; downstream is idempotent), never a stopped poller."""
        try:
            value, partition = (await latest_values(settings, "feeds", {key})).get(key, (None, -1))
            if partition >= 0 and partition not in self.owned_partitions():
                return  # another poller owns the feed now and repairs it
            source = None
            if value is not None:
                try:
                    source = decode(FeedSource, value)
                except DecodeError as bad:
                    log.error("feed %s: its registry entry cannot be decoded either: %s", key, bad, extra={"feed_id": key})
            await dead_letter_state(
                key, raw, partition, exc, "replaced by a fresh state" if source else "dropped (no usable registry entry)"
            )
            if feed_state_table.data.get(key) is not raw:
                return  # written meanwhile (the registry agent, a newer changelog record): that value wins
            if source is None:
                feed_state_table.data.pop(key, None)
                if partition >= 0:
                    feed_state_table.send_changelog(partition, key, None)
            else:
                self.store(key, FeedState(source=source, partition=partition))
            self.repairing.pop(key, None)
        except Exception:
            log.exception(
                "feed %s: repairing its stored state failed; tried again in %.0f s", key, REPAIR_RETRY_SECONDS, extra={"feed_id": key}
            )
            asyncio.get_running_loop().call_later(REPAIR_RETRY_SECONDS, self._forget_repair, key, raw)

    def _forget_repair(self, key: str, raw: bytes) -> None:
        if self.repairing.get(key) is raw:
            del self.repairing[key]  # the next tick tries again

    async def close(self) -> None:
        """Close the HTTP client and stop the parser processes (at shutdown)."""
        if self.fetcher is not None:
            await self.fetcher.__aexit__(None, None, None)
            self.fetcher = None
        self.parser.kill()

    async def publish(self, key: str, state: FeedState, outcome: PollOutcome) -> FeedState:
        """Publish a poll's articles and return the state to save.

        Publish before saving the state: a crash in between re-publishes (idempotent downstream), never loses. All of a
        feed's articles are sent at once and then awaited: one round-trip per poll, not per item. An article Kafka
        refuses as too large is dead-lettered by reference and the others go on; any other failure keeps the items
        unseen (the next poll, after the error backoff, publishes them again).
        """
        outbox = Outbox()
        for article in outcome.articles:
            await outbox.send(articles_out_topic, article.id, encode(article), owner=article.id)
        failures = await outbox.flush()
        too_big = {article_id for article_id, exc in failures.items() if too_large(exc)}
        others = {article_id: exc for article_id, exc in failures.items() if article_id not in too_big}
        if others:
            exc = next(iter(others.values()))
            return publish_failed(state, settings, time.time(), f"{len(others)} article(s) not published: {type(exc).__name__}: {exc}")
        refused = [(a, f"{type(failures[a.id]).__name__}: {failures[a.id]}") for a in outcome.articles if a.id in too_big]
        refused += [(article, str(exc)) for article, exc in outcome.refused]
        for article, error in refused:
            await self.dead_letter(key, article, error)
        ARTICLES_PUBLISHED.labels("new").inc(outcome.new)
        ARTICLES_PUBLISHED.labels("revision").inc(outcome.revisions)
        if outcome.articles:
            log.info("feed %s: %d new, %d revised", state.source.url, outcome.new, outcome.revisions, extra={"feed_id": key})
        return outcome.state

    async def dead_letter(self, key: str, article: Article, error: str) -> None:
        """A dead letter by reference (size and SHA-256; partition and offset -1: it never reached Kafka) for an article
        that cannot be published; raises if the dead letter itself cannot be written (the poll then counts as failed)."""
        record = reference(
            key=article.id,
            value=encode(article),
            error=f"feed {key} ({article.feed_url}): article {article.id} ({article.url[:200]}) not published: {error}",
            topic=settings.topic("articles"),
            partition=-1,
            offset=-1,
            agent="poll_due_feeds",
        )
        await (await poller_deadletter_topic.send(key=record.key, value=encode(record)))
        DEAD_LETTERS.labels("poll_due_feeds").inc()
        log.error(
            "feed %s: dead-lettered article %s by reference: %s", key, article.id, error, extra={"feed_id": key, "article_id": article.id}
        )


scheduler = PollScheduler()


@poller_app.on_before_shutdown.connect
def close_scheduler(_app: Any, /, *_args: Any, signal: Any, **_kwargs: Any) -> Awaitable[None]:
    """Close the fetcher's connections before the loop ends (else aiohttp reports an unclosed session)."""
    return scheduler.close()


@poller_app.timer(interval=settings.poll_tick_seconds)
@survives
async def poll_due_feeds() -> None:
    """Each tick, start polls for the feeds that are due."""
    await scheduler.tick()
