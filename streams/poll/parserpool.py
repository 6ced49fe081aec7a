"""Parser processes: feedparser and trafilatura run apart from the poller's loop, one job each, with a deadline."""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any, TypeVar

from schemas import FeedSource
from streams.config import get_settings
from streams.errors import FeedError, FulltextError
from streams.poll.discover import FoundFeed, discover_feeds
from streams.poll.pagetext import extract_text
from streams.poll.parse import ParsedFeed, parse_feed

_T = TypeVar("_T")


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space (runs first in each parser process): a parse that would take the machine
    gets a ``MemoryError`` instead, which the pool turns into a :class:`FeedError` and replaces the process."""
    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


class ParserPool:
    """feedparser in separate processes with a deadline; a parse that overruns kills its process.

    Each process holds one parse at a time and the deadline starts when it is handed over, so a queue
    of feeds waiting to be parsed never counts against any of them, and killing an overrunning parse
    never takes another one down with it.
    """

    def __init__(self, timeout: float, workers: int = 1, max_memory_mb: int | None = None) -> None:
        self.timeout = timeout
        #: address-space limit of each process (RLIMIT_AS), by default ``WIREWATCH_PARSE_MAX_MEMORY_MB``
        self.max_memory_mb = max_memory_mb if max_memory_mb is not None else get_settings().parse_max_memory_mb
        self._pools: list[ProcessPoolExecutor | None] = [None] * workers
        self._free: asyncio.Queue[int] | None = None

    def _executor(self, index: int) -> ProcessPoolExecutor:
        pool = self._pools[index]
        if pool is None:
            # spawn, not fork: the poller runs threads and an event loop that must not be copied
            pool = self._pools[index] = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=limit_memory, initargs=(self.max_memory_mb,)
            )
        return pool

    async def parse(self, body: bytes, source: FeedSource, fetched: datetime) -> ParsedFeed:
        """``parse_feed`` in a parser process; raises :class:`FeedError`."""
        return await self._run(f"parsing feed {source.id} ({source.url})", parse_feed, body, source, fetched)

    async def discover(self, body: bytes, page_url: str) -> list[FoundFeed]:
        """The feeds a web page names (``<link rel="alternate">``), read in a parser process; raises :class:`FeedError`."""
        return await self._run(f"reading the page {page_url} for feeds", discover_feeds, body, page_url)

    async def extract(self, body: bytes, content_type: str, url: str, title: str) -> str:
        """An article page's main text, extracted in a parser process; raises :class:`FulltextError`."""
        try:
            return await self._run(f"extracting the text of {url}", extract_text, body, content_type, url, title)
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
            except MemoryError as exc:
                # the process's heap may be left in pieces: a fresh process takes the next job
                self._kill(index)
                raise FeedError(
                    f"{what} needed more than the parser's {self.max_memory_mb} MB (WIREWATCH_PARSE_MAX_MEMORY_MB); parser process replaced"
                ) from exc
            except BrokenProcessPool as exc:
                self._kill(index)  # the process died (a crash in C code, killed from outside): a fresh one takes the next job
                raise FeedError(f"the parser process died while {what} (a fresh one takes the next job): {exc}") from exc
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
