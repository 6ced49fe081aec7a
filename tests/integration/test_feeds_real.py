"""Every real feed under ../shared/data/feeds served on loopback and polled: no crash, clean text, Expect: cases."""

from __future__ import annotations

import ast
import asyncio
import calendar
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from schemas import Article, FeedSource, encode
from streams.config import Settings
from streams.poll.fetch import Fetcher
from streams.poll.pagetext import html_to_text
from streams.poll.parserpool import ParserPool
from streams.poll.state import FeedState
from streams.poll.steps import PollOutcome, poll_feed
from tests.loopback import serve

FEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "feeds"
pytestmark = pytest.mark.skipif(not FEEDS.is_dir(), reason="../shared/data/feeds is not present")

# The Expect: lines checked: one field of the first entry that we publish, compared with a literal.
# Fields: title (as clean text), link (article url), id (guid), published_parsed (published).
# Left out on purpose: other fields (we do not publish them), expressions comparing entries with each
# other or calling functions, and sanitizer/relative-URI cases, because we ask feedparser for neither
# (sanitize_html=False, resolve_relative_uris=False: our own html_to_text drops all markup).
# On the stored test set that leaves 40 title cases and 30 link/id/published cases (CDF excluded).
_EXPECT = re.compile(r"^\s*(?:not bozo and\s+)?entries\[0\]\['(title|link|id|published_parsed)'\]\s*==\s*(.+?)\s*$")
_SKIP_DESCRIPTIONS = re.compile(r"relative|sanitiz|xml:base|base64", re.IGNORECASE)


def expectation(body: bytes) -> tuple[str, Any] | None:
    """The (field, value) of a checkable ``Expect:`` line in a feedparser test file, if there is one."""
    head = body[:3000].decode("utf-8", "replace")
    description = re.search(r"Description:(.*)", head)
    if description and _SKIP_DESCRIPTIONS.search(description.group(1)):
        return None
    match = re.search(r"Expect:(.*)", head)
    if not match or not (expect := _EXPECT.match(match.group(1))):
        return None
    try:
        value = ast.literal_eval(expect.group(2))
    except (ValueError, SyntaxError):
        return None
    return expect.group(1), value


def check_expectation(field: str, expected: Any, article: Article) -> bool:
    if field == "title":
        return article.title == html_to_text(expected)
    if field == "link":
        return article.url == expected
    if field == "id":
        return article.guid == expected
    when = datetime.fromtimestamp(calendar.timegm(expected), tz=UTC)
    return article.published == when


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {str(path.relative_to(FEEDS)): path.read_bytes() for path in sorted(FEEDS.rglob("*")) if path.is_file()}


@pytest.fixture
async def feed_server(files: dict[str, bytes]) -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.Response:
        # bytes only, no charset: encodings are resolved from the document, as for a server that declares none
        return web.Response(body=files[request.match_info["path"]], content_type="application/xml")

    app = web.Application()
    app.router.add_get("/{path:.+}", handle)
    runner, port = await serve(app)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_every_real_feed_polls_cleanly(files: dict[str, bytes], feed_server: str) -> None:
    settings = Settings(fetch_allow_hosts=["127.0.0.1/32"], fetch_timeout_seconds=20.0, parse_timeout_seconds=20.0)
    parser = ParserPool(settings.parse_timeout_seconds)
    outcomes: dict[str, PollOutcome] = {}
    names = list(files)
    try:
        async with Fetcher(settings) as fetcher:
            for start in range(0, len(names), 32):
                batch = names[start : start + 32]
                states = [FeedState(source=FeedSource(id=name, url=f"{feed_server}/{name}"), partition=0) for name in batch]
                results = await asyncio.gather(*(poll_feed(state, fetcher, parser, settings, 0.0) for state in states))
                outcomes.update(zip(batch, results, strict=True))
    finally:
        parser.kill()

    assert len(outcomes) == len(files) > 2000
    # every feed either yielded articles or a specific error; none crashed the poll
    unexplained = [name for name, o in outcomes.items() if o.status == "error" and not (o.state.last_error or "").strip()]
    assert unexplained == []
    assert {o.error_kind for o in outcomes.values()} <= {None, "parse"}  # the server answered every request
    articles = [article for o in outcomes.values() for article in o.articles]
    assert len(articles) > 4000
    for outcome in outcomes.values():
        for data in [outcome.state.dumps(), *(encode(article) for article in outcome.articles)]:
            text = data.decode("utf-8")  # strictly valid UTF-8
            assert "\\u0000" not in text and "\x00" not in text

    checked = 0
    mismatches = []
    for name, body in files.items():
        if not name.startswith("feedparser/") or not (expect := expectation(body)) or expect[0] != "title":
            continue
        outcome = outcomes[name]
        if not outcome.articles:
            continue  # the entry's title is markup only (the sanitizer cases): no text, nothing published
        checked += 1
        if not check_expectation(*expect, outcome.articles[0]):
            mismatches.append((name, expect, outcome.articles[0].title))
    assert checked >= 35, checked
    assert mismatches == []


def test_feedparser_expectations_on_link_id_and_date(files: dict[str, bytes]) -> None:
    """The link, id and published Expect: cases, through our parser.

    Their test documents have entries with no title and no text, which we do not publish; a title is
    added to the first entry so there is an article whose other fields can be compared.
    """
    from datetime import UTC, datetime

    from streams.errors import FeedError
    from streams.poll.parse import parse_feed

    checked = 0
    mismatches = []
    for name, body in files.items():
        if not name.startswith("feedparser/") or not (expect := expectation(body)) or expect[0] == "title":
            continue
        if "/cdf/" in name:
            continue  # Microsoft CDF is not a format we read (RSS, Atom, RDF and JSON Feed are)
        titled = re.sub(rb"(<(item|entry)\b[^>]*>)", rb"\1<title>Expect check</title>", body, count=1)
        try:
            articles = parse_feed(titled, FeedSource(id="x", url="http://x/"), datetime.now(tz=UTC)).articles
        except FeedError as exc:
            mismatches.append((name, expect, str(exc)))
            continue
        checked += 1
        if not articles or not check_expectation(*expect, articles[0]):
            mismatches.append((name, expect, articles[0].model_dump(include={"url", "guid", "published"}) if articles else None))
    assert checked >= 25, checked
    assert mismatches == []
