"""Enrich agent: articles to canonical entities and PLOVER events; each enriched article goes to the story stage."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from agents.common import (
    Outbox,
    decode_or_dead_letter,
    guarded,
    health,
    hold,
    nlp_executor,
    resources,
    rulebook,
    send_dead_letter,
    settings,
    sizes,
)
from agents.registry import follower, resolver
from schemas import Article, StoryWork, encode
from streams.alert.queryrules import out_of_scope
from streams.enrich.metrics import ARTICLES_ENRICHED, ENTITIES, EVENTS, NLP_SECONDS
from streams.enrich.step import Enriched, enrich_articles, start_parsing
from streams.errors import MessageTooLarge
from streams.kafka.apps import worker_app
from streams.kafka.outbox import too_large
from streams.kafka.sizes import key_bytes, truncate_article
from streams.kafka.topology import articles_topic, events_topic, story_work_topic

log = logging.getLogger(__name__)
follower.targets = (*follower.targets, resolver.offer)

#: bytes kept free beside the bounded enriched record: the story work wrapper, and the story id the story stage adds
STORY_WORK_MARGIN = 1024


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
        await follower.ready.wait()
        nlp = await resources.get_nlp()
        health.begin("enrich")
        async with guarded("enrich", events):
            await enrich_batch(loop, nlp, events)
        health.done("enrich")


async def enrich_batch(loop: asyncio.AbstractEventLoop, nlp: Any, events: list[Any]) -> None:
    """One batch: decode, cut to the size policy, enrich, send; every article that fails alone is dead-lettered alone."""
    decoded: list[tuple[Any, Article]] = []
    for event in events:
        if (article := await decode_or_dead_letter(event, Article, "enrich")) is None:
            continue
        if (article := await within_policy(event, article)) is not None:
            decoded.append((event, article))
    if not decoded:
        return
    results = await _enrich_or_split(loop, nlp, decoded)
    outbox = Outbox()
    for event, result in results:
        await send_outputs(outbox, event, result)
    # Delivered before take_events acknowledges the batch. An article whose outputs Kafka refused as too large is
    # dead-lettered (by reference when big) and the rest of the batch goes on; one whose outputs failed otherwise
    # (the broker away longer than the producer retries) is held: processed again after a restart, never committed.
    failures = await outbox.flush()
    for event, result in results:
        if (exc := failures.get(id(event))) is None:
            continue
        error = f"article {result.item.article.id}: outputs not sent: {type(exc).__name__}: {exc}"
        if too_large(exc):
            await send_dead_letter(event, "enrich", error)
        else:
            hold([event], "enrich", error)
    ARTICLES_ENRICHED.inc(len(results) - len(failures))


async def within_policy(event: Any, article: Article) -> Article | None:
    """The article cut to the size policy as the poller cuts it (a producer other than the poller may send longer
    ones); None after dead-lettering one that cannot be cut to fit."""
    try:
        cut = truncate_article(article, settings.article_max_chars, sizes.article)
    except MessageTooLarge as exc:
        await send_dead_letter(event, "enrich", str(exc))
        return None
    if cut is not article:
        log.info("enrich: article %s cut to the size policy (%d of %d characters)", article.id, len(cut.text), len(article.text))
    return cut


async def send_outputs(outbox: Outbox, event: Any, result: Enriched) -> None:
    """Queue an article's story work (its enriched record and mentions, for the story stage) and its events, each
    checked against the message limit first."""
    item = result.item
    work = story_work(result)
    outputs = [(story_work_topic, item.article.id, encode(work))]
    # event rules fire on wirewatch.events, which carries a sentence: their scopes are judged here, where the text is
    outside = out_of_scope(item, rulebook.watchlist.event_rules()) if item.events else []
    events = [e.model_copy(update={"out_of_scope": outside}) for e in item.events] if outside else item.events
    outputs += [(events_topic, key_event.id, encode(key_event)) for key_event in events]
    too_big = next(((key, value) for _, key, value in outputs if not sizes.fits(key, value)), None)
    if too_big is not None:
        # fit_enriched bounds the record itself and story_work the mentions beside it: a bug, not an input
        size = key_bytes(too_big[0]) + len(too_big[1])
        await send_dead_letter(event, "enrich", f"article {item.article.id}: an output of {size} bytes exceeds {sizes.message}")
        return
    for topic, key, value in outputs:
        await outbox.send(topic, key, value, owner=id(event))
    for key_event in item.events:
        EVENTS.labels(key_event.type).inc()
    ENTITIES.inc(len(item.entities))


def story_work(result: Enriched) -> StoryWork:
    """The message that hands an article to the story stage, within the message limit.

    The record was bounded with room for the wrapper (:data:`STORY_WORK_MARGIN`); the mentions beside it are a
    sentence each, so only an article with hundreds of entities needs some left out: watched ones are kept first,
    and the rest stay on the enriched record's entities.
    """
    item = result.item
    work = StoryWork(kind="article", article_id=item.article.id, item=item, mentions=result.mentions)
    mentions = sorted(result.mentions, key=lambda mention: not mention.watch_ids)
    while mentions and not sizes.fits(item.article.id, encode(work)):
        mentions = mentions[: len(mentions) // 2]
        work = work.model_copy(update={"mentions": mentions})
    if len(work.mentions) < len(result.mentions):
        log.warning(
            "enrich: article %s: %d of %d mentions left out to keep the story work within %d bytes",
            item.article.id,
            len(result.mentions) - len(work.mentions),
            len(result.mentions),
            sizes.message,
        )
    return work


async def _enrich_or_split(loop: asyncio.AbstractEventLoop, nlp: Any, decoded: list[tuple[Any, Article]]) -> list[tuple[Any, Enriched]]:
    """Enrich a batch; if it fails, retry one by one and dead-letter the articles that fail alone."""
    articles = [article for _, article in decoded]
    started = loop.time()
    limit = sizes.message - max(key_bytes(article.id) for article in articles) - STORY_WORK_MARGIN
    start_parsing(nlp, articles, settings.enrich_batch_size)
    try:
        results = await loop.run_in_executor(
            nlp_executor, enrich_articles, nlp, articles, rulebook.watchlist, settings.enrich_batch_size, limit, resolver
        )
        NLP_SECONDS.observe(loop.time() - started)
        return list(zip((event for event, _ in decoded), results, strict=True))
    except Exception:  # noqa: BLE001 - one bad article must not lose the batch
        log.exception("enrich: batch of %d failed; retrying one by one", len(articles))
    out = []
    for event, article in decoded:
        try:
            one = await loop.run_in_executor(nlp_executor, enrich_articles, nlp, [article], rulebook.watchlist, 1, limit, resolver)
            out.append((event, one[0]))
        except Exception as exc:  # noqa: BLE001
            await send_dead_letter(event, "enrich", f"article {article.id}: extraction failed: {type(exc).__name__}: {exc}")
    return out
