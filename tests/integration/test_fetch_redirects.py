"""Redirects hop by hop, errors that say where they went, one-service allowlist entries and the bounded per-host table."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from schemas import FeedSource
from streams.cli.stack import child_env
from streams.config import Settings
from streams.errors import FetchError
from streams.poll.fetch import Fetcher
from streams.poll.parserpool import ParserPool
from streams.poll.state import FeedState
from streams.poll.steps import poll_feed
from tests.figures import record_figure
from tests.loopback import serve

FEED = (Path(__file__).resolve().parent.parent / "fixtures" / "valley-news.xml").read_bytes()
HOST = "127.0.0.2"  # stands in for a public server


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"fetch_allow_hosts": [f"{HOST}/32"], "fetch_timeout_seconds": 5.0}
    values.update(overrides)
    return Settings(**values)


class Chain:
    """``/hop/{n}?code=C`` redirects (relative Location) to ``/hop/{n-1}`` until ``/hop/0``, which is the feed."""

    def __init__(self) -> None:
        self.requests = 0

    def app(self) -> web.Application:
        async def hop(request: web.Request) -> web.Response:
            self.requests += 1
            left = int(request.match_info["n"])
            if left == 0:
                return web.Response(body=FEED, content_type="application/rss+xml")
            code = int(request.query.get("code", "302"))
            return web.Response(status=code, headers={"Location": f"../hop/{left - 1}?code={code}"})

        async def to(request: web.Request) -> web.Response:
            return web.Response(status=302, headers={"Location": request.query["url"]})

        async def status(request: web.Request) -> web.Response:
            return web.Response(status=int(request.match_info["code"]), headers=dict(request.query))

        async def hang(_request: web.Request) -> web.Response:
            await asyncio.sleep(30)
            return web.Response(body=FEED)

        app = web.Application()
        app.router.add_get("/hop/{n}", hop)
        app.router.add_get("/to", to)
        app.router.add_get("/status/{code}", status)
        app.router.add_get("/hang", hang)
        return app


@pytest.fixture
async def chain() -> AsyncIterator[tuple[Chain, str]]:
    server = Chain()
    runner, port = await serve(server.app(), HOST)
    yield server, f"http://{HOST}:{port}"
    await runner.cleanup()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_exactly_max_redirects_are_followed(chain: tuple[Chain, str], code: int) -> None:
    server, base = chain
    async with Fetcher(settings()) as fetcher:
        result = await fetcher.get(f"{base}/hop/5?code={code}")  # 5 redirects, then the feed
        assert result.status == 200 and result.body == FEED and result.url == f"{base}/hop/0?code={code}"
        assert server.requests == 6
        with pytest.raises(FetchError) as caught:
            await fetcher.get(f"{base}/hop/6?code={code}")  # one more than WIREWATCH_FETCH_MAX_REDIRECTS
    assert caught.value.kind == "redirects"
    assert str(caught.value) == f"more than 5 redirects (after 5 redirects, last to {base}/hop/1?code={code})"
    assert server.requests == 12  # the sixth redirect is not followed


async def test_no_redirect_at_all_when_the_setting_is_zero(chain: tuple[Chain, str]) -> None:
    _, base = chain
    async with Fetcher(settings(fetch_max_redirects=0)) as fetcher:
        assert (await fetcher.get(f"{base}/hop/0")).body == FEED
        with pytest.raises(FetchError, match="more than 0 redirects") as caught:
            await fetcher.get(f"{base}/hop/1")
    assert caught.value.kind == "redirects"


@pytest.mark.parametrize(
    ("target", "kind", "message"),
    [
        ("/status/404", "http_status", "HTTP 404 Not Found"),
        ("/status/500", "http_status", "HTTP 500 Internal Server Error"),
        ("/status/429?Retry-After=120", "rate_limited", "HTTP 429 Too Many Requests, Retry-After '120' (2 min)"),
        ("/status/302", "http_status", "HTTP 302 redirect without a Location header"),
        ("/hang", "timeout", "no complete response within 2 s"),
        ("javascript:alert(1)", "scheme", "only http and https URLs are fetched, not 'javascript'"),
        ("http://169.254.169.254/latest/meta-data/", "blocked", "connection to non-public address 169.254.169.254:80 refused"),
    ],
    ids=["404", "500", "429", "no-location", "timeout", "javascript", "metadata"],
)
async def test_every_error_after_a_redirect_says_where_it_went(chain: tuple[Chain, str], target: str, kind: str, message: str) -> None:
    _, base = chain
    absolute = target if ":" in target.split("?")[0] else f"{base}{target}"
    async with Fetcher(settings(fetch_timeout_seconds=2.0)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(f"{base}/to?url={target.replace('?', '%3F').replace('=', '%3D')}")
    assert caught.value.kind == kind
    assert str(caught.value).startswith(message), caught.value
    assert str(caught.value).endswith(f"(redirected to {absolute})"), caught.value


async def test_the_deadline_spans_the_whole_chain(chain: tuple[Chain, str]) -> None:
    """Five quick hops and a hanging sixth answer: the request ends at the one total deadline, not five of them."""
    _, base = chain
    loop = asyncio.get_running_loop()
    async with Fetcher(settings(fetch_timeout_seconds=2.0)) as fetcher:
        started = loop.time()
        with pytest.raises(FetchError) as caught:
            await fetcher.get(f"{base}/to?url=/to%3Furl%3D/hang")
        elapsed = loop.time() - started
    assert caught.value.kind == "timeout" and "after 2 redirects, last to" in str(caught.value)
    record_figure("redirects: one deadline for the chain", "2 redirects then a hang, deadline 2 s: ended after", elapsed, "s")


# ---------------------------------------------------------------- allowlist entries for one service (wirewatch run)


async def test_a_service_entry_allows_its_port_and_refuses_every_other_loopback_port() -> None:
    """``wirewatch run`` allowlists its sample server as 127.0.0.1:PORT: a feed, a redirect or a full-text link to
    any other loopback service (here a second server standing in for Kafka, a database, a dashboard) is refused."""
    hits: dict[str, int] = {"other": 0}

    async def other(_request: web.Request) -> web.Response:
        hits["other"] += 1
        return web.Response(text="<html><body><p>internal page</p></body></html>", content_type="text/html")

    other_app = web.Application()
    other_app.router.add_get("/{tail:.*}", other)
    other_runner, other_port = await serve(other_app, "127.0.0.1")

    async def feed(_request: web.Request) -> web.Response:
        # both items link to pages on the other loopback port
        body = FEED.replace(b"http://127.0.0.1/valley/", f"http://127.0.0.1:{other_port}/valley/".encode())
        return web.Response(body=body, content_type="application/rss+xml")

    async def redirect(_request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": f"http://127.0.0.1:{other_port}/feed.xml"})

    samples = web.Application()
    samples.router.add_get("/feeds/valley.xml", feed)
    samples.router.add_get("/feeds/moved.xml", redirect)
    samples_runner, samples_port = await serve(samples, "127.0.0.1")
    env = child_env(Settings(fetch_allow_hosts=[]), {}, samples_port=samples_port)
    assert env["WIREWATCH_FETCH_ALLOW_HOSTS"] == f"127.0.0.1:{samples_port}"  # that service, not 127.0.0.1/32
    config = Settings(fetch_allow_hosts=env["WIREWATCH_FETCH_ALLOW_HOSTS"].split(","), fetch_timeout_seconds=5.0)
    parser = ParserPool(10.0)
    try:
        async with Fetcher(config) as fetcher:
            assert (await fetcher.get(f"http://127.0.0.1:{samples_port}/feeds/valley.xml")).status == 200
            for url in (f"http://127.0.0.1:{other_port}/feed.xml", f"http://localhost:{other_port}/feed.xml"):
                with pytest.raises(FetchError, match=f"non-public address 127.0.0.1:{other_port} refused") as caught:
                    await fetcher.get(url)
                assert caught.value.kind == "blocked"
            with pytest.raises(FetchError, match=f"non-public address 127.0.0.1:{other_port} refused.*redirected to") as caught:
                await fetcher.get(f"http://127.0.0.1:{samples_port}/feeds/moved.xml")
            # a full-text link to the other port: the article is published with the feed's text, the page never fetched
            source = FeedSource(id="v", url=f"http://127.0.0.1:{samples_port}/feeds/valley.xml", fulltext=True)
            outcome = await poll_feed(FeedState(source=source, partition=0), fetcher, parser, config, 0.0)
    finally:
        parser.kill()
        await samples_runner.cleanup()
        await other_runner.cleanup()
    assert outcome.status == "ok" and outcome.new == 2
    assert all(a.url.startswith(f"http://127.0.0.1:{other_port}/valley/") for a in outcome.articles)
    assert outcome.fulltext == {"fetch_blocked": 2}
    assert hits["other"] == 0  # not one request reached the other loopback service


# ---------------------------------------------------------------- the per-host table stays bounded


class EveryHostResolver(AbstractResolver):
    """Resolves every name to one address (each of 100,000 hostnames is a distinct host to the fetcher)."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=self.address, port=port, family=socket.AF_INET, proto=0, flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        pass


