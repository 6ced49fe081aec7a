"""``wirewatch simulate``: past articles through the workers' own code path (enrich → stories → rules), without Kafka.

Analysts use it to try a watchlist on last week's news before switching it on; the quality benchmark and the tests use
it too. Articles are taken in the order given; every alert is printed as one JSON line (the Alert record).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from schemas import Alert, Article, EnrichedArticle, Mention, WatchRule
from streams import ids
from streams.alert.mentions import EntitySeen, evaluate_mention
from streams.alert.queryindex import QueryIndex
from streams.alert.queryrules import evaluate_queries, screen_article
from streams.cli.common import console
from streams.config import get_settings
from streams.enrich.fingerprint import source_of
from streams.enrich.gazetteer import Watchlist
from streams.errors import InputError
from streams.story.breaking import evaluate_breaking
from streams.story.index import StoryIndex

log = logging.getLogger(__name__)


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
    url = str(obj.get("url") or "")
    text, summary = str(obj.get("text") or ""), str(obj.get("summary") or "")
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


@dataclass
class Simulation:
    """The workers' steps after enrichment, in one process: stories (StoryIndex), mention rules, breaking rules."""

    rules: list[WatchRule]
    lookback_days: int = 30
    index: StoryIndex = field(default_factory=StoryIndex)
    seen: dict[str, EntitySeen] = field(default_factory=dict)
    queries: QueryIndex = field(init=False)

    def __post_init__(self) -> None:
        self.queries = QueryIndex(self.rules)

    def step(self, item: EnrichedArticle, mentions: list[Mention]) -> tuple[str, list[Alert]]:
        """One enriched article: its story id and the alerts it raises (``detected`` is the article's fetch time)."""
        result = self.index.add(item, mentions)
        now = item.article.fetched
        alerts: list[Alert] = []
        by_id = {rule.id: rule for rule in self.rules}
        hits, screened = screen_article(result.outcome.item, result.outcome.mentions, self.queries, by_id)
        for mention in screened:
            rules = [by_id[rid] for rid in mention.watch_ids if rid in by_id and rid not in mention.out_of_scope]
            if rules:
                state, raised = evaluate_mention(mention, self.seen.get(mention.entity_id), rules, now, self.lookback_days)
                self.seen[mention.entity_id] = state
                alerts += raised
        breaking = [rule for rule in self.rules if rule.kind == "breaking" and rule.enabled]
        if breaking and result.state is not None and result.story is not None and result.outcome.update.article is not None:
            fired, raised = evaluate_breaking(result.state, breaking, result.outcome.update.article, now)
            self.index.stories[result.state.id] = result.state.model_copy(update={"fired": fired})
            alerts += raised
        if hits and result.story is not None and result.outcome.update.article is not None:  # a new article of its story
            story, raised = evaluate_queries(self.index.stories[result.outcome.update.story_id], hits, by_id,
                                             result.outcome.update.article, now)  # fmt: skip
            self.index.stories[story.id] = story
            alerts += raised
        return result.outcome.item.story_id or "", alerts


def read_lines(source: IO[bytes]) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(source, start=1):
        if line.strip():
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, InputError(f"line {number}: invalid JSON: {exc}")


def run_simulation(
    lines: Iterable[tuple[int, Any]], rules: list[WatchRule], nlp: Any, out: IO[str], stories_out: IO[str] | None, batch: int = 32,
    total: int | None = None,
) -> int:  # fmt: skip
    """Enrich, cluster and evaluate every line in order; an unusable line is reported on stderr and skipped."""
    from streams.enrich.step import enrich_articles

    watchlist = Watchlist(rules)
    simulation = Simulation(rules, get_settings().new_mention_lookback_days)
    failures = 0
    pending: list[Article] = []

    def flush() -> None:
        for result in enrich_articles(nlp, pending, watchlist, batch):
            story_id, alerts = simulation.step(result.item, result.mentions)
            if stories_out is not None:
                stories_out.write(orjson.dumps({"id": result.item.article.id, "story_id": story_id}).decode() + "\n")
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
