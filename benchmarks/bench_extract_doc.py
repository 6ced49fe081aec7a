"""Wirewatch's own work per article after spaCy: CPU ms of ``extract_doc`` and its parts on articles parsed once."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from benchmarks.bench_enrich import bbc_articles
from streams.alert.rulefile import make_rule
from streams.config import get_settings
from streams.enrich.entities import canonical_entities
from streams.enrich.events import extract_events
from streams.enrich.gazetteer import Watchlist
from streams.enrich.model import load_model
from streams.enrich.parsed import ParsedDoc
from streams.enrich.step import extract_doc


def best_ms(docs: list[Any], step: Callable[[Any], object], rounds: int) -> float:
    """CPU ms per doc of ``step`` over every doc: the best of ``rounds`` passes (other work on the machine only adds)."""
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        started = time.process_time()
        for doc in docs:
            step(doc)
        best = min(best, time.process_time() - started)
    return best * 1000 / len(docs)


def bench_extract_doc(limit: int = 400, rounds: int = 5) -> dict[str, float]:
    """``extract_doc`` with a 1,000-name watchlist, its parts, and the ``nlp.pipe`` that made the docs, per BBC article."""
    nlp = load_model(get_settings().spacy_model)
    watchlist = Watchlist([make_rule(f"Watched Person {i}", [f"Alias{i}"]) for i in range(1000)])
    texts = [article.text for article in bbc_articles(limit)]
    started = time.process_time()
    docs = list(nlp.pipe(texts, batch_size=16))
    pipe_ms = (time.process_time() - started) * 1000 / len(docs)
    parses = {id(doc): ParsedDoc(doc) for doc in docs}
    spans = {key: [(start, end, label) for _, _, start, end, label in parse.ents] for key, parse in parses.items()}
    entities = {key: canonical_entities(parse.text, spans[key], watchlist) for key, parse in parses.items()}
    figures = {
        "docs": float(len(docs)),
        "tokens_per_doc": sum(len(doc) for doc in docs) / len(docs),
        "pipe_ms": pipe_ms,
        "extract_doc_ms": best_ms(docs, lambda doc: extract_doc(doc, watchlist, "a"), rounds),
        "parse_ms": best_ms(docs, ParsedDoc, rounds),
        "entities_ms": best_ms(docs, lambda doc: canonical_entities(parses[id(doc)].text, spans[id(doc)], watchlist), rounds),
        "events_ms": best_ms(docs, lambda doc: extract_events(parses[id(doc)], entities[id(doc)], "a"), rounds),
    }
    figures["share_of_pipe"] = figures["extract_doc_ms"] / pipe_ms
    return figures


def main() -> int:
    # usage: python -m benchmarks.bench_extract_doc [ARTICLES] [--json]
    numbers = [arg for arg in sys.argv[1:] if arg.isdigit()]
    figures = bench_extract_doc(int(numbers[0]) if numbers else 400)
    if "--json" in sys.argv:
        print(orjson.dumps(figures).decode())
        return 0
    print(f"{figures['docs']:.0f} BBC articles, {figures['tokens_per_doc']:.0f} tokens each; CPU ms per article")
    for label, key in [
        ("nlp.pipe (parsing, once)", "pipe_ms"),
        ("extract_doc (1,000-name watchlist)", "extract_doc_ms"),
        ("  ParsedDoc (the parse read once)", "parse_ms"),
        ("  canonical_entities", "entities_ms"),
        ("  extract_events (on the ParsedDoc)", "events_ms"),
    ]:
        print(f"  {label:38} {figures[key]:7.3f}")
    print(f"  extract_doc is {figures['share_of_pipe']:.1%} of nlp.pipe")
    return 0


if __name__ == "__main__":
    sys.exit(main())
