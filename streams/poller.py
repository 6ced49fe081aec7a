"""One poll of one feed as named steps: conditional request, response check, parse, dedup, schedule."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from pydantic import BaseModel, ConfigDict, Field

from schemas import Article, FeedSource
from streams.config import Settings
from streams.feeds import FeedError, ParsedFeed, parse_feed
from streams.fetch import Fetcher, FetchError, FetchResult

log = logging.getLogger(__name__)

RECENT_ITEMS = 500  # item ids remembered per feed: more than any feed keeps in its window
BROKEN_AFTER_ERRORS = 10


class FeedState(BaseModel):
    """A feed and everything its poller remembers between polls (a value of the feed-state table)."""

    model_config = ConfigDict(extra="ignore")

    source: FeedSource
    partition: int
    etag: str | None = None
    last_modified: str | None = None
    next_check: float = 0.0
    last_poll: float | None = None
    last_status: str = "new"
    last_error: str | None = None
    error_count: int = 0
    items_seen: int = 0
    #: article id → [content hash, revision] of recently seen items, oldest first
    recent: dict[str, list[str | int]] = Field(default_factory=dict)

    @property
    def broken(self) -> bool:
        return self.error_count >= BROKEN_AFTER_ERRORS

    def dumps(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def loads(cls, data: bytes) -> FeedState:
        return cls.model_validate(orjson.loads(data))


@dataclass
class PollOutcome:
    """What a poll produced: the state to store, the articles to publish and a one-line status."""

    state: FeedState
    articles: list[Article] = field(default_factory=list)
    new: int = 0
    revisions: int = 0
    status: str = "ok"
    error_kind: str | None = None


def next_interval(settings: Settings, source: FeedSource, error_count: int, hint: float | None) -> float:
    """Seconds until the next poll: the server's hint or the default, backed off on errors, clamped."""
    low = source.min_interval_seconds or settings.poll_min_interval_seconds
    high = source.max_interval_seconds or settings.poll_max_interval_seconds
    interval = hint if hint is not None else float(settings.poll_interval_seconds)
    if error_count:
        interval = max(interval, low) * (2 ** min(error_count, 16))
    return float(min(max(interval, low), high))


class ParserPool:
    """feedparser in a separate process with a deadline; a parse that overruns kills its process."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the poller runs threads and an event loop that must not be copied
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    async def parse(self, body: bytes, source: FeedSource, fetched: datetime) -> ParsedFeed:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor(), parse_feed, body, source, fetched)
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError as exc:
            self.kill()
            raise FeedError(f"parsing took longer than {self.timeout:g} s (parser process killed)") from exc

    def kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)


async def poll_feed(state: FeedState, fetcher: Fetcher, parser: ParserPool, settings: Settings, now: float) -> PollOutcome:
    """Poll one feed once and return the new state and the articles to publish."""
    source = state.source
    state = state.model_copy(update={"last_poll": now})
    try:
        result = await fetcher.get(source.url, state.etag, state.last_modified)
    except FetchError as exc:
        return _failed(state, settings, now, exc.kind, str(exc), exc.retry_after)
    if result.not_modified:
        state = state.model_copy(update={"last_status": "not_modified", "error_count": 0, "last_error": None})
        return PollOutcome(_scheduled(state, settings, now, result.max_age), status="not_modified")
    fetched = datetime.fromtimestamp(now, tz=UTC)
    try:
        parsed = await parser.parse(result.body, source, fetched)
    except FeedError as exc:
        return _failed(state, settings, now, "parse", str(exc), None)
    except Exception as exc:  # noqa: BLE001 - a crashed parser process must not stop polling
        return _failed(state, settings, now, "parse", f"{type(exc).__name__}: {exc}", None)
    outcome = _new_items(state, parsed, result)
    hint = result.max_age if result.max_age is not None else parsed.ttl_seconds
    outcome.state = _scheduled(outcome.state, settings, now, hint)
    return outcome


def _new_items(state: FeedState, parsed: ParsedFeed, result: FetchResult) -> PollOutcome:
    recent = dict(state.recent)
    articles: list[Article] = []
    new = revisions = 0
    for article in parsed.articles:
        seen = recent.get(article.id)
        if seen and seen[0] == article.content_hash:
            continue
        if seen:
            revision = int(seen[1]) + 1
            article = article.model_copy(update={"revision": revision})
            revisions += 1
        else:
            new += 1
        recent.pop(article.id, None)
        recent[article.id] = [article.content_hash, article.revision]
        articles.append(article)
    while len(recent) > RECENT_ITEMS:
        recent.pop(next(iter(recent)))
    state = state.model_copy(
        update={
            "etag": result.etag,
            "last_modified": result.last_modified,
            "last_status": "ok",
            "last_error": None,
            "error_count": 0,
            "items_seen": state.items_seen + new,
            "recent": recent,
        }
    )
    return PollOutcome(state, articles, new=new, revisions=revisions)


def _scheduled(state: FeedState, settings: Settings, now: float, hint: float | None) -> FeedState:
    delay = next_interval(settings, state.source, state.error_count, hint)
    return state.model_copy(update={"next_check": now + delay})


def _failed(state: FeedState, settings: Settings, now: float, kind: str, message: str, retry_after: float | None) -> PollOutcome:
    errors = state.error_count + 1
    log.warning("feed %s (%s): %s", state.source.id, state.source.url, message, extra={"feed_id": state.source.id, "error_kind": kind})
    state = state.model_copy(
        update={
            "last_status": "broken" if errors >= BROKEN_AFTER_ERRORS else "error",
            "last_error": f"{kind}: {message}",
            "error_count": errors,
        }
    )
    delay = next_interval(settings, state.source, errors, None)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return PollOutcome(state.model_copy(update={"next_check": now + delay}), status="error", error_kind=kind)
