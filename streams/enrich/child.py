"""spaCy in a child process: the worker's texts are parsed beside its event loop, not under the same interpreter lock."""

from __future__ import annotations

import logging
import signal
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any, NoReturn

from spacy.tokens import DocBin

from streams.enrich.model import load_model
from streams.errors import ChildDied
from streams.lifetime import die_with_parent

log = logging.getLogger(__name__)

#: texts per request to the child: small enough that the worker extracts entities from one group while the child
#: parses the next, large enough that nlp.pipe still batches (four of the agent's sixteen; measured in docs/benchmarks.md)
GROUP_TEXTS = 4

#: batches parsed ahead at most: the agent's batches in flight (WIREWATCH_ENRICH_CONCURRENCY) and a spare
PREFETCH_MAX = 4

_nlp: Any = None


def _start_child(name: str) -> None:
    """In the child: die with the worker, leave SIGTERM and Ctrl-C to it (it drains, then closes us), load the model."""
    global _nlp
    die_with_parent(signal.SIGKILL)  # it ignores SIGTERM, below
    # a SIGTERM to the worker's process group must not end a parse the worker is waiting for while it drains
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _nlp = load_model(name)


def _parse(texts: list[str], batch_size: int) -> bytes:
    """In the child: the texts through ``nlp.pipe``, as a DocBin (every annotation the extraction reads)."""
    return DocBin(docs=_nlp.pipe(texts, batch_size=batch_size)).to_bytes()


def _ready() -> str:
    """In the child: the loaded pipeline's name, once the model is in memory."""
    return str(_nlp.meta.get("wirewatch_name", ""))


class ChildPipeline:
    """The parts of a spaCy ``Language`` the extraction uses (``pipe``, ``meta``, ``vocab``, ``max_length``), with
    the parsing done by one child process.

    The worker keeps the model's vocabulary (no weights) to read the child's docs back; ``pipe`` sends the texts in
    groups of :data:`GROUP_TEXTS` and yields each group's docs as it comes back, so the extraction of one group
    overlaps the parse of the next. A child that dies (killed, out of memory) fails the call in flight with
    :class:`~streams.errors.ChildDied`; the next call starts a new one.
    """

    def __init__(self, name: str, group: int = GROUP_TEXTS) -> None:
        self.name = name
        self.group = max(1, group)
        # raises ModelNotInstalled here, in the worker, with the words that say how to install it
        self.local = load_model(name, components=False)
        self.meta = self.local.meta
        self.vocab = self.local.vocab
        self.max_length = self.local.max_length
        self._pool: ProcessPoolExecutor | None = None
        # prefetches made on the event loop, read on the NLP thread in the same order
        self._lock = threading.Lock()
        self._ahead: deque[tuple[list[str], list[Future[bytes]]]] = deque()

    def open(self) -> None:
        """Start the child and wait until its model is loaded (the first call would otherwise wait for it)."""
        self._call(self._submit(_ready))

    def prefetch(self, texts: list[str], batch_size: int = 16) -> None:
        """Start parsing ``texts`` now; the next :meth:`pipe` of the same texts reads these docs.

        Called on the event loop as a batch arrives, while the NLP thread still extracts the one before: the child
        then goes from one batch to the next without waiting for the worker.
        """
        futures = self._groups(texts, batch_size)
        with self._lock:
            self._ahead.append((texts, futures))
            while len(self._ahead) > PREFETCH_MAX:
                self._cancel(self._ahead.popleft()[1])

    def pipe(self, texts: Iterable[str], batch_size: int = 16) -> Iterator[Any]:
        """One doc per text, in order, parsed in the child (or read from a :meth:`prefetch` of the same texts)."""
        items = list(texts)
        pending: list[Future[bytes]] = []
        try:
            pending += self._prefetched(items) or self._groups(items, batch_size)
            for future in pending:
                yield from DocBin().from_bytes(self._call(future)).get_docs(self.vocab)
        finally:
            self._cancel(pending)

    def _groups(self, texts: list[str], batch_size: int) -> list[Future[bytes]]:
        return [self._submit(_parse, texts[at : at + self.group], batch_size) for at in range(0, len(texts), self.group)]

    def _prefetched(self, texts: list[str]) -> list[Future[bytes]]:
        """The futures of a prefetch of exactly ``texts``, if any; prefetches before it (their batch failed) are dropped,
        and none when there is none (a retry one by one, a backtest: the prefetches after them stay)."""
        with self._lock:
            match = next((n for n, (ahead, _) in enumerate(self._ahead) if ahead == texts), None)
            if match is None:
                return []
            for _ in range(match):
                self._cancel(self._ahead.popleft()[1])
            return self._ahead.popleft()[1]

    @staticmethod
    def _cancel(futures: list[Future[bytes]]) -> None:
        for future in futures:
            future.cancel()

    def pid(self) -> int | None:
        """The child's process id, or None before it starts."""
        processes = list((self._pool._processes or {}).values()) if self._pool is not None else []  # noqa: SLF001 - no public accessor
        return processes[0].pid if processes else None

    def close(self) -> None:
        """End the child (it finishes the group it parses)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit(self, function: Any, *args: Any) -> Future[Any]:
        if self._pool is None:
            # spawn, not fork: the worker has an event loop, Kafka clients and threads that a fork would copy half-way
            self._pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_start_child, initargs=(self.name,))
        try:
            return self._pool.submit(function, *args)
        except BrokenProcessPool as exc:
            self._died(exc)

    def _call(self, future: Future[Any]) -> Any:
        try:
            return future.result()
        except BrokenProcessPool as exc:
            self._died(exc)

    def _died(self, exc: BrokenProcessPool) -> NoReturn:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        log.error("enrich: the spaCy child process died (%s); the next batch starts a new one", exc)
        raise ChildDied(f"the spaCy child process died while parsing ({exc}); a new one starts with the next batch") from exc
