"""Full-text fetch against a real loopback server: article pages with debris, guard refusals, deadlines, request counts."""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from schemas import FeedSource
from streams.config import Settings
from streams.errors import FulltextError
from streams.poll.fetch import Fetcher
from streams.poll.pagetext import extract_text
from streams.poll.parserpool import ParserPool
from streams.poll.state import FeedState
from streams.poll.steps import poll_feed
from tests.loopback import serve

BODY = [
    "The old harbour bridge in Port Elmsby reopened to traffic on Tuesday morning after eleven weeks of repairs "
    "to its steel deck, the town council said.",
    "Engineers replaced forty corroded girders and resurfaced the roadway. The works committee said the project "
    "came in under its budget of 2.1 million crowns, largely because the winter was mild.",
    "Ferry services that carried commuters across the inlet during the closure return to their normal timetable next week.",
]
DEBRIS = [
    "Weather",
    "Share this article",
    "Add new comment",
    "The detour through Kvarnby added half an hour to my drive every day.",
    "Our comment policy: comments are moderated and will be published after review.",
    "Copyright 2026 Valley Courier. All rights reserved.",
]


def page(title: str, paragraphs: list[str]) -> bytes:
    """An article page as news sites serve it: navigation, share bar, the article, comments, footer."""
    body = "".join(f"<p>{text}</p>" for text in paragraphs)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title} | Valley Courier</title></head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/weather">Weather</a></li></ul></nav></header>
