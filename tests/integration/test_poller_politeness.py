"""Politeness with exact request counts: a scripted server and the poll schedule replayed on simulated time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web

from schemas import FeedSource
from streams.config import Settings
from streams.poll.fetch import Fetcher
from streams.poll.parserpool import ParserPool
from streams.poll.schedule import WEEK, adaptive_interval
from streams.poll.state import FeedState
from streams.poll.steps import poll_feed
from tests.loopback import serve

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
T0 = NOW.timestamp()


def rss(items: int = 2, ttl: int | None = None, spacing: timedelta | None = None) -> bytes:
    """An invented feed of ``items`` items, the newest at NOW, ``spacing`` apart (undated without one)."""
    ttl_element = f"<ttl>{ttl}</ttl>" if ttl else ""
    parts = [
        f"<item><title>Harbour notice {i}</title><guid>notice-{i}</guid>"
        + (f"<pubDate>{format_datetime(NOW - spacing * i, usegmt=True)}</pubDate>" if spacing else "")
        + f"<description>Ferry timetable change number {i}.</description></item>"
        for i in range(items)
    ]
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Harbour</title>{ttl_element}'
        f"{''.join(parts)}</channel></rss>"
    ).encode()


class Scripted:
    """Answers per path as scripted and counts requests, conditional ones and the peak concurrency."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.conditional: dict[str, int] = {}
        self.in_flight = 0
        self.peak = 0
        self.script: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests[name] = self.requests.get(name, 0) + 1
        if "If-None-Match" in request.headers or "If-Modified-Since" in request.headers:
            self.conditional[name] = self.conditional.get(name, 0) + 1
        if name.startswith("slow"):
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            await asyncio.sleep(0.2)
            self.in_flight -= 1
            return web.Response(body=rss(), content_type="application/rss+xml")
        if name == "etag" and request.headers.get("If-None-Match") == '"e1"':
            return web.Response(status=304, headers={"ETag": '"e1"', "Cache-Control": "max-age=900"})
        if name == "modified" and request.headers.get("If-Modified-Since") == "Sat, 28 Nov 2026 10:00:00 GMT":
            return web.Response(status=304)
        steps = self.script[name]
        status, headers, body = steps[0] if len(steps) == 1 else steps.pop(0)
        return web.Response(status=status, headers=headers, body=body, content_type="application/rss+xml")


@pytest.fixture
async def server() -> AsyncIterator[tuple[Scripted, str]]:
    scripted = Scripted()
    app = web.Application()
    app.router.add_get("/{name}", scripted.handle)
    runner, port = await serve(app)
    yield scripted, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "fetch_allow_hosts": ["127.0.0.1/32"],
        "fetch_timeout_seconds": 5.0,
        "poll_interval_seconds": 300,
        "poll_min_interval_seconds": 60,
        "poll_max_interval_seconds": 86_400,
    }
    values.update(overrides)
    return Settings(**values)


async def replay(url: str, until: float, config: Settings) -> list[FeedState]:
    """Poll one feed each time it falls due from T0 until ``until`` (simulated seconds); the states after each poll."""
    state = FeedState(source=FeedSource(id="f", url=url), partition=0)
    states: list[FeedState] = []
    now = T0
    parser = ParserPool(10.0)
    try:
        async with Fetcher(config) as fetcher:
            while now < T0 + until:
                state = (await poll_feed(state, fetcher, parser, config, now)).state
                states.append(state)
                now = state.next_check
    finally:
        parser.kill()
    return states


OK_HEADERS = {"ETag": '"e1"', "Cache-Control": "max-age=900"}


async def test_etag_304_path(server: tuple[Scripted, str]) -> None:
    scripted, base = server
    scripted.script["etag"] = [(200, OK_HEADERS, rss())]
    states = await replay(f"{base}/etag", 3600, settings())
    # max-age 900 lengthens the 300 s default: polls at 0, 900, 1800, 2700; the last three conditional, all 304
    assert scripted.requests["etag"] == 4 and scripted.conditional["etag"] == 3
    assert [s.last_status for s in states] == ["ok", "not_modified", "not_modified", "not_modified"]
    assert states[-1].items_seen == 2


async def test_last_modified_304_path(server: tuple[Scripted, str]) -> None:
    scripted, base = server
    scripted.script["modified"] = [(200, {"Last-Modified": "Sat, 28 Nov 2026 10:00:00 GMT"}, rss())]
    states = await replay(f"{base}/modified", 1200, settings())
    assert scripted.requests["modified"] == 4 and scripted.conditional["modified"] == 3  # every 300 s
    assert states[-1].last_status == "not_modified"


async def test_rss_ttl_lengthens_the_interval(server: tuple[Scripted, str]) -> None:
    scripted, base = server
    scripted.script["ttl"] = [(200, {}, rss(ttl=30))]
    await replay(f"{base}/ttl", 3600, settings())
    assert scripted.requests["ttl"] == 2  # <ttl>30</ttl>: every 1800 s, not every 300 s


