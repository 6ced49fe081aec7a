"""The entity registry's cost: resolution's share of the enrich step's time per article, and its memory.

Resolution is timed inside the enrich step itself (``enrich_articles`` on real BBC articles against a registry that
already holds them, as a worker's does after a while); memory is measured for a registry of synthetic people (each with
two spellings, a type and times, as resolution files them), per entity, and scaled to 1,000,000 known entities: the
enrich worker holds only the active ones (``registry_active_max``), the rest stay on the compacted topic.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import Article, encode
from streams.config import Settings
from streams.enrich import step
from streams.enrich.model import load_model
from streams.enrich.registry import Registry

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def bench_resolution(limit: int = 200) -> dict[str, float]:
    """Seconds in ``resolve_entities`` (and the registry lookups of headline handling) over the enrich step's seconds."""
    paths = sorted((DATA / "articles" / "bbc-news" / "bbc").rglob("*.txt"))[:: max(1, 2225 // limit)][:limit]
    now = datetime.now(tz=UTC)
    articles = [Article(id=str(i), feed_id="b", feed_url="", url="", canonical_url="", title="", text=p.read_bytes().decode("utf-8", "replace"),
                        fetched=now, content_hash="") for i, p in enumerate(paths)]  # fmt: skip
    nlp = load_model("en_core_web_sm")
    registry = Registry()
    step.enrich_articles(nlp, articles, None, 16, registry=registry)  # the registry learns them: a warm worker's
    spent = 0.0
    original = step.resolve_entities

    def timed(*args: Any, **kwargs: Any) -> Any:
        nonlocal spent
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent += time.perf_counter() - started

    step.resolve_entities = timed  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        step.enrich_articles(nlp, articles, None, 16, registry=registry)
        total = time.perf_counter() - started
    finally:
        step.resolve_entities = original  # type: ignore[assignment]
    return {"docs": len(articles), "total_ms": 1000 * total / len(articles), "resolve_ms": 1000 * spent / len(articles),
            "share": spent / total, "entities": len(registry)}  # fmt: skip


def bench_memory(count: int = 100_000) -> dict[str, float]:
    """Bytes per registry entity (index and entries, by tracemalloc) and per record on the topic, for ``count`` people."""
    when = datetime(2026, 11, 1, tzinfo=UTC)
    gc.collect()
    tracemalloc.start()
    registry = Registry(max_active=count, active_days=30)
    for i in range(count):
        name = f"Given{i % 997} Family{i}"
        registry.observe(f"id{i:08d}", name, "PERSON", [name, f"Family{i}"], when + timedelta(seconds=i))
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    record_bytes = sum(len(encode(r)) for _, r in zip(range(1000), registry.records(), strict=False)) / 1000
    per_entity = current / count
    bound = Settings().registry_active_max
    return {"count": count, "per_entity": per_entity, "record_bytes": record_bytes, "million_gb": per_entity * 1e6 / 2**30,
            "topic_gb": record_bytes * 1e6 / 2**30, "bound": bound, "bound_mb": per_entity * bound / 2**20}  # fmt: skip


def main() -> int:
    cost = bench_resolution()
    print(f"resolution {cost['resolve_ms']:.2f} ms of the enrich step's {cost['total_ms']:.1f} ms per article = {cost['share']:.1%}")
    memory = bench_memory()
    print(f"registry: {memory['per_entity']:.0f} B per entity in memory, {memory['record_bytes']:.0f} B per record on the topic; "
          f"1,000,000 entities = {memory['million_gb']:.2f} GiB if all were active, {memory['topic_gb']:.2f} GiB on the topic; "
          f"the active index is bounded at {memory['bound']:,} entities = {memory['bound_mb']:.0f} MiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
