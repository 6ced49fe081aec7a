"""``wirewatch extract``: JSON lines in, entities and events out, through the enrich agent's own code path."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from schemas import Article, EnrichedArticle
from streams.cli.common import console, fail
from streams.config import get_settings
from streams.enrich.gazetteer import Watchlist
from streams.enrich.model import load_model
from streams.enrich.step import enrich_articles
from streams.errors import ModelNotInstalled

log = logging.getLogger(__name__)


def _batches(source: IO[bytes], size: int) -> Iterator[list[tuple[int, Any]]]:
    batch: list[tuple[int, Any]] = []
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            batch.append((number, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            batch.append((number, exc))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _as_article(number: int, obj: Any) -> Article:
    if isinstance(obj, Exception):
        raise ValueError(f"line {number}: invalid JSON: {obj}")
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise ValueError(f"line {number}: expected an object with a string 'text'")
    now = datetime.now(tz=UTC)
    doc_id = str(obj.get("id", number))
    return Article(
        id=doc_id,
        feed_id="extract",
        feed_url="",
        url="",
        canonical_url="",
        title=str(obj.get("title") or ""),
        text=obj["text"],
        fetched=now,
        content_hash="",
    )


def record_of(item: EnrichedArticle) -> dict[str, Any]:
    """The output line of one article: the issue's shape; watched entities also carry ``watch_ids`` and ``wikidata``."""
    entities = []
    for entity in item.entities:
        out = entity.model_dump(mode="json", include={"id", "name", "type", "aliases"})
        out["mentions"] = [m.model_dump(include={"start", "end", "text"}) for m in entity.mentions]
        if entity.watch_ids:
            out |= {"watch_ids": entity.watch_ids, "wikidata": entity.wikidata}
        entities.append(out)
    internal: Any = {"schema_version": True, "article_id": True, "seen": True, "magnitudes": {"__all__": {"schema_version"}}}
    events = [event.model_dump(mode="json", exclude=internal) for event in item.events]
    return {"id": item.article.id, "entities": entities, "events": events}


def _enrich_each(nlp: Any, articles: list[Article], watchlist: Watchlist | None, batch_size: int) -> list[EnrichedArticle | str]:
    """Enriched articles in order; when the batch fails, each alone, and an article that fails alone gets its error."""
    try:
        return [result.item for result in enrich_articles(nlp, articles, watchlist, batch_size)]
    except Exception:  # noqa: BLE001 - one bad article must not lose the batch
        log.warning("extract: batch of %d failed; retrying one by one", len(articles), exc_info=True)
    out: list[EnrichedArticle | str] = []
    for article in articles:
        try:
            out.append(enrich_articles(nlp, [article], watchlist, 1)[0].item)
        except Exception as exc:  # noqa: BLE001
            out.append(f"article {article.id}: extraction failed: {type(exc).__name__}: {exc}")
    return out


def run_extract(source: IO[bytes], sink: IO[str], batch_size: int, console: Console, watchlist: Watchlist | None = None) -> int:
    """Process every line; a bad line gets an ``error`` line out and a message, never a stop."""
    nlp = load_model(get_settings().spacy_model)
    failures = 0
    with Progress(
        TextColumn("extract"),
        BarColumn(),
        TextColumn("{task.completed} docs"),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("extract", total=None)
        for batch in _batches(source, batch_size):
            articles: list[tuple[int, Article | None, str]] = []
            for number, obj in batch:
                try:
                    articles.append((number, _as_article(number, obj), ""))
                except ValueError as exc:
                    articles.append((number, None, str(exc)))
            good = [article for _, article, _ in articles if article is not None]
            results = iter(_enrich_each(nlp, good, watchlist, batch_size))
            for number, article, error in articles:
                result = next(results) if article is not None else error
                if isinstance(result, str):
                    failures += 1
                    console.print(f"[red]error:[/] {result}")
                    sink.write(orjson.dumps({"line": number, "id": article.id if article else None, "error": result}).decode() + "\n")
                    continue
                sink.write(orjson.dumps(record_of(result)).decode() + "\n")
            progress.advance(task, len(batch))
    return 1 if failures else 0


@click.command()
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=32, show_default=True)
@click.option("--watchlist", "watchlist_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Watchlist YAML: watched names are found even where the model misses them.")  # fmt: skip
def extract(source: Any, batch_size: int, watchlist_file: Path | None) -> None:
    """Entities and PLOVER events of JSON lines {"id", "text", "title"?} (file or stdin), one JSON line out per line in."""
    from streams.alert.rulefile import load_rules_yaml
    from streams.enrich.gazetteer import Watchlist

    try:
        watchlist = Watchlist(load_rules_yaml(watchlist_file.read_text("utf-8"))) if watchlist_file else None
    except (ValueError, OSError) as exc:
        fail(f"{watchlist_file}: {exc}")
    try:
        sys.exit(run_extract(source, sys.stdout, batch_size, console, watchlist))
    except ModelNotInstalled as exc:
        fail(str(exc))
