"""RELIABILITY.md "Fetching feeds", row by row, against real servers on loopback addresses."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from schemas import FeedSource
from streams.config import Settings
from streams.errors import FetchError
from streams.poll.fetch import Fetcher
from streams.poll.parserpool import ParserPool
from streams.poll.state import FeedState
from streams.poll.steps import poll_feed
from tests.figures import record_figure
from tests.loopback import serve

FEED = (Path(__file__).resolve().parent.parent / "fixtures" / "valley-news.xml").read_bytes()
CANARY_HOST = "127.0.0.1"  # the internal service nothing may reach
PUBLIC_HOST = "127.0.0.2"  # stands in for a public server: the only allowlisted address
MB = 1024 * 1024


def rss_bytes() -> int:
    """Resident memory of this process, from /proc (no psutil)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass
class Canary:
    """A listener that counts every TCP connection it accepts."""

    port: int
    connections: int = 0
    server: asyncio.Server | None = field(default=None, repr=False)


async def start_canary(port: int = 0) -> Canary:
    canary = Canary(port)

    async def accepted(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        canary.connections += 1
        writer.close()

    canary.server = await asyncio.start_server(accepted, CANARY_HOST, port)
    canary.port = canary.server.sockets[0].getsockname()[1]
    return canary


def public_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"fetch_allow_hosts": [f"{PUBLIC_HOST}/32"], "fetch_timeout_seconds": 5.0}
    values.update(overrides)
    return Settings(**values)


def internal_spellings(port: int) -> list[str]:
    """URLs that all lead to the canary or to another internal address, spelled every way we know."""
    hosts = [
        "127.0.0.1", "127.1", "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "017700000001", "127.000.000.001",
        "127.127.127.127", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]", "0.0.0.0", "0",
        "[::]", "localhost", "localhost.", "user:pw@127.0.0.1", "169.254.169.254", "100.64.0.1", "[64:ff9b::a9fe:a9fe]",
        "[64:ff9b::7f00:1]", "10.0.0.1", "172.16.0.1", "192.168.0.1", "[fe80::1]", "[fc00::1]", "[2002:7f00:1::]",
    ]  # fmt: skip
    return [f"http://{host}:{port}/feed.xml" for host in hosts] + [f"https://127.0.0.1:{port}/feed.xml"]


# Refusals: the guard (at connect time), yarl's refusal of non-canonical IPv4, a name that does not resolve, or a
# scheme that is never fetched (a redirect to file:, ftp:, data:).
REFUSED = {"blocked", "url", "connection", "scheme"}


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    canary = await start_canary()
    yield canary
    assert canary.server is not None
    canary.server.close()
    await canary.server.wait_closed()


