"""``feeds add``'s check: each URL fetched once through the poller's guarded client and parser, pages searched for feeds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from rich.markup import escape

from streams.cli.common import console, out
from streams.config import Settings
from streams.errors import FeedError, FetchError, InputError
from streams.poll.check import FeedCheck, check_feed
from streams.poll.fetch import Fetcher, shown_url
from streams.poll.parserpool import ParserPool


@dataclass
class CheckReport:
    """The outcome of checking the URLs of one ``feeds add``: the feeds to register (URL, own title) and whether
    anything went wrong (a URL that is no feed, a page whose feeds were not picked)."""

    feeds: list[tuple[str, str]] = field(default_factory=list)
    failed: bool = False


def parse_pick(value: str | None) -> set[int] | None:
    """``--pick``: ``all`` (every feed, ``{0}``), or numbers ``1,3``; ``None`` when not given."""
    if value is None:
        return None
    if value.strip().lower() == "all":
        return {0}
    try:
        picked = {int(part) for part in value.split(",") if part.strip()}
    except ValueError:
        raise InputError(f"--pick {value!r}: give feed numbers (1,3) or 'all'") from None
    if not picked or min(picked) < 1:
        raise InputError(f"--pick {value!r}: feed numbers start at 1")
    return picked


async def check_urls(urls: list[str], pick: set[int] | None, settings: Settings) -> CheckReport:
    """Check every URL (a web page's picked feeds too), printing one line per URL as it is found."""
    report = CheckReport()
    parser = ParserPool(settings.parse_timeout_seconds, 1, settings.parse_max_memory_mb)
    try:
        async with Fetcher(settings) as fetcher:
            for url, outcome in zip(urls, await asyncio.gather(*(_check(url, fetcher, parser) for url in urls)), strict=True):
                if isinstance(outcome, Exception):
                    _problem(url, outcome, report)
                elif outcome.is_page:
                    chosen = _show_page(outcome, pick, report)
                    picked = await asyncio.gather(*(_check(found, fetcher, parser) for found in chosen))
                    for found, result in zip(chosen, picked, strict=True):
                        _feed(found, result, report)
                else:
                    _feed(url, outcome, report)
    finally:
        parser.kill()
    return report


async def _check(url: str, fetcher: Fetcher, parser: ParserPool) -> FeedCheck | Exception:
    try:
        return await check_feed(url, fetcher, parser)
    except (FetchError, FeedError) as exc:
        return exc


def _feed(url: str, outcome: FeedCheck | Exception, report: CheckReport) -> None:
    if isinstance(outcome, Exception) or outcome.is_page:
        _problem(url, outcome if isinstance(outcome, Exception) else FeedError("a web page, not a feed"), report)
        return
    title = f'"{escape(outcome.title)}"' if outcome.title else "no title"
    out.print(f"checked {escape(shown_url(url))}: a feed with {outcome.items} item(s), {title}", soft_wrap=True)
    report.feeds.append((url, outcome.title))


def _problem(url: str, exc: Exception, report: CheckReport) -> None:
    kind = f" ({exc.kind})" if isinstance(exc, FetchError) else ""
    console.print(f"[red]error:[/] {escape(shown_url(url))}: {escape(str(exc))}{kind}; not added", soft_wrap=True)
    report.failed = True


def _show_page(page: FeedCheck, pick: set[int] | None, report: CheckReport) -> list[str]:
    """List the feeds a page names; the URLs ``--pick`` chose among them."""
    count = len(page.found)
    out.print(f"{escape(shown_url(page.url))} is a web page, not a feed; it names {count} feed(s):", soft_wrap=True)
    for number, found in enumerate(page.found, 1):
        title = f"  {escape(found.title)}" if found.title else ""
        out.print(f"  {number}. {found.kind:<9} {escape(shown_url(found.url))}{title}", soft_wrap=True)
    if pick is None:
        console.print(f"nothing added: add them with --pick 1{',2' if count > 1 else ''} or --pick all", soft_wrap=True)
        report.failed = True
        return []
    if 0 in pick:
        return [found.url for found in page.found]
    beyond = sorted(number for number in pick if number > count)
    if beyond:
        console.print(f"[red]error:[/] --pick {','.join(map(str, beyond))}: the page names only {count} feed(s)")
        report.failed = True
    return [page.found[number - 1].url for number in sorted(pick) if number <= count]
