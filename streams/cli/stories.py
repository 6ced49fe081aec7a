"""``wirewatch stories`` and ``wirewatch story``: stories across outlets, as the sink stored them."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from rich.markup import escape
from rich.table import Table

from schemas import Story
from streams.cli.common import console, out, print_json, run_async
from streams.cli.data import _with_sink
from streams.clock import human_ago, utcnow
from streams.store.base import Sink
from streams.store.queries import StoryArticleRow


@click.command()
@click.option("--since", default="6h", show_default=True, help="Stories with an article since: 30m, 6h, 2d, 1w or an ISO date.")
@click.option("--limit", "-n", type=int, default=20, show_default=True, help="Stories shown (the most articles first).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def stories(since: str, limit: int, as_json: bool) -> None:
    """Top stories across outlets: articles, sources, lifecycle and pace; the most articles first."""
    from streams.clock import parse_since
    from streams.errors import InputError

    try:
        start = parse_since(since)
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    found = run_async(_with_sink(lambda sink: sink.recent_stories(start, limit)))
    if as_json:
        print_json([story.model_dump(mode="json") for story in found])
        return
    now = utcnow()
    table = Table("story", "headline", "articles", "sources", "lifecycle", "per hour", "last article", expand=True)
    table.columns[1].overflow = "fold"
    for story in found:
        table.add_row(story.id[:10], escape(story.headline), str(story.article_count), str(story.source_count), story.lifecycle,
                      str(story.velocity), human_ago((now - story.last_seen).total_seconds()))  # fmt: skip
    out.print(table)
    console.print(f"{len(found)} stor{'y' if len(found) == 1 else 'ies'} since {start:%Y-%m-%d %H:%M} UTC; 'wirewatch story ID' lists one")
    if not found:
        _say_older(start)


def _say_older(start: datetime) -> None:
    """An empty window is no proof of an empty store: say when the latest stored story last grew, if any did."""
    older = run_async(_with_sink(lambda sink: sink.recent_stories(datetime(1970, 1, 1, tzinfo=UTC), 500)))
    if older:
        latest = max(story.last_seen for story in older)
        ago = human_ago((utcnow() - latest).total_seconds())
        console.print(f"older stories are stored: the latest grew {ago} ({latest:%Y-%m-%d %H:%M} UTC); widen --since, e.g. --since 30d")


@click.command()
@click.argument("story_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def story(story_id: str, as_json: bool) -> None:
    """One story (its id or a unique prefix of it): headline, counts, entities and its articles by outlet."""
    found = run_async(_with_sink(lambda sink: _story_and_linked(sink, story_id.strip())))
    if found is None:
        if as_json:
            print_json(None)
        console.print(f"no stored story matches {story_id!r} (or the prefix is not unique)")
        sys.exit(1)
    record, articles, linked = found
    if as_json:
        print_json({"story": record.model_dump(mode="json"), "articles": [vars(row) for row in articles],
                    "linked": [other.model_dump(mode="json") for other in linked]})  # fmt: skip
        return
    out.print(f"[bold]{escape(record.headline)}[/]")
    counts = f"{record.article_count} article(s) from {record.source_count} source(s), {record.lifecycle}"
    times = f"first {record.first_seen:%Y-%m-%d %H:%M}, last {record.last_seen:%Y-%m-%d %H:%M} UTC"
    out.print(escape(f"story {record.id}: {counts}, {record.velocity} in the last hour; {times}"))
    if record.top_entities:
        out.print(escape("names " + ", ".join(f"{e.name} ({e.articles})" for e in record.top_entities)))
    for other in linked:  # rules count the stories of one burst as one: an alert may count sources of both
        out.print(escape(f"same news, opened apart in the same minutes: story {other.id[:10]} {other.headline!r} "
                         f"({other.article_count} article(s))"))  # fmt: skip
    table = Table("time", "outlet", "title", title="articles by outlet")
    for row in sorted(articles, key=lambda r: (r.source, r.time)):
        table.add_row(row.time[:16], escape(row.source), escape(row.title))
    out.print(table)


async def _story_and_linked(sink: Sink, story_id: str) -> tuple[Story, list[StoryArticleRow], list[Story]] | None:
    found = await sink.story(story_id)
    return None if found is None else (*found, await sink.linked_stories(found[0]))