<div class="share"><p>Share this article</p></div>
<main><article><h1>{title}</h1>{title}{title}{body}</article></main>
<section id="comments" class="comments"><h2>Comments</h2><p>Add new comment</p>
<div class="comment"><p>The detour through Kvarnby added half an hour to my drive every day.</p></div>
<p>Our comment policy: comments are moderated and will be published after review.</p></section>
<footer><p>Copyright 2026 Valley Courier. All rights reserved.</p><a href="/privacy">Privacy policy</a></footer>
</body></html>""".encode()


def feed(base: str, private_base: str) -> bytes:
    """Summary-only items; each link points at one kind of page."""
    items = [
        ("bridge", "Harbour bridge reopens after repairs", f"{base}/article/bridge"),
        ("school", "Kvarnby school gets a new roof", f"{base}/article/school"),
        ("private", "Council minutes published", f"{private_base}/article/private"),
        ("slow", "Slow page story", f"{base}/article/slow"),
        ("missing", "Missing page story", f"{base}/article/missing"),
        ("plain", "Plain text story", f"{base}/article/plain"),
        ("redirect", "Redirected story", f"{base}/article/redirect"),
        ("huge", "Huge page story", f"{base}/article/huge"),
    ]
    entries = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>"
        f"<description>Summary of {guid}: a short teaser.</description></item>"
        for guid, title, link in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Valley Courier</title>{entries}</channel></rss>'.encode()


class Site:
    """A news site on loopback that counts requests per path."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.base = ""
        self.private_base = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{path:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests[path] = self.requests.get(path, 0) + 1
        if path == "/feed":
            return web.Response(body=feed(self.base, self.private_base), content_type="application/rss+xml")
        if path == "/article/bridge":
            return web.Response(body=page("Harbour bridge reopens after repairs", BODY), content_type="text/html")
        if path == "/article/school":
            school = ["Kvarnby school will get a new roof over the summer holidays, the education board decided on Monday. " * 2]
            return web.Response(body=page("Kvarnby school gets a new roof", school), content_type="text/html")
        if path == "/article/slow":
            response = web.StreamResponse(headers={"Content-Type": "text/html"})
            await response.prepare(request)
            for _ in range(20):
                await response.write(b"<p>slow</p>")
                await asyncio.sleep(0.25)
            return response
        if path == "/article/redirect":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")  # the guard checks every hop
        if path == "/article/huge":
            return web.Response(body=page("Huge", ["word " * 400_000]), content_type="text/html")  # over the 1 MB cap
        if path == "/article/plain":
            return web.Response(text="Just words, not a page.", content_type="text/plain")
        raise web.HTTPNotFound()


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    scripted = Site()
    runner, port = await serve(scripted.app())
    scripted.base = f"http://127.0.0.1:{port}"
    # the same server's port on another loopback address: not on the allowlist, so the guard refuses it
    scripted.private_base = f"http://127.0.0.2:{port}"
    yield scripted
    await runner.cleanup()


@pytest.fixture
async def parser() -> AsyncIterator[ParserPool]:
    pool = ParserPool(10.0)
    yield pool
    pool.kill()


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"fetch_allow_hosts": ["127.0.0.1/32"], "fetch_timeout_seconds": 2.0, "fetch_max_bytes": 1_000_000}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def test_fulltext_replaces_summaries_once_per_item(site: Site, parser: ParserPool, caplog: pytest.LogCaptureFixture) -> None:
    url = f"{site.base}/feed"
    state = FeedState(source=FeedSource(id="valley", url=url, fulltext=True), partition=0)
    caplog.set_level(logging.WARNING, logger="streams.poll.fulltext")
    async with Fetcher(settings()) as fetcher:
        first = await poll_feed(state, fetcher, parser, settings(), now=1000.0)
        second = await poll_feed(first.state, fetcher, parser, settings(), now=2000.0)

    by_guid = {article.guid: article for article in first.articles}
    assert first.new == 8 and len(by_guid) == 8  # no article lost, whatever its page did
    bridge = by_guid["bridge"].text
    for paragraph in BODY:
        assert paragraph in bridge
    for debris in DEBRIS:
        assert debris not in bridge
    assert "Harbour bridge reopens after repairs" not in bridge  # the title, repeated on the page, is debris
    assert "education board decided on Monday" in by_guid["school"].text
    for guid in ("private", "slow", "missing", "plain", "redirect", "huge"):
        assert by_guid[guid].text == f"Summary of {guid}: a short teaser."
    # the content hash stays the feed item's: the next poll sees nothing new and fetches no page
    assert second.articles == [] and second.status == "ok"
    assert first.fulltext == {"ok": 2, "fetch_blocked": 2, "fetch_timeout": 1, "fetch_http_status": 1, "not_html": 1, "fetch_too_large": 1}
    assert second.fulltext == {}
    # each page fetched once across two polls; the private page never reached the server
    assert site.requests == {
        "/feed": 2,
        "/article/bridge": 1,
        "/article/school": 1,
        "/article/slow": 1,
        "/article/missing": 1,
        "/article/plain": 1,
        "/article/redirect": 1,
        "/article/huge": 1,
    }
    lines = [record.getMessage() for record in caplog.records if record.name == "streams.poll.fulltext"]
    assert len(lines) == 6
    private_line = next(line for line in lines if "/article/private" in line)
    assert "feed valley" in private_line and f"{site.private_base}/article/private" in private_line
    assert f"fetch_blocked: connection to non-public address 127.0.0.2:{site.private_base.rsplit(':', 1)[1]} refused" in private_line
    assert any("/article/slow" in line and "fetch_timeout: no complete response within 2 s" in line for line in lines)
    assert any(
        "/article/redirect" in line
        and "non-public address 169.254.169.254:80 refused" in line
        and "(redirected to http://169.254.169.254" in line
        for line in lines
    )
    assert any("/article/huge" in line and "fetch_too_large" in line for line in lines)


