"""The story stage's state over a simulated week: synthetic articles, swept every simulated hour, counted and weighed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from schemas import EnrichedArticle, Entity
from streams.cli.simulate import article_of
from streams.story.index import StoryIndex


def synthetic_week(count: int = 100_000, days: float = 7.0, seed: int = 5) -> list[EnrichedArticle]:
    """``count`` articles over ``days``: stories of Zipf-like sizes (1 to 300 articles over a few hours), each with its
    own words and entities drawn from a vocabulary of 40,000 words and 5,000 entities, plus common words."""
    rnd = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    vocabulary = [f"word{i}" for i in range(40_000)]
    common = [f"common{i}" for i in range(200)]
    out: list[tuple[float, EnrichedArticle]] = []
    made, story = 0, 0
    while made < count:
        size = min(count - made, max(1, int(rnd.paretovariate(1.2))), 300)
        begin = rnd.uniform(0, days * 86400)
        words = rnd.sample(vocabulary, 12)
        entities = [Entity(id=f"ent{rnd.randrange(5000)}", name=f"Entity {story}", type="ORG") for _ in range(2)]
        for n in range(size):
            when = start + timedelta(seconds=begin + rnd.expovariate(1 / 7200))
            title = " ".join(rnd.sample(words, 6) + rnd.sample(common, 2))
            article = article_of({"id": f"s{story}-{n}", "title": title, "url": f"https://outlet{rnd.randrange(400)}.example/{story}/{n}",
                                  "published": when.isoformat()}, 1)  # fmt: skip
            out.append((when.timestamp(), EnrichedArticle(article=article, entities=entities, model="synthetic", enriched=when)))
        made += size
        story += 1
    out.sort(key=lambda item: item[0])
    return [item for _, item in out]


def table_bytes(index: StoryIndex) -> dict[str, int]:
    """Bytes of the story stage's table values as the changelogs hold them (JSON), per table."""
    return {
        "story-keys": sum(len(key) + len(value.dumps()) for key, value in index.keys.items()),
        "story-articles": sum(len(key) + len(value.dumps()) for key, value in index.articles.items()),
        "story-state": sum(len(key) + len(value.dumps()) for key, value in index.stories.items()),
    }


def state_over_week(count: int = 100_000) -> list[dict[str, float]]:
    """The story state (counts and bytes) at the end of each simulated day, swept every simulated hour."""
    items = synthetic_week(count)
    index = StoryIndex()
    rows = []
    next_sweep = items[0].article.fetched.timestamp() + 3600
    day_end = items[0].article.fetched.timestamp() + 86400
    for item in items:
        now = item.article.fetched.timestamp()
        if now >= next_sweep:
            index.sweep(now)
            next_sweep = now + 3600
        if now >= day_end:
            rows.append({"day": len(rows) + 1} | index.sizes() | table_bytes(index))
            day_end += 86400
        index.add(item)
    index.sweep()
    rows.append({"day": len(rows) + 1} | index.sizes() | table_bytes(index))
    return rows
