"""Poller benchmark: 5,000 feeds built from the real captures on a local server; 304 cycle, new-content cycle, memory."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
from aiokafka import AIOKafkaProducer

from schemas import FeedSource, encode
from streams.config import Settings
from streams.errors import FeedError
from streams.kafka.admin import delete_topics, ensure_topics
from streams.poll.fetch import Fetcher
from streams.poll.parse import parse_feed
from streams.poll.parserpool import ParserPool
from streams.poll.state import FeedState
from streams.poll.steps import poll_feed

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
# Real captures of news sites and blogs; feedparser's own test documents are left out (one tiny item each).
SOURCES = ("feedjira-2009", "feedjira", "rss-parser", "miniflux", "photojournalism")
HOSTS = [f"127.0.0.{10 + i}" for i in range(25)]  # feeds spread over 25 'sites', as a real feed list is


def real_feeds() -> list[bytes]:
    """Every real captured feed that yields at least one article, in a stable order."""
    source = FeedSource(id="bench", url="http://bench/")
    now = datetime.now(tz=UTC)
    bodies = []
    for folder in SOURCES:
        for path in sorted((DATA / "feeds" / folder).rglob("*")):
            if not path.is_file() or path.suffix not in (".xml", ".rss", ".atom", ".json"):
                continue
            body = path.read_bytes()
            try:
                if parse_feed(body, source, now).articles:
                    bodies.append(body)
            except FeedError:
                continue
    return bodies


def serve(port: int, ready: Any) -> None:
    """The feed server (a process of its own): /feed/<n> is real feed n mod count, with an ETag; 304 when it matches."""
    from aiohttp import web

    bodies = real_feeds()

    async def handle(request: web.Request) -> web.Response:
        number = int(request.match_info["n"])
        etag = f'"{number}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=bodies[number % len(bodies)], headers={"ETag": etag}, content_type="application/xml")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in HOSTS:
            await web.TCPSite(runner, host, port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def cycle(states: dict[str, FeedState], fetcher: Fetcher, parser: ParserPool, producer: AIOKafkaProducer, topic: str,
                settings: Settings) -> tuple[float, Counter[str], int]:  # fmt: skip
    """Poll every feed once as the poller does (fetch, parse, publish and await the acks, keep the state)."""
    statuses: Counter[str] = Counter()
    items = 0
    slots = asyncio.Semaphore(settings.fetch_concurrency)  # as the poller's scheduler limits polls in progress

    async def one(key: str, state: FeedState) -> None:
        nonlocal items
        async with slots:
            outcome = await poll_feed(state, fetcher, parser, settings, time.time())
        pending = [await producer.send(topic, key=a.id.encode(), value=encode(a)) for a in outcome.articles]
        await asyncio.gather(*pending)
        states[key] = FeedState.loads(outcome.state.dumps())  # what the table stores and the next tick reads
        statuses[outcome.status] += 1
        items += len(outcome.articles)

    started = time.perf_counter()
    await asyncio.gather(*(one(key, state) for key, state in list(states.items())))
    return time.perf_counter() - started, statuses, items


async def run_cycles(count: int, port: int, parse_workers: int | None = None) -> dict[str, Any]:
    """A new-content cycle then a 304 cycle over ``count`` fresh feeds; ``parse_workers`` None: the default."""
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = {} if parse_workers is None else {"parse_workers": parse_workers}
    settings = Settings(topic_prefix=f"{namespace}.", app_prefix=namespace, fetch_allow_hosts=["127.0.0.0/8"], parse_timeout_seconds=30.0,
                        **options)  # fmt: skip
    await ensure_topics(settings)
    states = {}
    for n in range(count):
        url = f"http://{HOSTS[n % len(HOSTS)]}:{port}/feed/{n}"
        states[str(n)] = FeedState(source=FeedSource(id=str(n), url=url), partition=0)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    parser = ParserPool(settings.parse_timeout_seconds, settings.parse_workers)
    try:
        async with Fetcher(settings) as fetcher:
            new_s, new_statuses, items = await cycle(states, fetcher, parser, producer, settings.topic("articles"), settings)
            same_s, same_statuses, _ = await cycle(states, fetcher, parser, producer, settings.topic("articles"), settings)
        poller_mb, parser_mb = rss_mb(), sum(rss_mb(pid) for pid in parser.pids())
    finally:
        parser.kill()
        await producer.stop()
        with contextlib.suppress(Exception):  # throwaway topics: left behind, every run adds ~150 partitions
            await delete_topics(settings)
    return {"feeds": count, "parse_workers": settings.parse_workers, "new_s": new_s, "items": items, "new_statuses": dict(new_statuses), "same_s": same_s,
            "same_statuses": dict(same_statuses), "rss_mb": poller_mb + parser_mb, "poller_mb": poller_mb, "parser_mb": parser_mb}  # fmt: skip


def bare_parse_seconds(count: int, runs: int = 3) -> float:
    """Bare ``feedparser.parse`` over the same ``count`` bodies in one process.

    Each distinct body is timed and counted as often as it is served; the best of ``runs`` passes,
    the least disturbed by other work on a shared machine.
    """
    bodies = real_feeds()
    repeats = Counter(n % len(bodies) for n in range(count))
    best = float("inf")
    for _ in range(runs):
        total = 0.0
        for index, times in repeats.items():
            started = time.perf_counter()
            feedparser.parse(bodies[index], sanitize_html=False, resolve_relative_uris=False)
            total += (time.perf_counter() - started) * times
        best = min(best, total)
    return best


def bench_poller(count: int = 5000) -> dict[str, Any]:
    """Full poll cycles over ``count`` feeds on a local server, one poller process, publishing to the real broker.

    Run twice: with the default parser processes (one per CPU, at most 4) and with a single one, so
    both ratios are reported; the figures without a suffix are the default's.
    """
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    port = 18000 + os.getpid() % 1000
    server = context.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the benchmark feed server did not start")
        result = asyncio.run(run_cycles(count, port))
        single = asyncio.run(run_cycles(count, port, parse_workers=1))
    finally:
        server.kill()
        server.join()
    bare_s = bare_parse_seconds(count)
    result.update(
        {
            "new_feeds_s": count / result["new_s"],
            "new_items_s": result["items"] / result["new_s"],
            "bare_feeds_s": count / bare_s,
            "ratio": bare_s / result["new_s"],
            "cores": len(os.sched_getaffinity(0)),
            "new_s_1worker": single["new_s"],
            "new_feeds_s_1worker": count / single["new_s"],
            "ratio_1worker": bare_s / single["new_s"],
        }
    )
    return result


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    result = bench_poller(count)
    for key, value in result.items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