async def test_cache_control_and_expires(server: tuple[Scripted, str]) -> None:
    scripted, base = server
    scripted.script["maxage"] = [(200, {"Cache-Control": "public, max-age=1200"}, rss())]
    await replay(f"{base}/maxage", 3600, settings())
    assert scripted.requests["maxage"] == 3  # 0, 1200, 2400


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after(server: tuple[Scripted, str], status: int) -> None:
    scripted, base = server
    scripted.script["limited"] = [(status, {"Retry-After": "2000"}, b""), (200, {}, rss())]
    states = await replay(f"{base}/limited", 2100, settings())
    # one refused request, then nothing until Retry-After (2000 s, more than the 600 s backoff) has passed
    assert scripted.requests["limited"] == 2
    reason = "Too Many Requests" if status == 429 else "Service Unavailable"
    assert states[0].next_check == T0 + 2000
    # the error shows the server's value, what it was read as, and when the next attempt comes
    assert states[0].last_error == f"rate_limited: HTTP {status} {reason}, Retry-After '2000' (33 min); next attempt in 33 min"
    assert states[1].last_status == "ok" and states[1].error_count == 0


HOSTILE_HEADERS = {
    "retry-after-400-digits": (429, {"Retry-After": "9" * 400}),
    "retry-after-year-9999": (503, {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}),
    "retry-after-negative": (429, {"Retry-After": "-60"}),
    "retry-after-nan": (429, {"Retry-After": "NaN"}),
    "max-age-400-digits": (200, {"Cache-Control": "max-age=" + "9" * 400}),
    "max-age-negative": (200, {"Cache-Control": "max-age=-5"}),
    "expires-year-9999": (200, {"Expires": "Fri, 31 Dec 9999 23:59:59 GMT"}),
}


@pytest.mark.parametrize("name", list(HOSTILE_HEADERS))
async def test_hostile_numbers_are_clamped_before_they_are_stored(server: tuple[Scripted, str], name: str) -> None:
    """Every number a server sends is clamped to the configured bounds: the stored state decodes, the next check is
    within [min, max] interval of now, and the feed is polled again (never parked for 7,970 years, never stopped)."""
    scripted, base = server
    status, headers = HOSTILE_HEADERS[name]
    scripted.script[name] = [(status, headers, rss() if status == 200 else b"")]
    config = settings(poll_max_interval_seconds=7200)
    states = await replay(f"{base}/{name}", 7200 * 3, config)
    for state in states:
        assert FeedState.loads(state.dumps()) == state  # what the table stores reads back (no null, no inf)
    delays = [later.next_check - earlier.next_check for earlier, later in zip([states[0]], states[1:], strict=False)]
    first = states[0].next_check - T0
    assert 60 <= first <= 7200, first
    assert all(60 <= delay <= 7200 for delay in delays), delays
    assert scripted.requests[name] >= 3  # polled again within the bounds, every time


@pytest.mark.parametrize("ttl", ["9" * 400, "-30", "NaN", "1e9"])
async def test_hostile_rss_ttl_is_clamped(server: tuple[Scripted, str], ttl: str) -> None:
    scripted, base = server
    body = rss().replace(b"<title>Harbour</title>", f"<title>Harbour</title><ttl>{ttl}</ttl>".encode())
    scripted.script["ttl-hostile"] = [(200, {}, body)]
    states = await replay(f"{base}/ttl-hostile", 1, settings(poll_max_interval_seconds=7200))
    assert 300 <= states[0].next_check - T0 <= 7200
    assert FeedState.loads(states[0].dumps()) == states[0]


async def test_exponential_backoff_then_broken_but_kept(server: tuple[Scripted, str]) -> None:
    scripted, base = server
    scripted.script["down"] = [(500, {}, b"")]
    states = await replay(f"{base}/down", 9000, settings(poll_broken_after_errors=4))
    # 300 s doubled per error: polls at 0, 600, 1800 (+1200), 4200 (+2400); the next would be at 9000
    assert scripted.requests["down"] == 4
    assert [s.next_check - T0 for s in states] == [600, 1800, 4200, 9000]
    assert [s.last_status for s in states] == ["error", "error", "error", "broken"]
    assert states[-1].broken and states[-1].last_error == "http_status: HTTP 500 Internal Server Error"


async def test_per_host_concurrency_limit(server: tuple[Scripted, str]) -> None:
    scripted, base = server
    for limit in (1, 3):
        scripted.peak = 0
        config = settings(fetch_per_host=limit)
        async with Fetcher(config) as fetcher:
            await asyncio.gather(*(fetcher.get(f"{base}/slow{i}") for i in range(8)))
        assert scripted.peak == limit
    assert sum(scripted.requests.values()) == 16


async def test_adaptive_interval_from_posting_frequency(server: tuple[Scripted, str]) -> None:
    scripted, base = server
    scripted.script["busy"] = [(200, {}, rss(items=28, spacing=timedelta(hours=6)))]
    states = await replay(f"{base}/busy", 1, settings())
    assert states[0].interval == WEEK / 28  # 28 items in the last week: one every 6 h, polled every 6 h
    assert states[0].next_check == T0 + WEEK / 28
    scripted.script["quiet"] = [(200, {}, rss(items=3, spacing=timedelta(days=30)))]
    states = await replay(f"{base}/quiet", 1, settings(poll_max_interval_seconds=7200))
    assert states[0].next_check == T0 + 7200  # one item in the last week would be 7 days: clamped to the max


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ([], None),  # nothing dated: the default applies
        ([T0 - 30 * i for i in range(30_000)], 60.0),  # very busy: clamped to the minimum
        ([T0 - 86_400 * i for i in range(7)], WEEK / 7),
        ([T0 - 30 * 86_400], 86_400.0),  # nothing in the last week: the maximum
        ([T0 + 30 * 86_400] * 50, None),  # dated far in the future: ignored
    ],
    ids=["undated", "busy", "daily", "quiet", "future"],
)
def test_adaptive_interval(published: list[float], expected: float | None) -> None:
    assert adaptive_interval(published, T0, 60.0, 86_400.0) == expected
