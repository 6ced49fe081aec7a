"""Parser processes: feedparser and trafilatura run apart from the poller's loop, one job each, with a deadline."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any, TypeVar

from schemas import FeedSource
from streams.errors import FeedError, FulltextError
from streams.poll.pagetext import extract_text
from streams.poll.parse import ParsedFeed, parse_feed

_T = TypeVar("_T")


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
