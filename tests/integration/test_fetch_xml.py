"""XML bombs in every encoding the parser would read, old RSS 0.91 DOCTYPEs, and the parser processes' memory cap.

Each bomb is served by a real loopback server and polled through the real fetcher and parser processes. The figures
(seconds per poll, memory growth of the parser process that read it) are what RELIABILITY.md's row states: "each
rejected or parsed in < 1 s, < 50 MB growth".
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from schemas import FeedSource
from streams.config import Settings
from streams.poll.fetch import Fetcher
from streams.poll.parserpool import ParserPool
from streams.poll.state import FeedState
from streams.poll.steps import poll_feed
from tests.figures import record_figure
from tests.integration.test_fetch_security import BILLION_LAUGHS, quadratic_blowup, xxe
from tests.loopback import serve

HOST = "127.0.0.2"
MB = 1024 * 1024
ROW = "XML bombs are harmless (parser process)"
DECLARATION = b'<?xml version="1.0"?>'


def declared(body: bytes, encoding: str) -> str:
    return body.decode().replace(DECLARATION.decode(), f'<?xml version="1.0" encoding="{encoding}"?>', 1)


def utf7(body: bytes) -> bytes:
    """The declaration in ASCII, the rest in UTF-7 with every ``<!`` spelled ``+ADwAIQ-``: no ``<!ENTITY`` in the bytes."""
    text = declared(body, "utf-7")
    head, rest = text.split("?>", 1)
    return (head + "?>").encode() + rest.encode("utf-7").replace(b"<!", b"+ADwAIQ-")


#: how each encoding spells a document: the bytes feedparser would decode back into the same text
ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "utf-8": lambda body: declared(body, "utf-8").encode(),
    "utf-8-bom": lambda body: b"\xef\xbb\xbf" + declared(body, "utf-8").encode(),
    "cp037": lambda body: declared(body, "cp037").encode("cp037"),
    "cp500": lambda body: declared(body, "cp500").encode("cp500"),
    "utf-7": utf7,
    "utf-16-bom": lambda body: declared(body, "utf-16").encode("utf-16"),
    "utf-16le-no-bom": lambda body: declared(body, "utf-16").encode("utf-16-le"),
    "utf-16be-no-bom": lambda body: declared(body, "utf-16").encode("utf-16-be"),
    "utf-32-bom": lambda body: declared(body, "utf-32").encode("utf-32"),
    "utf-32le-no-bom": lambda body: declared(body, "utf-32").encode("utf-32-le"),
}


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


@pytest.fixture
async def documents() -> AsyncIterator[tuple[dict[str, bytes], str]]:
    bodies: dict[str, bytes] = {}

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.match_info["name"]], content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner, port = await serve(app, HOST)
    yield bodies, f"http://{HOST}:{port}"
    await runner.cleanup()


async def test_bombs_are_refused_in_every_encoding(documents: tuple[dict[str, bytes], str], tmp_path: Path) -> None:
    """Billion laughs, quadratic blowup and XXE in ten encodings (EBCDIC, UTF-7, UTF-16/32 with and without BOM):
    each refused before the parser sees it, no secret leaks, and the parser process neither slows nor grows."""
    bodies, base = documents
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CANARY-7731")
    bombs = {"billion-laughs": BILLION_LAUGHS, "quadratic": quadratic_blowup(), "xxe": xxe(secret)}
    for bomb, body in bombs.items():
        for encoding, spell in ENCODINGS.items():
            bodies[f"{bomb}.{encoding}"] = spell(body)
    config = Settings(fetch_allow_hosts=[f"{HOST}/32"], fetch_timeout_seconds=10.0, parse_timeout_seconds=10.0)
    parser = ParserPool(config.parse_timeout_seconds)
    seconds: dict[str, float] = {}
    growth: dict[str, float] = {}
    try:
        async with Fetcher(config) as fetcher:
            # a first parse starts the parser process, outside the measured part
            warm = FeedState(source=FeedSource(id="warm", url=f"{base}/billion-laughs.utf-8"), partition=0)
            await poll_feed(warm, fetcher, parser, config, 0.0)
            (pid,) = parser.pids()
            for name in bodies:
                Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS back to the current RSS
                before = memory_kb(pid, "VmHWM")
                state = FeedState(source=FeedSource(id=name, url=f"{base}/{name}"), partition=0)
                started = time.monotonic()
                outcome = await poll_feed(state, fetcher, parser, config, 0.0)
                seconds[name] = time.monotonic() - started
                assert parser.pids() == [pid], name  # refused in the same process: never killed, never crashed
                growth[name] = (memory_kb(pid, "VmHWM") - before) / 1024
                assert outcome.status == "error" and outcome.error_kind == "parse", (name, outcome.state.last_error)
                assert outcome.state.last_error is not None and "DOCTYPE or ENTITY" in outcome.state.last_error, name
                assert "TOP-SECRET" not in outcome.state.dumps().decode() and outcome.articles == []
    finally:
        parser.kill()
    for bomb in bombs:
        names = [name for name in bodies if name.startswith(bomb + ".")]
        slowest = max(names, key=seconds.__getitem__)
        largest = max(names, key=growth.__getitem__)
        record_figure(ROW, f"{bomb} in {len(names)} encodings: slowest poll ({slowest.split('.', 1)[1]})", seconds[slowest], "s")
        record_figure(ROW, f"{bomb} in {len(names)} encodings: largest parser growth ({largest.split('.', 1)[1]})", growth[largest], "MB")
    assert len(bodies) == 30


NETSCAPE = (
    b'<?xml version="1.0"?>\n'
    b"<!-- an RSS 0.91 feed as Netscape specified it -->\n"
    b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"\n'
    b'  "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
    b'<rss version="0.91"><channel><title>Harbour Notices</title><link>http://harbour.example/</link>'
    b"<description>Invented notices</description><language>en-us</language>"
    b"<item><title>Ferry timetable changes on Monday</title><link>http://harbour.example/ferry</link>"
    b"<description>The morning ferry leaves ten minutes earlier.</description></item>"
    b"<item><title>Harbour office closed for the holiday</title><link>http://harbour.example/office</link>"
    b"<description>The office reopens on Wednesday.</description></item>"
    b"</channel></rss>"
)


async def test_rss_091_with_an_external_doctype_is_accepted_and_the_dtd_never_fetched(documents: tuple[dict[str, bytes], str]) -> None:
    """The Netscape DOCTYPE (no internal subset) is stripped, never fetched, in any encoding; a DOCTYPE that adds an
    internal subset, or an ENTITY, is refused as before. The DTD's address points at a canary server here."""
    bodies, base = documents
    fetched: list[str] = []

    async def dtd(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.Response(text='<!ENTITY lol "lol">')

    canary_app = web.Application()
    canary_app.router.add_get("/{tail:.*}", dtd)
    canary, canary_port = await serve(canary_app, HOST)
    dtd_url = f"http://{HOST}:{canary_port}/rss-0.91.dtd".encode()
    local = NETSCAPE.replace(b"http://my.netscape.com/publish/formats/rss-0.91.dtd", dtd_url)
    system = local.replace(b'PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"\n ', b"SYSTEM")
    subset = local.replace(b'rss-0.91.dtd">', b'rss-0.91.dtd" [<!ENTITY t "x">]>')
    for encoding in ("utf-8", "cp037", "utf-16-bom", "utf-7"):
        bodies[f"netscape.{encoding}"] = ENCODINGS[encoding](NETSCAPE)
        bodies[f"local.{encoding}"] = ENCODINGS[encoding](local)
        bodies[f"system.{encoding}"] = ENCODINGS[encoding](system)
        bodies[f"subset.{encoding}"] = ENCODINGS[encoding](subset)
    config = Settings(fetch_allow_hosts=[f"{HOST}/32"], fetch_timeout_seconds=10.0)
    parser = ParserPool(10.0)
    try:
        async with Fetcher(config) as fetcher:
            outcomes = {
                name: await poll_feed(
                    FeedState(source=FeedSource(id=name, url=f"{base}/{name}"), partition=0), fetcher, parser, config, 0.0
                )
                for name in bodies
            }
    finally:
        parser.kill()
        await canary.cleanup()
    for name, outcome in outcomes.items():
        if name.startswith("subset."):
            assert outcome.error_kind == "parse" and "DOCTYPE or ENTITY" in (outcome.state.last_error or ""), name
        else:
            assert outcome.status == "ok", (name, outcome.state.last_error)
            assert [a.title for a in outcome.articles] == ["Ferry timetable changes on Monday", "Harbour office closed for the holiday"]
            assert outcome.articles[0].url == "http://harbour.example/ferry"
    assert fetched == []  # the DTD was never asked for


def big_feed(items: int) -> bytes:
    """A legitimate feed near the 10 MB body cap: about 170 MB at its parser process's peak."""
    words = "Ferry timetable words and more words. " * 25
    parts = "".join(
        f"<item><title>Notice {i}</title><guid>g{i}</guid><description>&lt;p&gt;{words}&lt;/p&gt;</description></item>"
        for i in range(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{parts}</channel></rss>'.encode()


async def test_a_parse_over_the_memory_cap_is_a_clear_error_and_the_process_is_replaced(
    documents: tuple[dict[str, bytes], str],
) -> None:
    """WIREWATCH_PARSE_MAX_MEMORY_MB caps each parser process (RLIMIT_AS): a parse that needs more fails with an
    error naming the feed, a fresh process takes the next job, and the poller itself is untouched."""
    bodies, base = documents
    bodies["big"] = big_feed(9_500)  # just under the 10 MB body cap
    bodies["small"] = big_feed(2)
    config = Settings(fetch_allow_hosts=[f"{HOST}/32"], fetch_timeout_seconds=30.0, parse_max_memory_mb=128)
    parser = ParserPool(60.0, max_memory_mb=config.parse_max_memory_mb)
    try:
        async with Fetcher(config) as fetcher:
            small = FeedState(source=FeedSource(id="small", url=f"{base}/small"), partition=0)
            assert (await poll_feed(small, fetcher, parser, config, 0.0)).new == 2
            (first,) = parser.pids()
            assert memory_kb(first, "VmPeak") < 128 * 1024  # the cap holds the process's whole address space
            big = FeedState(source=FeedSource(id="big", url=f"{base}/big"), partition=0)
            started = time.monotonic()
            outcome = await poll_feed(big, fetcher, parser, config, 0.0)
            elapsed = time.monotonic() - started
            assert parser.pids() == []  # the process that hit the cap is gone
            assert outcome.error_kind == "parse" and outcome.articles == []
            assert outcome.state.last_error == (
                f"parse: parsing feed big ({base}/big) needed more than the parser's 128 MB (WIREWATCH_PARSE_MAX_MEMORY_MB); "
                "parser process replaced"
            )
            again = await poll_feed(small, fetcher, parser, config, 0.0)
            assert again.new == 2 and parser.pids() != [first]
    finally:
        parser.kill()
    record_figure(ROW, "a 10 MB feed under a 128 MB cap: refused after", elapsed, "s")


async def test_the_default_cap_parses_a_feed_at_the_body_cap() -> None:
    """The default cap leaves room for the largest body the fetcher accepts (10 MB of items)."""
    from datetime import UTC, datetime

    parser = ParserPool(120.0)
    try:
        result = await parser.parse(big_feed(10_000), FeedSource(id="f", url="http://x/"), datetime.now(tz=UTC))
        (pid,) = parser.pids()
        peak = memory_kb(pid, "VmPeak") / 1024
    finally:
        parser.kill()
    assert len(result.articles) == 10_000 and parser.max_memory_mb == 512
    record_figure("parser processes", "address space at the peak of a 10 MB feed (cap 512 MB)", peak, "MB")