async def test_per_host_slots_stay_bounded_over_100000_distinct_hosts() -> None:
    """100,000 distinct hosts (full-text links bring hosts without end): the per-host table holds only hosts with a
    request in progress, so it never grows past the requests in flight and is empty when they are done."""
    hosts = 100_000
    in_flight = 500
    # every name resolves to an internal address the guard refuses at connect time: each request goes through the
    # whole per-host path without a real connection, so 100,000 of them take seconds, not hours
    async with Fetcher(settings(fetch_concurrency=64), resolver=EveryHostResolver("10.0.0.1")) as fetcher:
        peak = 0
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(hosts):
            queue.put_nowait(number)

        async def worker() -> int:
            nonlocal peak
            refused = 0
            while not queue.empty():
                number = queue.get_nowait()
                try:
                    await fetcher.get(f"http://host-{number}.example/item")
                except FetchError as exc:
                    refused += exc.kind == "blocked"
                peak = max(peak, fetcher.host_slots)
            return refused

        refused = sum(await asyncio.gather(*(worker() for _ in range(in_flight))))
        after = fetcher.host_slots
        dns_cache = len(fetcher._session.connector._cached_hosts._addrs_rr)  # type: ignore[union-attr]  # noqa: SLF001
    assert refused == hosts  # every request really went through the fetcher
    assert peak <= in_flight and after == 0
    assert dns_cache <= 1000  # aiohttp's own DNS cache is an LRU of 1,000 hosts
    record_figure("memory keyed by input: fetcher per-host slots", f"entries after {hosts:,} distinct hosts", after)
    record_figure("memory keyed by input: fetcher per-host slots", f"peak entries ({in_flight} requests in flight)", peak)
    record_figure("memory keyed by input: fetcher per-host slots", "aiohttp DNS cache entries", dns_cache)


# ---------------------------------------------------------------- Content-Length from outside


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("9" * 400, "bad_response", "invalid HTTP response: Content-Length overflow"),
        ("-1", "bad_response", "invalid HTTP response: Invalid character in Content-Length"),
        ("ten", "bad_response", "invalid HTTP response: Invalid character in Content-Length"),
        ("2147483648", "too_large", "Content-Length 2147483648 exceeds the cap of 10485760 bytes"),
    ],
    ids=["400-digits", "negative", "words", "2G"],
)
async def test_hostile_content_length_is_a_clear_error(value: str, kind: str, message: str) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {value}\r\n\r\n<rss/>".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Fetcher(settings()) as fetcher:
            with pytest.raises(FetchError) as caught:
                await fetcher.get(f"http://{HOST}:{port}/feed.xml")
    finally:
        server.close()
    assert (caught.value.kind, str(caught.value)) == (kind, message)
