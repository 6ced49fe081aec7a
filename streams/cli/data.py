"""``wirewatch search`` and ``wirewatch entity``: what the sink stored."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table

from streams.cli.common import console, out, print_json, run_async
from streams.cli.tables import WIDE_HELP, Column, print_rows
from streams.config import get_settings

#: how long ``wirewatch entity`` waits for the registry topic before showing the stored mentions alone
REGISTRY_SECONDS = 20.0


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
@click.option("--wide", is_flag=True, help=WIDE_HELP)
def search(text: str, since: str | None, entity_type: str | None, limit: int, as_json: bool, wide: bool) -> None:
    """Search the stored articles with a rule's query (docs/rules.md "Query rules"): words (all must occur), "phrases",
    AND / OR / NOT / -word, parentheses, title: text: source: feed: lang: entity: type:; newest first, one row per story."""
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

    from streams.clock import human_ago, utcnow

    now = utcnow()
    columns = [Column("time", short=True), Column("title"), Column("entities", wide_only=True), Column("snippet")]
    groups = group_by_story(hits)
    rows = []
    for hit, more in groups:
        stamp = hit.published or hit.fetched
        outlets = len({other.feed_id for other in more} - {hit.feed_id})
        also = f" [dim](and {outlets} more outlet{'s' if outlets != 1 else ''})[/]" if outlets else ""
        title = bold(hit.title, [(s.start, s.end) for s in hit.spans if s.where == "title"])
        rows.append([stamp[:16] if wide else human_ago((now - _parsed(stamp)).total_seconds()), title + also,
                     escape(", ".join(hit.entities)), bold(hit.snippet, [(h.start, h.end) for h in hit.highlights])])  # fmt: skip
    stories = f"{len(groups)} stor{'y' if len(groups) == 1 else 'ies'}"
    print_rows(columns, rows, wide, title=escape(f"{len(hits)} article(s) in {stories} matching {text!r}"))
    if not hits:
        console.print(escape(run_async(_with_sink(lambda sink: why_nothing(sink, query, now)))), soft_wrap=True)


#: how many matches an empty search counts beyond its filters, at most
_COUNTED = 1000


async def why_nothing(sink: Any, query: Any, now: Any) -> str:
    """Why a search found nothing: the matches its ``--since`` or ``--type`` left out, and the option that finds them."""
    from dataclasses import replace

    if query.since is not None:
        older = await sink.search(replace(query, since=None, limit=_COUNTED))
        if older:
            newest = max(_parsed(hit.published or hit.fetched) for hit in older)
            days = max(1, -(-int((now - newest).total_seconds()) // 86_400))  # whole days, rounded up
            count = f"{len(older)}+" if len(older) >= _COUNTED else str(len(older))
            since = f"{query.since:%Y-%m-%d %H:%M} UTC"
            return f"no match since {since}; {count} older match(es), the newest {_ago(now, newest)}; try --since {days}d"
    if query.entity_type is not None:
        untyped = await sink.search(replace(query, entity_type=None, limit=_COUNTED))
        if untyped:
            count = f"{len(untyped)}+" if len(untyped) >= _COUNTED else str(len(untyped))
            return f"no match names a {query.entity_type} entity; {count} match(es) without --type"
    return f"no stored article matches {query.text!r}"


def bold(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` as Rich markup with the spans bold (everything else escaped: feed text is never markup)."""
    from rich.markup import escape

    parts, last = [], 0
    for start, end in sorted(spans):
        if start < last or end > len(text):
            continue  # overlapping or outside: shown plain rather than garbled
        parts += [escape(text[last:start]), "[bold]", escape(text[start:end]), "[/bold]"]
        last = end
    return "".join(parts) + escape(text[last:])


def _ago(now: Any, when: Any) -> str:
    from streams.clock import human_ago

    return human_ago((now - when).total_seconds())


def _parsed(stamp: str) -> datetime:
    """A stored time (ISO 8601) as an aware datetime (naive ones are UTC)."""
    when = datetime.fromisoformat(stamp)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.command()
@click.argument("name")
@click.option("--limit", "-n", type=click.IntRange(1, 10_000), default=10, show_default=True, help="Co-mentioned entities, articles shown.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def entity(name: str, limit: int, as_json: bool) -> None:
    """An entity's registry entry (variants, ids, types seen, first seen), its mention timeline across all its names
    (per day), the entities named with it and its latest articles."""
    from rich.markup import escape

    from streams.cli.entities import find_entity, print_entry, registry_json, registry_records
    from streams.errors import BrokerUnavailable, QueryError
    from streams.store.queries import to_plain

    entry = records = None
    try:
        records = asyncio.run(asyncio.wait_for(registry_records(get_settings()), REGISTRY_SECONDS))
        entry, _ = find_entity(records, name)
    except (BrokerUnavailable, TimeoutError, OSError) as exc:
        console.print(escape(f"note: the entity registry is not readable ({type(exc).__name__}): the stored mentions only"))
    stored = entry.name if entry is not None else name  # every variant's mentions carry the registry's id
    try:
        report = run_async(_with_sink(lambda sink: sink.entity_report(stored, limit)))
    except QueryError as exc:
        raise click.BadParameter(str(exc)) from exc
    if report is None and entry is None:
        if as_json:
            print_json(None)
        console.print(f"no stored entity matches {name!r}")
        sys.exit(1)
    if as_json:
        plain = to_plain(report) if report is not None else {}
        if entry is not None and records is not None:
            plain["registry"] = registry_json(records, entry)
        print_json(plain)
        return
    if entry is not None and records is not None:
        print_entry(records, entry)
    if report is None:
        console.print(f"no stored mentions of {name!r} yet")
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
