"""One poll of one feed as named steps: conditional request, response check, parse, dedup, schedule."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from schemas import Article, FeedSource
from streams.config import Settings
from streams.feeds import FeedError, ParsedFeed, parse_feed
from streams.fetch import Fetcher, FetchError, FetchResult
from streams.fulltext import FulltextError, add_fulltext, extract_text

log = logging.getLogger(__name__)

RECENT_ITEMS = 500  # item ids remembered per feed: more than any feed keeps in its window
WEEK = 7 * 86_400.0
CLOCK_SKEW = 86_400.0  # items dated further in the future than this are ignored by the adaptive interval
_T = TypeVar("_T")


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
    #: the interval the feed's own posting frequency suggests (None until it has dated items)
    interval: float | None = None
    #: article id → [content hash, revision] of recently seen items, oldest first
    recent: dict[str, list[str | int]] = Field(default_factory=dict)

    @property
    def broken(self) -> bool:
        return self.last_status == "broken"

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
    fetch_seconds: float = 0.0
    parse_seconds: float = 0.0
    #: full-text fetches of this poll by outcome (ok, fetch_timeout, fetch_blocked, not_html, empty, ...)
    fulltext: Counter[str] = field(default_factory=Counter)


def interval_bounds(settings: Settings, source: FeedSource) -> tuple[float, float]:
    """The feed's own min/max interval, else the settings'."""
    low = source.min_interval_seconds or settings.poll_min_interval_seconds
    high = source.max_interval_seconds or settings.poll_max_interval_seconds
    return float(low), float(max(low, high))


def adaptive_interval(published: list[float], now: float, low: float, high: float) -> float | None:
    """Interval from the feed's posting frequency: a week over the items of the last week, clamped.

    None when no item is dated (the default interval applies); ``high`` when the feed has dated items
    but none from the last week (a quiet feed is polled rarely). Items dated far in the future are
    ignored: a wrong clock must not make a feed look busy.
    """
    dated = [t for t in published if t <= now + CLOCK_SKEW]
    if not dated:
        return None
    recent = sum(1 for t in dated if t >= now - WEEK)
    if not recent:
        return high
    return min(max(WEEK / recent, low), high)


def next_interval(settings: Settings, source: FeedSource, error_count: int, hint: float | None, base: float | None = None) -> float:
    """Seconds until the next poll, clamped by the feed's min/max.

    ``base`` is the adaptive interval (else the default); a server's hint (max-age, Expires, TTL) can
    only lengthen it, never make us poll sooner; errors back it off exponentially.
    """
    low, high = interval_bounds(settings, source)
    interval = base if base is not None else float(settings.poll_interval_seconds)
    if hint is not None:
        interval = max(interval, hint)
    if error_count:
        interval = max(interval, low) * (2 ** min(error_count, 16))
    return float(min(max(interval, low), high))


class ParserPool:
    """feedparser in separate processes with a deadline; a parse that overruns kills its process.

    Each process holds one parse at a time and the deadline starts when it is handed over, so a queue
    of feeds waiting to be parsed never counts against any of them, and killing an overrunning parse
    never takes another one down with it.
    """

    def __init__(self, timeout: float, workers: int = 1) -> None:
        self.timeout = timeout
        self._pools: list[ProcessPoolExecutor | None] = [None] * workers
        self._free: asyncio.Queue[int] | None = None

    def _executor(self, index: int) -> ProcessPoolExecutor:
        pool = self._pools[index]
        if pool is None:
            # spawn, not fork: the poller runs threads and an event loop that must not be copied
            pool = self._pools[index] = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return pool

    async def parse(self, body: bytes, source: FeedSource, fetched: datetime) -> ParsedFeed:
        """``parse_feed`` in a parser process; raises :class:`FeedError`."""
        return await self._run("parsing", parse_feed, body, source, fetched)

    async def extract(self, body: bytes, content_type: str, url: str, title: str) -> str:
        """An article page's main text, extracted in a parser process; raises :class:`FulltextError`."""
        try:
            return await self._run("extraction", extract_text, body, content_type, url, title)
        except FeedError as exc:
            raise FulltextError("extract_failed", str(exc)) from exc

    async def _run(self, what: str, function: Callable[..., _T], *args: Any) -> _T:
        if self._free is None:
            self._free = asyncio.Queue()
            for index in range(len(self._pools)):
                self._free.put_nowait(index)
        index = await self._free.get()
        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor(index), function, *args)
            try:
                return await asyncio.wait_for(future, self.timeout)
            except TimeoutError as exc:
                self._kill(index)
                raise FeedError(f"{what} took longer than {self.timeout:g} s (parser process killed)") from exc
            except BrokenProcessPool as exc:
                self._kill(index)  # the process died (out of memory, a crash in C code): a fresh one takes the next job
                raise FeedError(f"the parser process died: {exc}") from exc
        finally:
            self._free.put_nowait(index)

    def pids(self) -> list[int]:
        """Process ids of the running parser processes."""
        return [process.pid for pool in self._pools if pool is not None for process in getattr(pool, "_processes", {}).values()]

    def _kill(self, index: int) -> None:
        pool, self._pools[index] = self._pools[index], None
        if pool is None:
            return
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def kill(self) -> None:
        """Stop every parser process (shutdown)."""
        for index in range(len(self._pools)):
            self._kill(index)


