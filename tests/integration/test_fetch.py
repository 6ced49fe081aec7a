"""The guarded HTTP client and one poll against real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from schemas import FeedSource
from streams import ids
from streams.config import Settings
from streams.errors import FetchError
from streams.poll.fetch import Fetcher
from streams.poll.parserpool import ParserPool
from streams.poll.state import FeedState
from streams.poll.steps import poll_feed
from tests.loopback import serve

FEED = (Path(__file__).resolve().parent.parent / "fixtures" / "valley-news.xml").read_bytes()


class Scripted:
    """A feed server that counts requests and answers as each test scripts it."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{name}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests[name] = self.requests.get(name, 0) + 1
        if name == "feed":
            if request.headers.get("If-None-Match") == '"v1"':
                return web.Response(status=304, headers={"ETag": '"v1"'})
            return web.Response(body=FEED, headers={"ETag": '"v1"', "Cache-Control": "max-age=900"}, content_type="application/rss+xml")
        if name == "limited":
            return web.Response(status=429, headers={"Retry-After": "7"})
        if name == "gone":
            return web.Response(status=410)
        if name == "html":
            return web.Response(body=b"<!DOCTYPE html><html><body>Sign in</body></html>", content_type="text/html")
        if name == "bomb":
            # 20 MB of zeros, gzip-compressed to about 20 KB
            body = gzip.compress(b"\0" * 20_000_000)
            return web.Response(body=body, headers={"Content-Encoding": "gzip"}, content_type="application/xml")
        if name == "slow":
            response = web.StreamResponse()
            await response.prepare(request)
            for _ in range(30):
                await response.write(b" ")
                await asyncio.sleep(0.5)
            return response
        if name == "to-metadata":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")
        if name == "loop":
            raise web.HTTPFound("/loop")
        raise web.HTTPNotFound()


@pytest.fixture
async def server() -> AsyncIterator[tuple[Scripted, str]]:
    scripted = Scripted()
    runner, port = await serve(scripted.app())
    yield scripted, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"fetch_allow_hosts": ["127.0.0.1/32"], "fetch_timeout_seconds": 3.0, "fetch_max_bytes": 1_000_000}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def test_conditional_get(server: tuple[Scripted, str]) -> None:
    scripted, base = server
    async with Fetcher(settings()) as fetcher:
        first = await fetcher.get(f"{base}/feed")
        assert first.status == 200 and first.body == FEED and first.etag == '"v1"' and first.max_age == 900
        second = await fetcher.get(f"{base}/feed", etag=first.etag)
        assert second.not_modified and second.body == b""
    assert scripted.requests["feed"] == 2


@pytest.mark.parametrize(
    ("path", "kind", "message"),
    [
        ("limited", "rate_limited", "HTTP 429"),
        ("gone", "http_status", "HTTP 410"),
        ("missing", "http_status", "HTTP 404"),
        ("bomb", "too_large", "cap of 1000000 bytes"),
        ("slow", "timeout", "within 3 s"),
        ("to-metadata", "blocked", "169.254.169.254"),
        ("loop", "redirects", "more than 5 redirects"),
    ],
)
async def test_fetch_errors_are_specific(server: tuple[Scripted, str], path: str, kind: str, message: str) -> None:
    _, base = server
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(FetchError, match=message) as caught:
            await fetcher.get(f"{base}/{path}")
    assert caught.value.kind == kind
    if path == "limited":
        assert caught.value.retry_after == 7.0


async def test_loopback_refused_without_allowlist(server: tuple[Scripted, str]) -> None:
    scripted, base = server
    async with Fetcher(settings(fetch_allow_hosts=[])) as fetcher:
        for url in (f"{base}/feed", base.replace("127.0.0.1", "localhost") + "/feed", base.replace("127.0.0.1", "127.1") + "/feed"):
            with pytest.raises(FetchError, match="non-public address|not a canonical IPv4") as caught:
                await fetcher.get(url)
            assert caught.value.kind in ("blocked", "url")
    assert scripted.requests == {}


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/feed", "/etc/passwd", "gopher://x/"])
async def test_only_http(url: str) -> None:
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(FetchError, match="only http and https") as caught:
            await fetcher.get(url)
    assert caught.value.kind == "scheme"


