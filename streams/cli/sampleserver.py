"""A local HTTP server for the sample feeds the project ships, with ETag and Last-Modified like a real site."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from pathlib import Path

from aiohttp import web

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
FEED_FILES = sorted(path.name for path in SAMPLES.glob("*.xml"))
WATCHLIST = SAMPLES / "watchlist.yaml"
#: the dates of the sample feeds (RSS and Atom), as the files give them
DATES = re.compile(r"<(pubDate|lastBuildDate|updated|published)>([^<]+)</\1>")
#: how old the newest sample article is when the server starts: the samples are always recent news
NEWEST_AGE = timedelta(hours=1)


#: the elements dated as in e-mail (RFC 822, RSS); the others are ISO 8601 (Atom)
MAIL_DATED = frozenset({"pubDate", "lastBuildDate"})


def _parse_date(element: str, text: str) -> datetime:
    if element in MAIL_DATED:
        return parsedate_to_datetime(text.strip())
    return datetime.fromisoformat(text.strip())


def _format_date(element: str, when: datetime) -> str:
    return format_datetime(when, usegmt=True) if element in MAIL_DATED else when.strftime("%Y-%m-%dT%H:%M:%SZ")


def date_shift(now: datetime) -> timedelta:
    """How far the samples' dates move so the newest is :data:`NEWEST_AGE` old at ``now`` (whole minutes).

    The files carry fixed dates; served as written they would age past every rule's look-back (old news never alerts
    as new) and the tour of `make run` would show nothing a month later.
    """
    dates = [_parse_date(m[1], m[2]) for path in SAMPLES.glob("*.xml") for m in DATES.finditer(path.read_text("utf-8"))]
    newest = max(dates, default=now)
    shift = now - NEWEST_AGE - newest
    return timedelta(minutes=shift // timedelta(minutes=1))


def shifted(text: str, shift: timedelta) -> str:
    """A sample feed with every date moved by ``shift`` (their order and spacing kept)."""
    return DATES.sub(lambda m: f"<{m[1]}>{_format_date(m[1], _parse_date(m[1], m[2]).astimezone(UTC) + shift)}</{m[1]}>", text)


def sample_feed_urls(port: int, host: str = "127.0.0.1") -> list[str]:
    return [f"http://{host}:{port}/feeds/{name}" for name in FEED_FILES]


def sample_feeds(port: int, host: str = "127.0.0.1") -> list[tuple[str, str]]:
    """Each sample feed's URL and its own title (what `feeds add` would store for it)."""
    return [(f"http://{host}:{port}/feeds/{name}", feed_title(SAMPLES / name)) for name in FEED_FILES]


def sample_article_count() -> int:
    """How many articles the sample feeds hold (what a demo run must see)."""
    return sum(path.read_text("utf-8").count("<item>") + path.read_text("utf-8").count("<entry>") for path in SAMPLES.glob("*.xml"))


async def _feed(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in FEED_FILES:
        raise web.HTTPNotFound(text=f"no sample feed {name}")
    path = SAMPLES / name
    body, etag = request.app[SERVED][name]
    last_modified = formatdate(path.stat().st_mtime, usegmt=True)
    headers = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": "max-age=5"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    content_type = "application/atom+xml" if b"<feed" in body[:300] else "application/rss+xml"
    return web.Response(body=body, headers=headers, content_type=content_type)


def feed_title(path: Path) -> str:
    """A sample feed's own title (the first <title>), for the index page."""
    text = path.read_text("utf-8")
    start = text.find("<title>")
    end = text.find("</title>", start)
    return text[start + len("<title>") : end].strip() if start >= 0 and end > start else path.name


async def _index(request: web.Request) -> web.Response:
    """The sample feeds as a web page: a link to each, and each as ``<link rel="alternate">``, so the page the banner
    names answers, and ``feeds add`` given it finds the feeds as it would on a news site."""
    rows, links = [], []
    for name in FEED_FILES:
        path = SAMPLES / name
        kind = "application/atom+xml" if b"<feed" in path.read_bytes()[:300] else "application/rss+xml"
        title = html.escape(feed_title(path))
        links.append(f'<link rel="alternate" type="{kind}" title="{title}" href="/feeds/{name}">')
        rows.append(f'<li><a href="/feeds/{name}">{title}</a> <code>/feeds/{name}</code></li>')
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Wirewatch sample feeds</title>'
        + "".join(links)
        + "</head><body><h1>Wirewatch sample feeds</h1><p>Invented articles the project ships; "
        + "<code>wirewatch run</code> polls them.</p><ul>"
        + "".join(rows)
        + "</ul></body></html>"
    )
    return web.Response(text=page, content_type="text/html")


SHIFT = web.AppKey("shift", timedelta)
#: each feed as served (dates moved) and its ETag, made once when the site starts: polls only read them
SERVED = web.AppKey("served", dict[str, tuple[bytes, str]])


def make_app(now: datetime | None = None) -> web.Application:
    """The sample site, its feeds dated as if the newest article came out an hour before ``now`` (the start)."""
    app = web.Application()
    app[SHIFT] = date_shift(now or datetime.now(tz=UTC))
    app[SERVED] = {}
    for name in FEED_FILES:
        body = shifted((SAMPLES / name).read_text("utf-8"), app[SHIFT]).encode("utf-8")
        app[SERVED][name] = (body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
    app.router.add_get("/", _index)
    app.router.add_get("/feeds/", _index)
    app.router.add_get("/feeds/{name}", _feed)
    return app


async def start(port: int, host: str = "127.0.0.1") -> web.AppRunner:
    """Start serving the samples; stop with ``await runner.cleanup()``."""
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
