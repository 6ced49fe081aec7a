"""``wirewatch extract``: JSON lines in, entities out, through the enrich agent's own code path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from schemas import Article
from streams.config import get_settings
from streams.enrich import enrich_articles
from streams.nlp import load_model


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


def run_extract(source: IO[bytes], sink: IO[str], batch_size: int, console: Console) -> int:
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
            articles: list[tuple[int, Article | None, str | None]] = []
            for number, obj in batch:
                try:
                    articles.append((number, _as_article(number, obj), None))
                except ValueError as exc:
                    articles.append((number, None, str(exc)))
            good = [article for _, article, _ in articles if article is not None]
            results = iter(enrich_articles(nlp, good, None, batch_size))
            for number, article, error in articles:
                if article is None:
                    failures += 1
                    console.print(f"[red]error:[/] {error}")
                    sink.write(orjson.dumps({"line": number, "error": error}).decode() + "\n")
                    continue
                item = next(results).item
                record = {
                    "id": article.id,
                    "entities": [
                        entity.model_dump(mode="json", exclude={"schema_version", "watch_ids", "wikidata"})
                        | {"mentions": [m.model_dump(exclude={"schema_version"}) for m in entity.mentions]}
                        for entity in item.entities
                    ],
                    "events": [event.model_dump(mode="json", exclude={"schema_version"}) for event in item.events],
                }
                sink.write(orjson.dumps(record).decode() + "\n")
            progress.advance(task, len(batch))
    return 1 if failures else 0
