"""RELIABILITY.md "Fetching feeds", the limits: oversized and compressed bodies cut at the cap, slow feeds at their deadline."""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from schemas import FeedSource
from streams.errors import FetchError
from streams.poll.fetch import Fetcher
from streams.poll.parserpool import ParserPool
from streams.poll.state import FeedState
from streams.poll.steps import poll_feed
from tests.figures import record_figure
from tests.integration.test_fetch_security import FEED, MB, PUBLIC_HOST, public_settings, rss_bytes
from tests.loopback import serve

# ---------------------------------------------------------------- oversized and compressed bombs


def gzip_bomb_parts(megabytes: int) -> tuple[bytes, bytes, int]:
    """A gzip stream of ``megabytes`` MB of zeros as (first part, repeated part, repeats).

    After a full flush deflate starts afresh, so the same 1 MB of input compresses to the same bytes:
    the bomb is streamed without ever compressing 10 GB.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * MB
    head = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    unit = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    check = zlib.decompressobj(31)
    assert len(check.decompress(head + unit * 3)) == 4 * MB
    return head, unit, megabytes - 1


@dataclass
class Sent:
    bytes: int = 0
    finished: bool = False
    #: set once the handler stops sending, done or hung up on: from then on ``finished`` is final
    ended: asyncio.Event = field(default_factory=asyncio.Event)


def bomb_app(sent: dict[str, Sent]) -> web.Application:
    head, unit, repeats = gzip_bomb_parts(10 * 1024)  # 10 GB of zeros in about 10 MB

    async def gzip_bomb(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"})
        await response.prepare(request)
        record = sent.setdefault("gzip", Sent())
        await stream(response, record, [head] + [unit * 64] * (repeats // 64))
        return response

    async def huge_length(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.content_length = 2 * 1024 * 1024 * 1024
        await response.prepare(request)
        await stream(response, sent.setdefault("length", Sent()), [b"<rss>" + b" " * 65_536] * 200)
        return response

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await stream(response, sent.setdefault("chunked", Sent()), (b"<item>" + b"x" * 65_530 for _ in iter(int, 1)))
        return response

    app = web.Application()
    app.router.add_get("/gzip", gzip_bomb)
    app.router.add_get("/length", huge_length)
    app.router.add_get("/chunked", endless)
    return app


async def stream(response: web.StreamResponse, record: Sent, parts: Any) -> None:
    try:
        for part in parts:
            await response.write(part)
            record.bytes += len(part)
        record.finished = True
    except (ConnectionError, RuntimeError):
        pass  # the client hung up: that is the point
    finally:
        record.ended.set()


@pytest.mark.parametrize(("name", "decompressed_cap"), [("gzip", True), ("length", False), ("chunked", True)])
async def test_oversized_bodies_are_cut_at_the_cap(name: str, decompressed_cap: bool) -> None:
    sent: dict[str, Sent] = {name: Sent()}
    runner, port = await serve(bomb_app(sent), PUBLIC_HOST)
    settings = public_settings(fetch_timeout_seconds=60.0)  # the default 10 MB cap, a deadline that is not the limit
    cap = settings.fetch_max_bytes
    before = rss_bytes()
    try:
        async with Fetcher(settings) as fetcher:
            started = asyncio.get_running_loop().time()
            with pytest.raises(FetchError, match="exceeds the cap") as caught:
                await fetcher.get(f"http://{PUBLIC_HOST}:{port}/{name}")
            elapsed = asyncio.get_running_loop().time() - started
        # the positive signal: the server's handler stopped sending (it noticed the hang-up, or sent it all)
        await asyncio.wait_for(sent[name].ended.wait(), 60)
    finally:
        await runner.cleanup()
    assert caught.value.kind == "too_large"
    if decompressed_cap:
        # the body was read up to the cap, one read chunk over at most, then abandoned
        assert cap < caught.value.received <= cap + 64 * 1024
    else:
        assert caught.value.received == 0  # refused on the header alone
    assert not sent[name].finished  # the server never got to send it all
    growth = (rss_bytes() - before) / MB
    assert growth < 50
    what = {"gzip": "10 MB gzip expanding to 10 GB", "length": "Content-Length: 2G", "chunked": "endless chunked body"}[name]
    record_figure("oversized and compressed bodies are cut", f"{what}: cut after", elapsed, "s")
    # RSS of this process (fetcher and the test server together); it may even shrink as garbage is collected
    record_figure("oversized and compressed bodies are cut", f"{what}: memory growth (fetcher and server)", max(growth, 0.0), "MB")


# ---------------------------------------------------------------- slow feeds


async def test_slow_drip_feeds_cannot_stall_healthy_ones() -> None:
    """50 feeds dripping a byte every 2 s, each on its own port, and 5 healthy feeds polled while they drip.

    Figures: how far each slow feed's abort lies from its total deadline, and how much longer a healthy feed's poll
    takes beside the 50 than alone (RELIABILITY.md: "each aborted at its total deadline ± 1 s; healthy feeds
    delayed < 1 s").
    """

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        try:
            for _ in range(60):
                await response.write(b" ")
                await asyncio.sleep(2)
        except (ConnectionError, RuntimeError):
            pass
        return response

    async def healthy(_request: web.Request) -> web.Response:
        return web.Response(body=FEED, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/drip", drip)
    app.router.add_get("/feed.xml", healthy)
    runner = web.AppRunner(app)
    await runner.setup()
    ports = []
    for _ in range(55):
        site = web.TCPSite(runner, PUBLIC_HOST, 0)
        await site.start()
        ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    deadline = 3.0
    # more connections than slow feeds: a pool full of slow feeds would stall every other feed
    settings = public_settings(fetch_timeout_seconds=deadline, fetch_concurrency=64)
    loop = asyncio.get_running_loop()
    finished: list[str] = []
    seconds: dict[str, float] = {}
    parser = ParserPool(10.0)

    async def poll(name: str, url: str, after: float = 0.0) -> Any:
        await asyncio.sleep(after)
        started = loop.time()
        outcome = await poll_feed(FeedState(source=FeedSource(id=name, url=url), partition=0), fetcher, parser, settings, 0.0)
        seconds[name] = loop.time() - started
        finished.append(name)
        return outcome

    healthy_urls = [f"http://{PUBLIC_HOST}:{port}/feed.xml" for port in ports[50:]]
    try:
        async with Fetcher(settings) as fetcher:
            await poll("warm-up", healthy_urls[0])  # the parser process starts outside the measured part
            alone = [await poll(f"alone{i}", url) for i, url in enumerate(healthy_urls)]
            slow = [poll(f"slow{i}", f"http://{PUBLIC_HOST}:{port}/drip") for i, port in enumerate(ports[:50])]
            # the healthy feeds start while all 50 are connected and dripping, spread over the first 2.5 s
            beside = [poll(f"beside{i}", url, after=0.5 + 0.5 * i) for i, url in enumerate(healthy_urls)]
            outcomes = await asyncio.gather(*slow, *beside)
    finally:
        parser.kill()
        await runner.cleanup()
    drips, good = outcomes[:50], outcomes[50:]
    assert [o.error_kind for o in drips] == ["timeout"] * 50
    assert all(o.state.last_error == "timeout: no complete response within 3 s" for o in drips)
    assert all(o.status == "ok" and o.new == 2 for o in good) and all(o.new == 2 for o in alone)
    # every healthy feed was done while all 50 slow feeds were still being waited for
    first_slow = min(finished.index(f"slow{i}") for i in range(50))
    assert all(finished.index(f"beside{i}") < first_slow for i in range(5)), finished
    off_deadline = max(abs(seconds[f"slow{i}"] - deadline) for i in range(50))
    delayed = max(seconds[f"beside{i}"] for i in range(5)) - max(seconds[f"alone{i}"] for i in range(5))
    row = "slow feeds cannot stall polling"
    record_figure(row, "50 drip feeds: furthest abort from the 3 s deadline", off_deadline, "s")
    record_figure(row, "50 drip feeds: slowest abort", max(seconds[f"slow{i}"] for i in range(50)), "s")
    record_figure(row, "healthy feeds beside them: longest extra time over the same poll alone", max(delayed, 0.0), "s")
