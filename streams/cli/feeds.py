"""``wirewatch feeds``: the feed registry on the compacted topic ``wirewatch.feeds``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from streams.cli.common import console, fail, out, print_json, run_async
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
def feeds_add(
    urls: tuple[str, ...],
    title: str,
    tags: tuple[str, ...],
    language: str | None,
    min_interval: int | None,
    max_interval: int | None,
    fulltext: bool,
    disabled: bool,
) -> None:
    """Add feeds by URL (adding one twice updates it)."""
    from streams.errors import RegistryError
    from streams.kafka.client import publish
    from streams.poll.feedlist import make_source

    items: list[tuple[str, Any]] = []
    for url in urls:
        try:
            source = make_source(url, title, list(tags), language, min_interval, max_interval, fulltext, not disabled)
        except RegistryError as exc:
            raise click.BadParameter(str(exc), param_hint="URL") from exc
        items.append((source.id, source))
    run_async(publish(get_settings(), "feeds", items))
    for key, source in items:
        out.print(f"added feed {key}  {source.url}")


@feeds.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def feeds_import(path: Path) -> None:
    """Add every feed of an OPML or YAML file (the YAML keys: docs/rules.md)."""
    from streams.errors import RegistryError
    from streams.kafka.client import publish
    from streams.poll.feedlist import parse_registry_file

    try:
        sources = parse_registry_file(path.read_text("utf-8"))
    except (RegistryError, OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: {exc}")
    run_async(publish(get_settings(), "feeds", [(source.id, source) for source in sources]))
    out.print(f"imported {len(sources)} feed(s) from {path}")


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
def feeds_list(as_json: bool) -> None:
    """List the registered feeds with their health (from the poller's feed-state changelog)."""
    from datetime import UTC, datetime

    from streams.poll.health import load_feed_board

    board = run_async(load_feed_board(get_settings()))
    rows = board.rows(warn=lambda message: console.print(f"[yellow]warning:[/] {message}"))
    if as_json:
        print_json(rows)
        return

    def when(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"

    table = Table("id", "url", "status", "last poll (UTC)", "errors", "last error", "next check in", "items seen")
    for row in rows:
        table.add_row(
            row["id"],
            row["url"],
            row["status"],
            when(row["last_poll"]),
            str(row["error_count"]),
            (row["last_error"] or "")[:60],
            f"{row['next_check_in']:.0f} s" if row["next_check_in"] is not None else "-",
            str(row["items_seen"]),
        )
    out.print(table)
