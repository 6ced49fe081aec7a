"""``feeds import``: every feed of an OPML or YAML list checked as ``feeds add`` checks one, a few at a time, then a summary."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas import FeedSource
from streams.cli.common import console, out
from streams.cli.feedcheck import check_one, problem_text
from streams.cli.tables import Column, print_rows
from streams.config import Settings
from streams.errors import RegistryError
from streams.poll.feedlist import parse_registry_file
from streams.poll.fetch import Fetcher, shown_url
from streams.poll.parserpool import ParserPool

#: the largest list file read: a 2,000-feed OPML export is about 400 KB, so this is far beyond any real one and
#: still small enough to read whole
MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass
class ImportRow:
    """One feed of the file and what became of it."""

    number: int
    url: str
    title: str = ""
    #: ``feed`` (checked: a feed), ``page`` (a web page naming feeds), ``error``, ``duplicate``, ``unchecked``
    outcome: str = "unchecked"
    #: what the check found, for people: "12 item(s)", the precise problem, "a web page naming 2 feed(s) ..."
    result: str = "not checked"
    items: int | None = None
    #: the feeds a web page names
    found: list[str] = field(default_factory=list)
    added: bool = False


@dataclass
class ImportPlan:
    """The file's feeds, one per feed id in file order, and a row for every entry (duplicates included)."""

    sources: list[FeedSource]
    rows: list[ImportRow]


def read_list(path: Path, settings: Settings) -> ImportPlan:
    """The feeds of ``path`` (OPML or YAML); raises :class:`RegistryError` (or ``OSError``) for a file that cannot
    be imported whole: too big, not OPML or YAML, a DTD, no feeds in it, more than ``import_max_feeds``."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise RegistryError(f"{size:,} bytes; a feed list may have at most {MAX_FILE_BYTES:,}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RegistryError(f"not UTF-8 text ({exc})") from exc
    if text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        raise RegistryError("an HTML page, not an OPML or YAML feed list (to add a site's feeds: `feeds add URL`)")
    entries = parse_registry_file(text)
    if not entries:
        raise RegistryError("no feeds in it (an OPML list names each feed in an <outline xmlUrl=...>)")
    sources: list[FeedSource] = []
    rows: list[ImportRow] = []
    first: dict[str, int] = {}
    for number, source in enumerate(entries, 1):
        row = ImportRow(number=number, url=source.url, title=source.title)
        if source.id in first:
            # the same feed id (the URL normalized) twice: the first entry's title and tags are the ones kept
            row.outcome, row.result = "duplicate", f"the same feed as row {first[source.id]}; skipped"
        else:
            first[source.id] = number
            sources.append(source)
        rows.append(row)
    if len(sources) > settings.import_max_feeds:
        raise RegistryError(
            f"{len(sources):,} feeds; an import takes at most {settings.import_max_feeds:,} "
            "(split the file, or raise WIREWATCH_IMPORT_MAX_FEEDS)"
        )
    return ImportPlan(sources, rows)


async def check_plan(plan: ImportPlan, settings: Settings) -> list[FeedSource]:
    """Check every feed of ``plan`` (``import_concurrency`` at once, ``fetch_per_host`` per host), filling in its row;
    the feeds to register, each titled by the file or else by the feed itself."""
    rows = {row.url: row for row in plan.rows if row.outcome != "duplicate"}
    limit = asyncio.Semaphore(settings.import_concurrency)
    # two parser processes: the machine this runs on has at least two cores, and parsing is the CPU-bound part
    parser = ParserPool(settings.parse_timeout_seconds, min(2, settings.import_concurrency), settings.parse_max_memory_mb)
    progress = Progress(
        TextColumn("checking feeds"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    added: list[FeedSource] = []
    try:
        async with Fetcher(settings) as fetcher:
            with progress:
                task = progress.add_task("checking", total=len(plan.sources))

                async def one(source: FeedSource) -> None:
                    async with limit:
                        outcome = await check_one(source.url, fetcher, parser)
                    row = rows[source.url]
                    if isinstance(outcome, Exception):
                        row.outcome, row.result = "error", problem_text(outcome)
                    elif outcome.is_page:
                        row.outcome, row.found = "page", [found.url for found in outcome.found]
                        row.result = f"a web page naming {len(outcome.found)} feed(s); pick one with `feeds add URL --pick N`"
                    else:
                        row.outcome, row.items, row.added = "feed", outcome.items, True
                        row.title = row.title or outcome.title
                        row.result = f"{outcome.items} item(s)"
                        added.append(source.model_copy(update={"title": row.title}))
                    progress.advance(task)

                await asyncio.gather(*(one(source) for source in plan.sources))
    finally:
        parser.kill()
    order = {source.id: index for index, source in enumerate(plan.sources)}
    return sorted(added, key=lambda source: order[source.id])


def print_summary(plan: ImportPlan, path: Path, wide: bool) -> None:
    """The table of every entry and one line of totals."""
    columns = [
        Column("#", short=True),
        Column("feed", cut=True),
        Column("title", wide_only=True),
        # at most half the table: the feed column keeps room for the part of a URL that tells feeds apart
        Column("result", max_width=40),
        Column("added", short=True),
    ]
    cells = [
        [
            str(row.number),
            escape(shown_url(row.url) if wide else _bare(row.url)),
            escape(row.title),
            escape(row.result),
            "yes" if row.added else "no" if row.outcome != "duplicate" else "-",
        ]
        for row in plan.rows
    ]
    print_rows(columns, cells, wide)
    added = sum(row.added for row in plan.rows)
    duplicates = sum(row.outcome == "duplicate" for row in plan.rows)
    refused = len(plan.rows) - added - duplicates
    tail = f"; {refused} not added" if refused else ""
    tail += f"; {duplicates} duplicate(s) skipped" if duplicates else ""
    out.print(f"imported {added} feed(s) from {escape(str(path))}{tail}", soft_wrap=True)


def _bare(url: str) -> str:
    """A URL for a narrow table: without its scheme, the 7 or 8 characters every row would repeat."""
    return shown_url(url).removeprefix("https://").removeprefix("http://")


def json_rows(plan: ImportPlan) -> list[dict[str, object]]:
    """The rows for ``--json``."""
    return [asdict(row) for row in plan.rows]
