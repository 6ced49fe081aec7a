"""``wirewatch simulate``: past articles through the workers' own code path (enrich → stories → rules), without Kafka.

Analysts use it to try a watchlist on last week's news before switching it on; the quality benchmark and the tests use
it too. Articles are taken in the order given; every alert is printed as one JSON line (the Alert record).
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from schemas import Article, WatchRule
from streams import ids
from streams.alert.simulation import Simulation
from streams.cli.common import console
from streams.config import get_settings
from streams.enrich.fingerprint import source_of
from streams.enrich.gazetteer import Watchlist
from streams.enrich.registry import Registry, registry_of
from streams.enrich.registryfeed import watch_records
from streams.errors import InputError
from streams.poll.pagetext import html_to_text

log = logging.getLogger(__name__)
__all__ = ["Simulation", "article_of", "run_simulation", "simulate"]


def _time(value: Any, line: int) -> datetime | None:
    """An ISO date/time (UTC when naive) or unix seconds/milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InputError(f"line {line}: published {value!r} is not a time") from exc
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"line {line}: published {value!r} is not an ISO date or unix time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def article_of(obj: Any, line: int) -> Article:
    """An Article from one input line ``{"id", "title", "text"?, "summary"?, "url", "feed_id"?, "published", "language"?}``."""
    if not isinstance(obj, dict):
        raise InputError(f"line {line}: expected a JSON object")
    title = obj.get("title")
    if not isinstance(title, str) or not title.strip():
        raise InputError(f"line {line}: needs a non-empty string 'title'")
    # as the poller reads a feed's fields: entities decoded, tags out ("Beyonc&#233;" is "Beyoncé"), so an archive
    # tried here gives the words the stream would
    title = html_to_text(title)
    url = str(obj.get("url") or "")
    text, summary = html_to_text(str(obj.get("text") or "")), html_to_text(str(obj.get("summary") or ""))
    published = _time(obj.get("published"), line)
    feed = str(obj.get("feed_id") or source_of(url) or "simulate")
    article_id = str(obj.get("id") or ids.article_id(feed, None, url or None, title, published.isoformat() if published else None))
    when = published or datetime.now(tz=UTC)
    return Article(
        id=article_id,
        feed_id=feed,
        feed_url="",
        url=url,
        canonical_url=ids.canonical_url(url) if url else "",
        title=title.strip(),
        summary=summary,
        # a summary-only item, as the poller makes it: the summary is the text
        text=text or summary,
        published=published,
        fetched=when,
        language=str(obj["language"]) if obj.get("language") else None,
        content_hash=ids.content_hash(title, text or summary),
    )


def read_lines(source: IO[bytes]) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(source, start=1):
        if line.strip():
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, InputError(f"line {number}: invalid JSON: {exc}")


def simulation_registry(rules: list[WatchRule]) -> Registry:
    """The entity registry one simulation run shares, as a worker's: the watched entities first, then what the articles
    teach it, so "Chinese" is China and "Ferreira" is Ana Lucía Ferreira here as in the stream."""
    registry = registry_of(get_settings())
    watch_records(registry, rules, datetime.now(tz=UTC))
    return registry


def run_simulation(
    lines: Iterable[tuple[int, Any]], rules: list[WatchRule], nlp: Any, out: IO[str], stories_out: IO[str] | None, batch: int = 32,
    total: int | None = None,
) -> int:  # fmt: skip
    """Enrich, cluster and evaluate every line in order; an unusable line is reported on stderr and skipped."""
    from streams.enrich.step import enrich_articles

    watchlist = Watchlist(rules)
    settings = get_settings()
    simulation = Simulation(rules, settings.new_mention_lookback_days, message_bytes=settings.max_message_bytes)
    registry = simulation_registry(rules)
    failures = 0
    pending: list[Article] = []
    seen = Counter[str]()  # articles, stories, alerts, updates: the summary line at the end
    stories: set[str] = set()

    def flush() -> None:
        for result in enrich_articles(nlp, pending, watchlist, batch, registry=registry):
            story_id, alerts, linked = simulation.step(result.item, result.mentions)
            stories.add(story_id)
            seen.update(articles=1, alerts=sum(not a.update for a in alerts), updates=sum(a.update for a in alerts))
            if stories_out is not None:
                row = {"id": result.item.article.id, "story_id": story_id} | ({"linked": list(linked)} if linked else {})
                stories_out.write(orjson.dumps(row).decode() + "\n")
            for alert in alerts:
                out.write(alert.model_dump_json() + "\n")
        pending.clear()

    with Progress(TextColumn("simulate"), BarColumn(), MofNCompleteColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:  # fmt: skip
        task = progress.add_task("simulate", total=total)
        for number, obj in lines:
            try:
                if isinstance(obj, Exception):
                    raise obj
                pending.append(article_of(obj, number))
            except InputError as exc:
                failures += 1
                console.print(f"[red]error:[/] {exc}")
            if len(pending) >= batch:
                flush()
            progress.advance(task)
        if pending:
            flush()
    skipped = f"; {failures:,} line(s) skipped" if failures else ""
    if simulation.forgotten:  # as a worker would log it: a name or query rule in very many stories (agents/common.py)
        skipped += (f"; {simulation.forgotten:,} story(ies) forgotten by names or query rules whose memory outgrew half a message "
                    "(WIREWATCH_MAX_MESSAGE_BYTES), each of them alerts again on a later article")  # fmt: skip
    console.print(f"simulated {seen['articles']:,} article(s) in {len(stories):,} stories: {seen['alerts']:,} alert(s) and "
                  f"{seen['updates']:,} update(s) from {len(rules):,} rule(s){skipped}")  # fmt: skip
    return 1 if failures else 0


@click.command()
@click.argument("articles", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--watchlist", "watchlist_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Watchlist YAML (as for 'watch import').")  # fmt: skip
@click.option("--stories", "stories_file", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="Write each article's story id here, one JSON line {id, story_id} per article.")  # fmt: skip
def simulate(articles: Path, watchlist_file: Path, stories_file: Path | None) -> None:
    """Backtest a watchlist: JSON lines {"id", "title", "text"?, "summary"?, "url", "feed_id"?, "published"} in the
    order given, through enrich → stories → rules; every alert is printed as one JSON line."""
    from streams.alert.rulefile import load_rules_yaml
    from streams.enrich.model import load_model

    try:
        rules = load_rules_yaml(watchlist_file.read_text("utf-8"))
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{watchlist_file}: {exc}") from exc
    if not rules:
        console.print(f"[yellow]warning:[/] {watchlist_file} has no watch rules: no alert can fire (stories are still assigned)")
    nlp = load_model(get_settings().spacy_model)
    source = sys.stdin.buffer if str(articles) == "-" else articles.open("rb")
    total = None if str(articles) == "-" else sum(1 for line in articles.open("rb") if line.strip())
    stories_out = stories_file.open("w", encoding="utf-8") if stories_file else None
    try:
        code = run_simulation(read_lines(source), rules, nlp, sys.stdout, stories_out, total=total)
    finally:
        if stories_out is not None:
            stories_out.close()
        if source is not sys.stdin.buffer:
            source.close()
    sys.exit(code)
