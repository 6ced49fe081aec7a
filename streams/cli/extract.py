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
from streams.enrich.registry import Registry, registry_of
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
    published = _published(obj.get("published"))
    return Article(
        id=doc_id,
        feed_id="extract",
        feed_url="",
        url="",
        canonical_url="",
        title=str(obj.get("title") or ""),
        text=obj["text"],
        published=published,
        fetched=now,
        content_hash="",
    )


def _published(value: Any) -> datetime | None:
    """An input line's optional ``published`` ISO date (the registry's clock for that document); naive is UTC."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip()[:40])
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def record_of(item: EnrichedArticle) -> dict[str, Any]:
    """The output line of one article: the issue's shape; watched entities also carry ``watch_ids`` and ``wikidata``."""
    entities = []
    for entity in item.entities:
        out = entity.model_dump(mode="json", include={"id", "name", "type", "aliases"})
        out |= {key: value for key in ("wikidata", "geonames", "lat", "lon") if (value := getattr(entity, key)) is not None}
        out["mentions"] = [m.model_dump(include={"start", "end", "text"}) for m in entity.mentions]
        if entity.watch_ids:
            out |= {"watch_ids": entity.watch_ids}
        entities.append(out)
    internal: Any = {
        "schema_version": True,
        "article_id": True,
        "seen": True,
        "out_of_scope": True,
        "magnitudes": {"__all__": {"schema_version"}},
    }
    events = []
    for event in item.events:
        out = event.model_dump(mode="json", exclude=internal)
        if event.location_lat is None:  # coordinates only where the registry knows the place
            del out["location_lat"], out["location_lon"]
        events.append(out)
    return {"id": item.article.id, "entities": entities, "events": events}


def _enrich_each(
    nlp: Any, articles: list[Article], watchlist: Watchlist | None, batch_size: int, registry: Registry
) -> list[EnrichedArticle | str]:
    """Enriched articles in order; when the batch fails, each alone, and an article that fails alone gets its error."""
    try:
        return [result.item for result in enrich_articles(nlp, articles, watchlist, batch_size, registry=registry)]
    except Exception:  # noqa: BLE001 - one bad article must not lose the batch
        log.warning("extract: batch of %d failed; retrying one by one", len(articles), exc_info=True)
    out: list[EnrichedArticle | str] = []
    for article in articles:
        try:
            out.append(enrich_articles(nlp, [article], watchlist, 1, registry=registry)[0].item)
        except Exception as exc:  # noqa: BLE001
            out.append(f"article {article.id}: extraction failed: {type(exc).__name__}: {exc}")
    return out


def run_extract(
    source: IO[bytes],
    sink: IO[str],
    batch_size: int,
    console: Console,
    watchlist: Watchlist | None = None,
    registry: Registry | None = None,
) -> int:
    """Process every line; a bad line gets an ``error`` line out and a message, never a stop.

    Every document of the run is resolved against one registry (``registry``, else a new one), in input order, as
    the enrich workers resolve the stream: the same real entity gets the same id in every document.
    """
    nlp = load_model(get_settings().spacy_model)
    registry = registry if registry is not None else registry_of(get_settings())
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
            results = iter(_enrich_each(nlp, good, watchlist, batch_size, registry))
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
@click.option(
    "--watchlist",
    "watchlist_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Watchlist YAML: watched names are found even where the model misses them.",
)
@click.option("--registry", "registry_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Entity registry file (JSON lines of EntityRecord): loaded first if it exists, saved after the run.")  # fmt: skip
def extract(source: Any, batch_size: int, watchlist_file: Path | None, registry_file: Path | None) -> None:
    """Entities and PLOVER events of JSON lines {"id", "text", "title"?, "published"?} (file or stdin), one JSON line
    out per line in; the documents of one run share an entity registry."""
    from streams.alert.rulefile import load_rules_yaml
    from streams.enrich.gazetteer import Watchlist
    from streams.enrich.registry import load_registry, save_registry

    try:
        watchlist = Watchlist(load_rules_yaml(watchlist_file.read_text("utf-8"))) if watchlist_file else None
    except (ValueError, OSError) as exc:
        fail(f"{watchlist_file}: {exc}")
    registry = registry_of(get_settings())
    if registry_file is not None and registry_file.exists():
        try:
            load_registry(registry_file, registry)
        except OSError as exc:
            fail(f"{registry_file}: {exc}")
    try:
        code = run_extract(source, sys.stdout, batch_size, console, watchlist, registry)
    except ModelNotInstalled as exc:
        fail(str(exc))
    if registry_file is not None:
        try:
            save_registry(registry_file, registry)
        except OSError as exc:
            fail(f"{registry_file}: {exc}")
    sys.exit(code)