async def poll_feed(state: FeedState, fetcher: Fetcher, parser: ParserPool, settings: Settings, now: float) -> PollOutcome:
    """Poll one feed once and return the new state and the articles to publish."""
    source = state.source
    state = state.model_copy(update={"last_poll": now})
    started = time.monotonic()
    try:
        result = await fetcher.get(source.url, state.etag, state.last_modified)
    except FetchError as exc:
        failed = _failed(state, settings, now, exc.kind, str(exc), exc.retry_after)
        failed.fetch_seconds = time.monotonic() - started
        return failed
    if result.not_modified:
        state = state.model_copy(update={"last_status": "not_modified", "error_count": 0, "last_error": None})
        return PollOutcome(_scheduled(state, settings, now, result.max_age), status="not_modified", fetch_seconds=result.elapsed)
    fetched = datetime.fromtimestamp(now, tz=UTC)
    parse_started = time.monotonic()
    try:
        parsed = await parser.parse(result.body, source, fetched)
    except FeedError as exc:
        return _failed(state, settings, now, "parse", str(exc), None)
    except Exception as exc:  # noqa: BLE001 - a crashed parser process must not stop polling
        return _failed(state, settings, now, "parse", f"{type(exc).__name__}: {exc}", None)
    outcome = _new_items(state, parsed, result)
    outcome.fetch_seconds = result.elapsed
    outcome.parse_seconds = time.monotonic() - parse_started
    # only the new articles and revisions reach here: a page is fetched once per item version, never per poll
    outcome.articles, outcome.fulltext = await add_fulltext(outcome.articles, source, fetcher, parser, settings)
    hint = result.max_age if result.max_age is not None else parsed.ttl_seconds
    low, high = interval_bounds(settings, source)
    published = [article.published.timestamp() for article in parsed.articles if article.published is not None]
    outcome.state = outcome.state.model_copy(update={"interval": adaptive_interval(published, now, low, high)})
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
    delay = next_interval(settings, state.source, state.error_count, hint, state.interval)
    return state.model_copy(update={"next_check": now + delay})


def _failed(state: FeedState, settings: Settings, now: float, kind: str, message: str, retry_after: float | None) -> PollOutcome:
    errors = state.error_count + 1
    log.warning("feed %s (%s): %s", state.source.id, state.source.url, message, extra={"feed_id": state.source.id, "error_kind": kind})
    state = state.model_copy(
        update={
            "last_status": "broken" if errors >= settings.poll_broken_after_errors else "error",
            "last_error": f"{kind}: {message}",
            "error_count": errors,
        }
    )
    delay = next_interval(settings, state.source, errors, None, state.interval)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return PollOutcome(state.model_copy(update={"next_check": now + delay}), status="error", error_kind=kind)