async def test_revision_fetches_the_page_again(site: Site, parser: ParserPool) -> None:
    url = f"{site.base}/feed"
    state = FeedState(source=FeedSource(id="valley", url=url, fulltext=True), partition=0)
    async with Fetcher(settings()) as fetcher:
        first = await poll_feed(state, fetcher, parser, settings(), now=1000.0)
        # the feed's item for the bridge changed: a revision, whose page is fetched once more
        recent = dict(first.state.recent)
        bridge_id = next(article.id for article in first.articles if article.guid == "bridge")
        recent[bridge_id] = ["an older hash", 1]
        second = await poll_feed(first.state.model_copy(update={"recent": recent}), fetcher, parser, settings(), now=2000.0)
    assert [(article.guid, article.revision) for article in second.articles] == [("bridge", 2)]
    assert BODY[0] in second.articles[0].text and second.fulltext == {"ok": 1}
    assert site.requests["/article/bridge"] == 2 and site.requests["/article/school"] == 1


async def test_no_page_fetched_unless_asked(site: Site, parser: ParserPool) -> None:
    url = f"{site.base}/feed"
    state = FeedState(source=FeedSource(id="valley", url=url), partition=0)
    async with Fetcher(settings()) as fetcher:
        plain = await poll_feed(state, fetcher, parser, settings(), now=1000.0)
        assert plain.new == 8 and plain.fulltext == {}
        assert site.requests == {"/feed": 1}
        # the short-summary setting fetches pages for any feed whose items are only teasers
        short = await poll_feed(state, fetcher, parser, settings(fulltext_summary_chars=200), now=1000.0)
    assert short.fulltext["ok"] == 2
    assert site.requests["/article/bridge"] == 1


def test_extract_text_refuses_what_is_not_an_article() -> None:
    with pytest.raises(FulltextError, match="not an HTML page") as caught:
        extract_text(b'{"a": 1}', "application/json", "http://x/a", "A")
    assert caught.value.outcome == "not_html"
    with pytest.raises(FulltextError, match="no article text") as caught:
        extract_text(b"<html><head><title>A</title></head><body><script>app()</script></body></html>", "text/html", "http://x/a", "A")
    assert caught.value.outcome == "empty"
    # raised in a parser process, it crosses back pickled with its outcome
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own bytes, as the process pool does
    assert isinstance(copy, FulltextError) and copy.outcome == "empty" and str(copy) == "no article text found on the page"
    # a page served without a content type is sniffed
    assert BODY[0] in extract_text(page("Bridge", BODY), "", "http://x/a", "Bridge")


async def test_page_fetches_obey_the_per_host_limit(parser: ParserPool) -> None:
    in_flight = most = 0
    served: list[str] = []

    async def article(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.3)  # long enough for the other requests to pile up behind the limit
        in_flight -= 1
        served.append(request.path)
        return web.Response(body=page("Story", BODY), content_type="text/html")

    async def rss(request: web.Request) -> web.Response:
        entries = "".join(f"<item><guid>s{n}</guid><title>Story {n}</title><link>{base}/a/{n}</link></item>" for n in range(6))
        return web.Response(
            body=f'<rss version="2.0"><channel><title>T</title>{entries}</channel></rss>'.encode(), content_type="application/rss+xml"
        )

    app = web.Application()
    app.router.add_get("/feed", rss)
    app.router.add_get("/a/{n}", article)
    runner, port = await serve(app)
    base = f"http://127.0.0.1:{port}"
    try:
        state = FeedState(source=FeedSource(id="busy", url=f"{base}/feed", fulltext=True), partition=0)
        async with Fetcher(settings(fetch_per_host=2)) as fetcher:
            outcome = await poll_feed(state, fetcher, parser, settings(fetch_per_host=2), now=1000.0)
    finally:
        await runner.cleanup()
    assert outcome.fulltext == {"ok": 6} and sorted(served) == sorted(f"/a/{n}" for n in range(6))
    assert most <= 2


async def test_extraction_has_the_parse_deadline() -> None:
    pool = ParserPool(0.001)  # no extraction (not even the process start) fits in a millisecond
    try:
        with pytest.raises(FulltextError, match="extracting the text of .* took longer than 0.001 s") as caught:
            await pool.extract(page("Bridge", BODY), "text/html", "http://x/a", "Bridge")
    finally:
        pool.kill()
    assert caught.value.outcome == "extract_failed"