async def test_poll_feed_publishes_once_then_304(server: tuple[Scripted, str]) -> None:
    scripted, base = server
    url = f"{base}/feed"
    state = FeedState(source=FeedSource(id=ids.feed_id(url), url=url), partition=0)
    parser = ParserPool(5.0)
    try:
        async with Fetcher(settings()) as fetcher:
            first = await poll_feed(state, fetcher, parser, settings(), now=1000.0)
            assert first.new == 2 and len(first.articles) == 2
            assert first.state.next_check == 1900.0  # Cache-Control max-age 900
            second = await poll_feed(first.state, fetcher, parser, settings(), now=2000.0)
            assert second.status == "not_modified" and second.articles == []
            # the server loses its ETag: the body is parsed again, but nothing is new
            third = await poll_feed(second.state.model_copy(update={"etag": None}), fetcher, parser, settings(), now=3000.0)
            assert third.articles == [] and third.status == "ok"
            broken = await poll_feed(
                FeedState(source=FeedSource(id="h", url=f"{base}/html"), partition=0), fetcher, parser, settings(), now=0.0
            )
            assert broken.status == "error" and broken.state.last_error == "parse: response is an HTML page, not a feed"
            assert broken.state.error_count == 1 and broken.state.next_check == 600.0
    finally:
        parser.kill()
    assert scripted.requests["feed"] == 3


async def test_revisions_keep_the_article_id() -> None:
    from streams.poll.fetch import FetchResult
    from streams.poll.parse import ParsedFeed
    from streams.poll.steps import _new_items

    body_v1 = FEED
    body_v2 = FEED.replace(b"eleven votes to four", b"eleven votes to five")
    from datetime import UTC, datetime

    from streams.poll.parse import parse_feed

    source = FeedSource(id="f", url="http://x/")
    result = FetchResult(200, b"", "http://x/", None, None, None, 0.0)
    v1: ParsedFeed = parse_feed(body_v1, source, datetime.now(tz=UTC))
    first = _new_items(FeedState(source=source, partition=0), v1, result)
    second = _new_items(first.state, parse_feed(body_v2, source, datetime.now(tz=UTC)), result)
    assert (first.new, first.revisions) == (2, 0)
    assert (second.new, second.revisions) == (0, 1)
    assert second.articles[0].id == first.articles[0].id and second.articles[0].revision == 2


async def test_only_http_links_leave_the_poller(caplog: pytest.LogCaptureFixture) -> None:
    """A feed whose items link to javascript:, data: and file: URLs: those articles are published with the feed's
    URL, the drops are counted by kind for the articles published, and one log line per poll names the feed."""
    items = [("javascript:alert(document.cookie)", "a"), ("data:text/html,<script>x</script>", "b"), ("file:///etc/passwd", "c"),
             ("/harbour/ferry.html", "d"), ("https://news.example/e", "e")]  # fmt: skip
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour</title>'
        + "".join(
            f"<item><title>Notice {g}</title><guid>{g}</guid><link>{link}</link><description>Text {g}.</description></item>"
            for link, g in items
        )  # fmt: skip
        + "</channel></rss>"
    ).encode()

    async def feed(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/rss+xml")  # no ETag: every poll parses again

    app = web.Application()
    app.router.add_get("/feed.xml", feed)
    runner, port = await serve(app)
    url = f"http://127.0.0.1:{port}/feed.xml"
    state = FeedState(source=FeedSource(id="harbour", url=url), partition=0)
    parser = ParserPool(10.0)
    try:
        async with Fetcher(settings()) as fetcher:
            with caplog.at_level("WARNING", logger="streams.poll.steps"):
                first = await poll_feed(state, fetcher, parser, settings(), now=1000.0)
                second = await poll_feed(first.state, fetcher, parser, settings(), now=2000.0)
    finally:
        parser.kill()
        await runner.cleanup()
    assert [a.url for a in first.articles] == [url, url, url, f"http://127.0.0.1:{port}/harbour/ferry.html", "https://news.example/e"]
    assert first.dropped_links == {"javascript": 1, "data": 1, "file": 1}
    assert second.articles == [] and second.dropped_links == {}  # nothing new, nothing counted twice
    lines = [r.getMessage() for r in caplog.records if "link(s) dropped" in r.getMessage()]
    assert lines == [
        f"feed harbour ({url}): 3 item link(s) dropped, not http(s) (data: 1, file: 1, javascript: 1); those articles keep the feed's URL"
    ]


@pytest.mark.parametrize(
    "url", ["http://[::1/feed", "http://" + "a" * 300 + ".example/", "http://a..b/", "http:///feed", "http://x:99999/"]
)
async def test_malformed_urls_are_url_errors_never_exceptions(url: str) -> None:
    """A URL the parsers refuse (from the registry or a redirect) is a ``url`` error, not an exception that stops the poll."""
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(FetchError, match="invalid URL") as caught:
            await fetcher.get(url)
    assert caught.value.kind == "url"
