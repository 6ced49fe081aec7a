"""Query rules at scale: 10,000 mixed query rules over real BBC articles, candidates through the term index, against
checking every rule on every article; the index's memory."""

from __future__ import annotations

import random
import re
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

from schemas import WatchRule
from streams.alert.query import QueryDoc, evaluate
from streams.alert.queryindex import QueryIndex
from streams.alert.rulefile import make_rule

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def mixed_rules(vocabulary: list[str], count: int, seed: int = 11) -> list[WatchRule]:
    """``count`` query rules of mixed sizes over real words: single words and phrases, AND/OR groups, NOTs, scopes, a few
    prefixes (some of them with no word to anchor on, so checked on every article)."""
    rnd = random.Random(seed)
    w = lambda: rnd.choice(vocabulary)  # noqa: E731
    rules = []
    for i in range(count):
        shape = i % 10
        if shape < 3:
            query = w()
        elif shape < 4:
            query = f'"{w()} {w()}"'
        elif shape < 6:
            query = f"{w()} AND ({w()} OR {w()} OR {w()})"
        elif shape < 8:
            query = f'"{w()} {w()}" OR ({w()} AND {w()}) -{w()} -{w()}'
        elif shape < 9:
            query = " OR ".join(w() for _ in range(rnd.randrange(5, 20))) + f" NOT title:{w()}"
        else:
            query = f"{w()[:5]}*" if i % 100 == 99 else f"{w()[:4]}* {w()}"  # 1 in 100 a lone prefix
        rules.append(make_rule(f"bench {i}", [], kind="query", query=query, exclude=[w()] if i % 7 == 0 else []))
    return rules


def bench_queries(enrich_docs_s: float, rules_count: int = 10_000, articles: int = 300) -> dict[str, float]:
    paths = sorted((DATA / "articles" / "bbc-news" / "bbc").rglob("*.txt"))[:articles]
    texts = [p.read_bytes().decode("utf-8", "replace") for p in paths]
    counts = Counter(word for text in texts for word in set(re.findall(r"[a-z]{4,}", text.lower())))
    # watch terms are specific (names, places, topics): words in 1 % to 3 % of the articles, not the commonest ones
    vocabulary = sorted(word for word, n in counts.items() if len(texts) * 0.01 <= n <= len(texts) * 0.03)
    rules = mixed_rules(vocabulary, rules_count)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    index = QueryIndex(rules)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    index_bytes = sum(stat.size_diff for stat in after.compare_to(before, "filename"))

    def docs() -> list[QueryDoc]:
        out = []
        for text in texts:
            title, _, body = text.partition("\n")
            out.append(QueryDoc(title=title, text=body, source="bbc.co.uk", feeds=frozenset({"bbc"}), lang="en"))
        return out

    best, matches, candidates = float("inf"), 0, 0
    for _ in range(3):
        batch = docs()
        started = time.perf_counter()
        found = [index.matches(doc) for doc in batch]
        best = min(best, time.perf_counter() - started)
        matches = sum(map(len, found))
        candidates = sum(len(index.candidates(doc)) for doc in batch)
    sample = docs()[:20]
    started = time.perf_counter()
    brute_matches = sum(1 for doc in sample for node in index.nodes.values() if evaluate(node, doc) is not None)
    brute_s = (time.perf_counter() - started) / len(sample)
    indexed_sample = sum(len(index.matches(doc)) for doc in sample)
    assert brute_matches == indexed_sample, (brute_matches, indexed_sample)  # the index never loses a match
    articles_s = len(texts) / best
    return {
        "rules": len(rules),
        "articles": len(texts),
        "articles_s": articles_s,
        "vs_enrich": articles_s / enrich_docs_s,
        "enrich_docs_s": enrich_docs_s,
        "brute_articles_s": 1 / brute_s,
        "speedup": articles_s * brute_s,
        "candidates_per_article": candidates / len(texts),
        "matches_per_article": matches / len(texts),
        "unanchored": len(index.unanchored),
        "index_mb": index_bytes / 1e6,
        "keys": len(index.by_key),
    }


def describe(q: dict[str, float]) -> str:
    return (
        f"Query rules (`benchmarks/bench_queries.py`): {q['rules']:,.0f} query rules of mixed sizes (single words, phrases, AND/OR groups, "
        f"NOTs, title: scopes, exclusions, prefixes; {q['unanchored']:.0f} lone prefixes checked on every article) over "
        f"{q['articles']:.0f} real BBC articles: the term index leaves {q['candidates_per_article']:.0f} candidate rules per article "
        f"({q['matches_per_article']:.1f} match), **{q['articles_s']:.0f} articles/s** on one core (the article's words indexed, "
        f"candidates looked up and evaluated, evidence built) = **{q['vs_enrich']:.0f} x** the enrich step's "
        f"{q['enrich_docs_s']:.1f} articles/s (target ≥ 20 x); every rule on every article instead: {q['brute_articles_s']:.1f} "
        f"articles/s ({q['speedup']:.0f} x slower, the same matches). The index ({q['keys']:,.0f} keys) and the compiled queries "
        f"hold **{q['index_mb']:.1f} MB** (tracemalloc)."
    )


if __name__ == "__main__":
    enrich = float(sys.argv[1]) if len(sys.argv) > 1 else 16.5  # the last `make bench` enrich figure (docs/benchmarks.md)
    print(describe(bench_queries(enrich)))
