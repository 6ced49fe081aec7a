"""Headline entities: what extraction finds in the titles of the UCI News Aggregator dev sample, and a seeded sample
of 200 of them to judge by hand (real name or not); the judged share is in docs/benchmarks.md.

Every title goes through one ``wirewatch extract`` run as a document of its own (``{"id", "text": title}``), as a
headline-only feed item is enriched. ``--show`` prints the sample (seed 12) to judge; ``--before`` without the headline handling.
"""

from __future__ import annotations

import csv
import io
import random
import sys
from pathlib import Path

import orjson
from rich.console import Console

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
UCI_DEV = DATA / "stories" / "uci-news-aggregator-dev.csv"
SAMPLE = 200
SEED = 12


def titles(path: Path = UCI_DEV) -> list[str]:
    with path.open(encoding="utf-8", newline="") as source:
        return [row["TITLE"] for row in csv.DictReader(source)]


def headline_entities() -> tuple[int, list[tuple[str, str, str]]]:
    """(titles, every extracted entity as (name, type, title))."""
    from streams.cli.extract import run_extract

    heads = titles()
    source = io.BytesIO(b"".join(orjson.dumps({"id": str(i), "text": t}) + b"\n" for i, t in enumerate(heads)))
    sink = io.StringIO()
    run_extract(source, sink, 64, Console(stderr=True, quiet=True))
    found = []
    for line in sink.getvalue().splitlines():
        record = orjson.loads(line)
        for entity in record.get("entities", []):
            found.append((entity["name"], entity["type"], heads[int(record["id"])]))
    return len(heads), found


def sample(found: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return random.Random(SEED).sample(found, min(SAMPLE, len(found)))


def without_headline_handling() -> None:
    """The extraction as it was before issue 12's headline handling (the model reads the title as it is written)."""
    from streams.enrich import step

    step.model_view = lambda text: text  # type: ignore[assignment]
    step.headline_entities = lambda text, entities, known: entities  # type: ignore[assignment]


def main() -> int:
    if not UCI_DEV.exists():
        print(f"{UCI_DEV} is not there", file=sys.stderr)
        return 1
    if "--before" in sys.argv:
        without_headline_handling()
    count, found = headline_entities()
    print(f"UCI dev: {count} titles, {len(found)} entities ({len(found) / count:.2f} per title)")
    if "--show" in sys.argv:
        for number, (name, kind, title) in enumerate(sample(found)):
            print(f"{number:3} {name!r} {kind} || {title[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
