"""``wirewatch feeds``: the feed registry on the compacted topic ``wirewatch.feeds``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from streams.cli.common import console, fail, out, print_json, run_async
from streams.cli.tables import WIDE_HELP, Column, print_rows
from streams.config import get_settings


@click.group()
def feeds() -> None:
    """Manage the feed registry (the compacted topic wirewatch.feeds)."""


@feeds.command("add")
@click.argument("urls", nargs=-1, required=True)
@click.option("--title", default="", help="A title for the feed.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--language", default=None, help="Language of the feed's articles (e.g. en).")
@click.option("--min-interval", type=click.IntRange(min=1), default=None, help="Shortest interval between polls (s).")
@click.option("--max-interval", type=click.IntRange(min=1), default=None, help="Longest interval between polls (s).")
@click.option(
    "--fulltext/--no-fulltext",
    default=False,
    help="Fetch each new item's article page (guarded, once per item version) and publish its main text "
    "(trafilatura); a page that fails keeps the feed's text.",
)
@click.option("--disabled", is_flag=True, help="Register the feed without polling it.")
@click.option(
    "--check/--no-check",
    default=True,
    help="Fetch each URL once through the poller's guarded client and parser first: a feed is added with its own "
    "title (unless --title), anything else is reported and not added (exit 1); a web page lists the feeds it names.",
)
@click.option("--pick", default=None, metavar="N[,N...]|all", help="Add these of the feeds a web page names (numbers as listed).")
def feeds_add(
    urls: tuple[str, ...],
    title: str,
    tags: tuple[str, ...],
    language: str | None,
    min_interval: int | None,
    max_interval: int | None,
    fulltext: bool,
    disabled: bool,
    check: bool,
    pick: str | None,
) -> None:
    """Add feeds (or the feeds a web page names) by URL, checked first; adding one twice updates it."""
    from rich.markup import escape

    from streams.cli.feedcheck import check_urls, parse_pick
    from streams.errors import InputError, RegistryError
    from streams.kafka.client import publish
    from streams.poll.feedlist import make_source

    def source_of(url: str, own_title: str) -> Any:
        try:
            return make_source(url, title or own_title, list(tags), language, min_interval, max_interval, fulltext, not disabled)
        except RegistryError as exc:
            raise click.BadParameter(str(exc), param_hint="URL") from exc

    sources = [source_of(url, "") for url in urls]  # every URL and option is valid before anything is fetched
    failed = False
    if check:
        try:
            chosen = parse_pick(pick)
        except InputError as exc:
            raise click.BadParameter(str(exc), param_hint="--pick") from exc
        report = run_async(check_urls([source.url for source in sources], chosen, get_settings()))
        sources, failed = [source_of(url, own_title) for url, own_title in report.feeds], report.failed
    if sources:
        run_async(publish(get_settings(), "feeds", [(source.id, source) for source in sources]))
    for source in sources:
        shown = f'  "{escape(source.title)}"' if source.title else ""
        out.print(f"added feed {source.id}  {escape(source.url)}{shown}", soft_wrap=True)
    if failed:
        sys.exit(1)


@feeds.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--check/--no-check",
    default=True,
    help="Check each feed first as `feeds add` does (a few at a time, politely per host): only those that answer as a "
    "feed are added (exit 1 when any is not); --no-check adds every one unchecked.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines (one object per entry of the file).")
@click.option("--wide", is_flag=True, help=WIDE_HELP)
def feeds_import(path: Path, check: bool, as_json: bool, wide: bool) -> None:
    """Add every feed of an OPML or YAML file (the YAML keys: docs/rules.md), checked first, with a summary table."""
    from streams.cli.feedimport import check_plan, json_rows, print_summary, read_list
    from streams.errors import RegistryError
    from streams.kafka.client import publish

    settings = get_settings()
    try:
        plan = read_list(path, settings)
    except (RegistryError, OSError) as exc:
        fail(f"{path}: {exc}")
    if check:
        sources = run_async(check_plan(plan, settings))
    else:
        sources = plan.sources
        for row in plan.rows:
            row.added = row.outcome != "duplicate"
    if sources:
        run_async(publish(settings, "feeds", [(source.id, source) for source in sources]))
    if as_json:
        print_json(json_rows(plan))
    else:
        print_summary(plan, path, wide)
    if any(not row.added and row.outcome != "duplicate" for row in plan.rows):
        sys.exit(1)


@feeds.command("remove")
@click.argument("url_or_id")
def feeds_remove(url_or_id: str) -> None:
    """Remove a feed by URL or id (writes a tombstone)."""
    from streams import ids
    from streams.kafka.client import publish

    key = ids.feed_id(url_or_id) if "://" in url_or_id else url_or_id
    run_async(publish(get_settings(), "feeds", [(key, None)]))
    out.print(f"removed feed {key}")


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--wide", is_flag=True, help=WIDE_HELP)
def feeds_list(as_json: bool, wide: bool) -> None:
    """List the registered feeds with their health (from the poller's feed-state changelog)."""
    import time
    from datetime import UTC, datetime

    from rich.markup import escape

    from streams.clock import human_ago, human_in
    from streams.poll.health import load_feed_board

    board = run_async(load_feed_board(get_settings()))
    rows = board.rows(warn=lambda message: console.print(f"[yellow]warning:[/] {message}"))
    if as_json:
        print_json(rows)
        return
    now = time.time()

    def when(ts: float | None) -> str:
        if not ts:
            return "-"
        return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if wide else human_ago(now - ts)

    columns = [
        Column("id", wide_only=True),
        Column("title", wide_only=True),
        Column("url", cut=True),
        Column("status", short=True),
        Column("last poll", short=True),
        Column("errors", wide_only=True),
        Column("last error", cut=True),
        Column("next check", short=True),
        Column("items seen", wide_only=True),
        Column("old", short=True),
    ]
    cells = [
        [
            row["id"],
            escape(row.get("title") or ""),
            escape(row["url"]),
            row["status"],
            when(row["last_poll"]),
            str(row["error_count"]),
            escape(row["last_error"] or ""),
            human_in(row["next_check_in"]),
            str(row["items_seen"]),
            str(row["suspect_dates"]),
        ]
        for row in rows
    ]
    print_rows(columns, cells, wide)
