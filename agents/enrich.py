"""Enrich agent: articles to canonical entities and PLOVER events; each enriched article goes to the story stage."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from agents.common import Outbox, decode_or_dead_letter, health, nlp_executor, resources, rulebook, send_dead_letter, settings
from schemas import Article, StoryWork, encode
from streams.enrich.metrics import ARTICLES_ENRICHED, ENTITIES, EVENTS, NLP_SECONDS
from streams.enrich.step import enrich_articles
from streams.kafka.apps import worker_app
from streams.kafka.topology import articles_topic, events_topic, story_work_topic

log = logging.getLogger(__name__)


# More than one batch in flight: while one batch's outputs wait for Kafka's acknowledgement, the next batch is
# already parsing on the NLP thread (the executor's single thread runs the batches one after the other). Each
# batch still acknowledges its inputs only after its own outputs are delivered, and the consumer commits only
# a contiguous run of acknowledged offsets (streams/kafka/transport.py), so a batch finished early never commits another's.
@worker_app.agent(articles_topic, concurrency=settings.enrich_concurrency)
async def enrich(stream):  # type: ignore[no-untyped-def]
    """Articles → canonical entities and events → ``wirewatch.storywork`` (the story stage publishes enriched and mentions), ``.events``."""
    loop = asyncio.get_running_loop()
    async for events in stream.take_events(settings.enrich_batch_size, within=settings.enrich_batch_seconds):
        # Waiting inside the loop, not before it: a topic is only subscribed once its stream is iterated, and
        # Faust never acknowledges an event before the loop body finishes (see docs/design.md).
        await rulebook.ready.wait()
        nlp = await resources.get_nlp()
        health.begin("enrich")
        decoded: list[tuple[Any, Article]] = []
        for event in events:
            if (article := await decode_or_dead_letter(event, Article, "enrich")) is not None:
                decoded.append((event, article))
        if decoded:
            results = await _enrich_or_split(loop, nlp, decoded)
            outbox = Outbox()
            for result in results:
                # one message per article: the story stage adds the story id and publishes the article and its mentions
                work = StoryWork(kind="article", article_id=result.item.article.id, item=result.item, mentions=result.mentions)
                await outbox.send(story_work_topic, result.item.article.id, encode(work))
                for key_event in result.item.events:
                    await outbox.send(events_topic, key_event.id, encode(key_event))
                    EVENTS.labels(key_event.type).inc()
                ENTITIES.inc(len(result.item.entities))
            await outbox.flush()  # delivered before take_events acknowledges the batch
            ARTICLES_ENRICHED.inc(len(results))
        health.done("enrich")


async def _enrich_or_split(loop: asyncio.AbstractEventLoop, nlp: Any, decoded: list[tuple[Any, Article]]) -> list[Any]:
    """Enrich a batch; if it fails, retry one by one and dead-letter the articles that fail alone."""
    articles = [article for _, article in decoded]
    started = loop.time()
    try:
        results = await loop.run_in_executor(nlp_executor, enrich_articles, nlp, articles, rulebook.watchlist, settings.enrich_batch_size)
        NLP_SECONDS.observe(loop.time() - started)
        return list(results)
    except Exception:  # noqa: BLE001 - one bad article must not lose the batch
        log.exception("enrich: batch of %d failed; retrying one by one", len(articles))
    results = []
    for event, article in decoded:
        try:
            results.extend(await loop.run_in_executor(nlp_executor, enrich_articles, nlp, [article], rulebook.watchlist, 1))
        except Exception as exc:  # noqa: BLE001
            await send_dead_letter(event, "enrich", f"article {article.id}: extraction failed: {type(exc).__name__}: {exc}")
    return results
