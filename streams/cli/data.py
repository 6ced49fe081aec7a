"""``wirewatch search`` and ``wirewatch entity``: what the sink stored."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from streams.cli.common import console, out, print_json, run_async
from streams.config import get_settings


async def _with_sink(action: Any) -> Any:
    from streams.errors import SinkUnavailable
    from streams.store.connect import create_sink
    from streams.text import mask_urls_in

    settings = get_settings()
    sink = create_sink(settings)
    try:
        await sink.open()
    except Exception as exc:  # noqa: BLE001 - refused, a wrong password, a bad URL, an unreadable file: one line, exit 2
        where = "WIREWATCH_DATABASE_URL" if settings.database_url is not None else str(settings.sqlite_path)
        raise SinkUnavailable(f"cannot open the database ({where}): {type(exc).__name__}: {mask_urls_in(str(exc))}") from exc
    try:
        return await action(sink)
    finally:
        await sink.close()


@click.command()
@click.argument("text")
@click.option("--since", default=None, help="Only articles newer than this: 2d, 12h, 30m, 1w or an ISO date.")
@click.option("--type", "entity_type", default=None, help="Only articles naming a TEXT entity of this type (GPE, PERSON, ...).")
@click.option("--limit", "-n", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def search(text: str, since: str | None, entity_type: str | None, limit: int, as_json: bool) -> None:
    """Full-text search of the stored articles: every word of TEXT must occur; newest first, one row per story."""
    from streams.clock import parse_since
    from streams.errors import InputError
    from streams.store.queries import SearchQuery, group_by_story, to_plain

    try:
        query = SearchQuery(text, parse_since(since) if since else None, entity_type.upper() if entity_type else None, limit)
        hits = run_async(_with_sink(lambda sink: sink.search(query)))
    except InputError as exc:
        raise click.BadParameter(str(exc)) from exc
    if as_json:
        print_json(to_plain(hits))
        return
    from rich.markup import escape

    groups = group_by_story(hits)
    title = escape(f"{len(hits)} article(s) in {len(groups)} stor{'y' if len(groups) == 1 else 'ies'} matching {text!r}")
    table = Table("time", "title", "entities", "snippet", title=title)
    for hit, more in groups:
        outlets = len({other.feed_id for other in more} - {hit.feed_id})
        also = f"\n[dim]and {outlets} more outlet{'s' if outlets != 1 else ''}[/]" if outlets else ""
        table.add_row((hit.published or hit.fetched)[:16], escape(hit.title) + also, escape(", ".join(hit.entities)), escape(hit.snippet))
    out.print(table)


@click.command()
@click.argument("name")
@click.option("--limit", "-n", type=click.IntRange(1, 10_000), default=10, show_default=True, help="Co-mentioned entities, articles shown.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def entity(name: str, limit: int, as_json: bool) -> None:
    """An entity's mention timeline (per day), the entities named with it and its latest articles."""
    from rich.markup import escape

    from streams.errors import QueryError
    from streams.store.queries import to_plain

    try:
        report = run_async(_with_sink(lambda sink: sink.entity_report(name, limit)))
    except QueryError as exc:
        raise click.BadParameter(str(exc)) from exc
    if report is None:
        if as_json:
            print_json(None)
        console.print(f"no stored entity matches {name!r}")
        sys.exit(1)
    if as_json:
        print_json(to_plain(report))
        return
    e = report.entity
    out.print(escape(f"{e.name} ({e.type}, id {e.id}): {e.mentions} mention(s)"))
    timeline = Table("day", "mentions", title="timeline")
    for day, count in report.timeline:
        timeline.add_row(day, str(count))
    out.print(timeline)
    company = Table("entity", "type", "shared articles", title="co-mentioned")
    for other in report.co_mentioned:
        company.add_row(escape(other.name), other.type, str(other.mentions))
    out.print(company)
    articles = Table("time", "title", title="latest articles")
    for article in report.articles:
        articles.add_row(str(article["time"])[:16], escape(article["title"]))
    out.print(articles)
    if report.others:
        out.print(escape("also matching: " + ", ".join(f"{o.name} ({o.type}, {o.mentions})" for o in report.others)))