@pytest.fixture
async def redirector() -> AsyncIterator[tuple[str, dict[str, int]]]:
    """A 'public' server on 127.0.0.2 that redirects with the status and target a test names."""
    hits: dict[str, int] = {}

    async def redirect(request: web.Request) -> web.Response:
        hits["redirect"] = hits.get("redirect", 0) + 1
        return web.Response(status=int(request.match_info["code"]), headers={"Location": request.query["to"]})

    async def feed(_request: web.Request) -> web.Response:
        hits["feed"] = hits.get("feed", 0) + 1
        return web.Response(body=FEED, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/redirect/{code}", redirect)
    app.router.add_get("/feed.xml", feed)
    runner, port = await serve(app, PUBLIC_HOST)
    yield f"http://{PUBLIC_HOST}:{port}", hits
    await runner.cleanup()


# ---------------------------------------------------------------- no request reaches internal addresses


async def test_no_spelling_reaches_the_canary(canary: Canary) -> None:
    urls = internal_spellings(canary.port)
    assert len(urls) >= 25
    kinds: dict[str, str] = {}
    async with Fetcher(Settings(fetch_allow_hosts=[], fetch_timeout_seconds=5.0)) as fetcher:
        for url in urls:
            with pytest.raises(FetchError) as caught:
                await fetcher.get(url)
            kinds[url] = caught.value.kind
    assert set(kinds.values()) <= REFUSED, kinds
    # every spelling the URL parser accepts was stopped by the guard itself, not by luck
    assert sum(kind == "blocked" for kind in kinds.values()) >= 20
    assert canary.connections == 0
    row = "no request reaches internal addresses"
    record_figure(row, f"{len(urls)} spellings: refused by the guard at connect time", sum(k == "blocked" for k in kinds.values()))
    record_figure(row, f"{len(urls)} spellings: connections that reached the canary", canary.connections)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_redirects_into_internal_addresses_are_refused(canary: Canary, redirector: tuple[str, dict[str, int]], code: int) -> None:
    base, hits = redirector
    other_schemes = ["file:///etc/passwd", "ftp://127.0.0.1/feed.xml", "data:application/rss+xml,<rss/>", "gopher://127.0.0.1/"]
    targets = [*internal_spellings(canary.port), *other_schemes]
    async with Fetcher(public_settings()) as fetcher:
        for target in targets:
            with pytest.raises(FetchError) as caught:
                await fetcher.get(str(URL(f"{base}/redirect/{code}").with_query(to=target)))
            # refused as a scheme that is never fetched, not as a "connection" error named after an aiohttp class
            message = str(caught.value)
            if target in other_schemes:
                assert caught.value.kind == "scheme" and message.endswith(f"(redirected to {target})"), message
            assert caught.value.kind in REFUSED, (target, message)
            assert "Error" not in message and "(redirected to " in message, message  # it says a redirect happened, and where
            assert "pw@" not in message  # a password in a redirect target is not repeated
    assert hits["redirect"] == len(targets)  # the first hop was allowed and did happen
    assert canary.connections == 0
    record_figure(
        "no request reaches internal addresses", f"HTTP {code} into {len(targets)} targets: canary connections", canary.connections
    )


async def test_redirect_to_an_allowed_address_is_followed(redirector: tuple[str, dict[str, int]]) -> None:
    base, hits = redirector
    async with Fetcher(public_settings()) as fetcher:
        result = await fetcher.get(str(URL(f"{base}/redirect/301").with_query(to=f"{base}/feed.xml")))
    assert result.status == 200 and result.body == FEED and result.url == f"{base}/feed.xml"
    assert hits == {"redirect": 1, "feed": 1}


class ScriptedResolver(AbstractResolver):
    """A DNS resolver answering from a script: each lookup pops the next answer (the last one repeats)."""

    def __init__(self, answers: list[list[str]]) -> None:
        self.answers = answers
        self.lookups = 0

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answer = self.answers[min(self.lookups, len(self.answers) - 1)]
        self.lookups += 1
        return [
            ResolveResult(hostname=host, host=address, port=port, family=socket.AF_INET, proto=0, flags=socket.AI_NUMERICHOST)
            for address in answer
        ]

    async def close(self) -> None:
        pass


async def test_resolver_answering_public_then_private(redirector: tuple[str, dict[str, int]]) -> None:
    """DNS rebinding: the first lookup gives the allowed address, the next the canary's; the guard sees the second."""
    base, hits = redirector
    port = int(base.rsplit(":", 1)[1])
    canary = await start_canary(port)  # same port as the 'public' server, on the internal address
    try:
        resolver = ScriptedResolver([[PUBLIC_HOST], [CANARY_HOST]])
        url = f"http://feeds.rebind.test:{port}/feed.xml"
        async with Fetcher(public_settings(), resolver=resolver) as fetcher:
            assert (await fetcher.get(url)).body == FEED
        async with Fetcher(public_settings(), resolver=resolver) as fetcher:  # a new client: no DNS cache
            with pytest.raises(FetchError, match="non-public address 127.0.0.1") as caught:
                await fetcher.get(url)
        assert caught.value.kind == "blocked"
        # one answer listing the internal address first: it is skipped, the allowed one is used
        mixed = ScriptedResolver([[CANARY_HOST, PUBLIC_HOST]])
        async with Fetcher(public_settings(), resolver=mixed) as fetcher:
            assert (await fetcher.get(url)).body == FEED
        assert resolver.lookups == 2 and hits["feed"] == 2
        assert canary.connections == 0
    finally:
        assert canary.server is not None
        canary.server.close()


# ---------------------------------------------------------------- XML bombs and XXE

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>laughs</title><item><title>&lol9;</title></item></channel></rss>"""


def quadratic_blowup() -> bytes:
    entity = b"A" * 50_000
    refs = b"&a;" * 20_000  # 1 GB once expanded, from about 110 KB
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "' + entity + b'">]>\n'
        b'<rss version="2.0"><channel><title>q</title><item><title>' + refs + b"</title></item></channel></rss>"
    )


def xxe(secret: Path) -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://' + str(secret).encode() + b'">]>\n'
        b'<rss version="2.0"><channel><title>x</title><item><title>&xxe;</title><description>&xxe;</description>'
        b"<guid>x1</guid></item></channel></rss>"
    )


def utf16(body: bytes) -> bytes:
    return body.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="utf-16"?>').decode().encode("utf-16")


@pytest.fixture
async def documents() -> AsyncIterator[tuple[dict[str, bytes], str]]:
    """A 'public' server that serves whatever bytes a test puts in the dict, by name."""
    bodies: dict[str, bytes] = {}

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.match_info["name"]], content_type="application/xml")

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner, port = await serve(app, PUBLIC_HOST)
    yield bodies, f"http://{PUBLIC_HOST}:{port}"
    await runner.cleanup()


async def test_xml_bombs_and_xxe_are_refused(documents: tuple[dict[str, bytes], str], tmp_path: Path) -> None:
    bodies, base = documents
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CANARY-7731")
    bodies.update(
        {
            "laughs": BILLION_LAUGHS,
            "quadratic": quadratic_blowup(),
            "xxe": xxe(secret),
            "laughs16": utf16(BILLION_LAUGHS),
            "xxe16": utf16(xxe(secret)),
        }
    )
    settings = public_settings(parse_timeout_seconds=10.0)
    parser = ParserPool(settings.parse_timeout_seconds)
    before = rss_bytes()
    try:
        async with Fetcher(settings) as fetcher:
            for name in bodies:
                state = FeedState(source=FeedSource(id=name, url=f"{base}/{name}"), partition=0)
                outcome = await poll_feed(state, fetcher, parser, settings, now=0.0)
                assert outcome.status == "error" and outcome.error_kind == "parse", name
                assert outcome.state.last_error is not None and "DOCTYPE or ENTITY" in outcome.state.last_error, name
                assert "TOP-SECRET" not in outcome.state.dumps().decode()
                assert outcome.articles == []
    finally:
        parser.kill()
    growth = (rss_bytes() - before) / MB
    assert growth < 50
    record_figure("XML bombs are harmless (poller process)", f"{len(bodies)} bombs polled: poller memory growth", growth, "MB")


async def test_a_body_that_is_a_local_path_is_never_opened(documents: tuple[dict[str, bytes], str], tmp_path: Path) -> None:
    """feedparser opens a file when given bytes that name one; the poller hands it a stream, so nothing is read."""
    bodies, base = documents
    local = tmp_path / "local-feed.xml"
    local.write_text('<rss version="2.0"><channel><title>LOCAL-FILE-CANARY</title><item><title>leaked</title></item></channel></rss>')
    bodies["path"] = str(local).encode()
    bodies["file-url"] = f"file://{local}".encode()
    settings = public_settings()
    parser = ParserPool(10.0)
    try:
        async with Fetcher(settings) as fetcher:
            for name in ("path", "file-url"):
                state = FeedState(source=FeedSource(id=name, url=f"{base}/{name}"), partition=0)
                outcome = await poll_feed(state, fetcher, parser, settings, now=0.0)
                assert outcome.status == "error" and outcome.error_kind == "parse" and outcome.articles == []
                assert "LOCAL-FILE-CANARY" not in outcome.state.dumps().decode()
    finally:
        parser.kill()


async def test_parse_deadline_kills_the_parser_process() -> None:
    source = FeedSource(id="f", url="http://x/")
    from datetime import UTC, datetime

    now = datetime.now(tz=UTC)
    # a deadline shorter than a process spawn: the parse cannot finish in time, the process is killed
    parser = ParserPool(0.001)
    with pytest.raises(Exception, match="parsing feed f \\(http://x/\\) took longer than 0.001 s"):
        await parser.parse(FEED, source, now)
    assert parser.pids() == []  # the overrunning process was killed
    parser.timeout = 30.0  # the next parse gets a fresh process and works
    try:
        assert len((await parser.parse(FEED, source, now)).articles) == 2
    finally:
        parser.kill()


async def test_parse_queue_never_counts_against_the_deadline() -> None:
    """Many feeds waiting for the parser: each gets the whole deadline for its own parse, none is killed for waiting."""
    from datetime import UTC, datetime

    items = "".join(
        f"<item><title>Item {i}</title><guid>g{i}</guid><description>&lt;p&gt;Text {i}.&lt;/p&gt;</description></item>" for i in range(300)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'.encode()
    source = FeedSource(id="f", url="http://x/")
    now = datetime.now(tz=UTC)
    parser = ParserPool(60.0)
    try:
        await parser.parse(body, source, now)  # the process is started outside the measured part
        pid = parser.pids()
        started = asyncio.get_running_loop().time()
        await parser.parse(body, source, now)
        one = asyncio.get_running_loop().time() - started
        parser.timeout = 2.0
        count = max(40, int(3 * parser.timeout / max(one, 0.01)) + 1)  # together far longer than the deadline
        results = await asyncio.gather(*(parser.parse(body, source, now) for _ in range(count)))
        assert all(len(result.articles) == 300 for result in results)
        assert parser.pids() == pid  # the same process throughout: never killed
    finally:
        parser.kill()


async def test_parser_workers_are_separate_processes() -> None:
    from datetime import UTC, datetime

    parser = ParserPool(60.0, workers=2)
    try:
        results = await asyncio.gather(*(parser.parse(FEED, FeedSource(id="f", url="http://x/"), datetime.now(tz=UTC)) for _ in range(6)))
        assert [len(r.articles) for r in results] == [2] * 6
        assert len(set(parser.pids())) == 2
    finally:
        parser.kill()
    assert parser.pids() == []


# ---------------------------------------------------------------- a broken feed is isolated


def broken_app() -> web.Application:
    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="nope")

    async def html(_request: web.Request) -> web.Response:
        return web.Response(text="<!DOCTYPE html><html><body>Please sign in</body></html>", content_type="text/html")

    async def loop(_request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def feed(_request: web.Request) -> web.Response:
        return web.Response(body=FEED, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/html", html)
    app.router.add_get("/loop", loop)
    app.router.add_get("/feed.xml", feed)
    return app


async def test_broken_feeds_are_isolated_and_backed_off() -> None:
    runner, port = await serve(broken_app(), PUBLIC_HOST)
    base = f"http://{PUBLIC_HOST}:{port}"
    settings = public_settings(poll_interval_seconds=300, poll_min_interval_seconds=60, poll_broken_after_errors=3)
    feeds = {
        "404": (f"{base}/status/404", "http_status: HTTP 404 Not Found"),
        "500": (f"{base}/status/500", "http_status: HTTP 500 Internal Server Error"),
        "410": (f"{base}/status/410", "http_status: HTTP 410 Gone"),
        "html": (f"{base}/html", "parse: response is an HTML page, not a feed"),
        "loop": (f"{base}/loop", "redirects: more than 5 redirects"),
        "tls": (f"https://{PUBLIC_HOST}:{port}/feed.xml", "tls: TLS handshake failed"),
    }
    parser = ParserPool(10.0)
    states = {name: FeedState(source=FeedSource(id=name, url=url), partition=0) for name, (url, _) in feeds.items()}
    states["good"] = FeedState(source=FeedSource(id="good", url=f"{base}/feed.xml"), partition=0)
    try:
        async with Fetcher(settings) as fetcher:
            for round_ in range(1, 4):
                now = 1000.0 * round_
                outcomes = await asyncio.gather(*(poll_feed(s, fetcher, parser, settings, now) for s in states.values()))
                states = {o.state.source.id: o.state for o in outcomes}
                for name, (_, error) in feeds.items():
                    state = states[name]
                    assert state.last_error is not None and state.last_error.startswith(error), state.last_error
                    assert state.error_count == round_
                    # exponential backoff: 300 s doubled per consecutive error
                    assert state.next_check == now + 300 * 2**round_
                assert states["good"].last_status in ("ok", "not_modified") and states["good"].error_count == 0
    finally:
        parser.kill()
        await runner.cleanup()
    # after poll_broken_after_errors failures each bad feed is marked broken but kept, with its last error
    assert {name: states[name].last_status for name in feeds} == dict.fromkeys(feeds, "broken")
    assert all(states[name].broken for name in feeds) and not states["good"].broken
