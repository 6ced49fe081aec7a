"""Worker agents: enrich articles, raise alerts, deliver them and store everything; each a thin loop."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agents.web import Health, register_pages
from schemas import Alert, Article, DecodeError, EnrichedArticle, Mention, decode, encode
from streams.app import worker_app
from streams.config import get_settings
from streams.deadletter import dead_letter
from streams.delivery import DeliveryFailed, WebhookDestination, append_jsonl, console_line
from streams.enrich import enrich_articles
from streams.fetch import AddressGuard
from streams.metrics import (
    ALERT_LATENCY,
    ALERTS,
    ARTICLES_ENRICHED,
    DEAD_LETTERS,
    DELIVERIES,
    ENTITIES,
    NLP_SECONDS,
    ROWS_WRITTEN,
)
from streams.nlp import load_model
from streams.rulebook import RuleBook
from streams.rules import EntitySeen, evaluate_mention, utcnow
from streams.sinks import Sink, create_sink
from streams.tables import entity_seen_table
from streams.topics import alerts_topic, articles_topic, deadletter_topic, enriched_topic, mentions_topic

log = logging.getLogger(__name__)
alert_log = logging.getLogger("wirewatch.alerts")
settings = get_settings()
health = Health()
register_pages(worker_app, health)
rulebook = RuleBook(settings)
# NLP runs on one thread off the event loop so heartbeats and commits keep flowing; more CPU means
# more worker processes, not more threads (spaCy holds the GIL for most of a batch).
nlp_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlp")


class Resources:
    """What the agents share and open lazily: the spaCy pipeline, the sink, the webhook."""

    nlp: Any = None
    sink: Sink | None = None
    webhook: WebhookDestination | None = None
    lock = asyncio.Lock()

    async def get_nlp(self) -> Any:
        async with self.lock:
            if self.nlp is None:
                loop = asyncio.get_running_loop()
                self.nlp = await loop.run_in_executor(nlp_executor, load_model, settings.spacy_model)
        return self.nlp

    async def get_sink(self) -> Sink:
        async with self.lock:
            if self.sink is None:
                sink = create_sink(settings)
                await sink.open()
                self.sink = sink
        return self.sink

    def get_webhook(self) -> WebhookDestination | None:
        if self.webhook is None and settings.webhook_url:
            secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
            self.webhook = WebhookDestination(settings.webhook_url, secret, AddressGuard(settings.fetch_allow_hosts))
        return self.webhook


resources = Resources()


async def send_dead_letter(event: Any, agent: str, error: str) -> None:
    DEAD_LETTERS.labels(agent).inc()
    log.error(
        "%s: dead-lettered %s[%s]@%s: %s",
        agent,
        event.message.topic,
        event.message.partition,
        event.message.offset,
        error,
        extra={"agent": agent},
    )
    await deadletter_topic.send(key=event.key, value=encode(dead_letter(event.message, agent, error)))


@worker_app.task
async def follow_rules() -> None:
    """Keep the watchlist in step with ``wirewatch.rules``."""
    await rulebook.run()


@worker_app.agent(articles_topic)
async def enrich(stream):  # type: ignore[no-untyped-def]
    """Articles → canonical entities → ``wirewatch.enriched`` and ``wirewatch.mentions``."""
    await rulebook.ready.wait()
    nlp = await resources.get_nlp()
    loop = asyncio.get_running_loop()
    async for events in stream.take_events(settings.enrich_batch_size, within=settings.enrich_batch_seconds):
        health.begin("enrich")
        articles: list[Article] = []
        for event in events:
            try:
                articles.append(decode(Article, event.value))
            except DecodeError as exc:
                await send_dead_letter(event, "enrich", str(exc))
        if articles:
            results = await _enrich_or_split(loop, nlp, articles, events)
            for result in results:
                await enriched_topic.send(key=result.item.article.id, value=encode(result.item))
                for mention in result.mentions:
                    await mentions_topic.send(key=mention.entity_id, value=encode(mention))
                ENTITIES.inc(len(result.item.entities))
            ARTICLES_ENRICHED.inc(len(results))
        health.done("enrich")


async def _enrich_or_split(loop: asyncio.AbstractEventLoop, nlp: Any, articles: list[Article], events: list[Any]) -> list[Any]:
    """Enrich a batch; if it fails, retry one by one and dead-letter the articles that fail alone."""
    started = loop.time()
    try:
        results = await loop.run_in_executor(nlp_executor, enrich_articles, nlp, articles, rulebook.watchlist, settings.enrich_batch_size)
        NLP_SECONDS.observe(loop.time() - started)
        return list(results)
    except Exception:  # noqa: BLE001 - one bad article must not lose the batch
        log.exception("enrich: batch of %d failed; retrying one by one", len(articles))
    by_id = {}
    for event in events:
        try:
            by_id[decode(Article, event.value).id] = event
        except DecodeError:
            continue
    results = []
    for article in articles:
        try:
            results.extend(await loop.run_in_executor(nlp_executor, enrich_articles, nlp, [article], rulebook.watchlist, 1))
        except Exception as exc:  # noqa: BLE001
            await send_dead_letter(by_id[article.id], "enrich", f"article {article.id}: extraction failed: {type(exc).__name__}: {exc}")
    return results


@worker_app.agent(mentions_topic)
async def raise_alerts(stream):  # type: ignore[no-untyped-def]
    """Mentions (keyed by entity) → per-entity history → ``wirewatch.alerts``."""
    await rulebook.ready.wait()
    async for event in stream.events():
        health.begin("raise_alerts")
        try:
            mention = decode(Mention, event.value)
        except DecodeError as exc:
            await send_dead_letter(event, "raise_alerts", str(exc))
            health.done("raise_alerts")
            continue
        rules = [rulebook.watchlist.rules[rid] for rid in mention.watch_ids if rid in rulebook.watchlist.rules]
        if rules:
            raw = entity_seen_table.get(mention.entity_id)
            seen = EntitySeen.loads(raw) if raw is not None else None
            seen, alerts = evaluate_mention(mention, seen, rules, utcnow(), settings.new_mention_lookback_days)
            for alert in alerts:
                await alerts_topic.send(key=alert.id, value=encode(alert))
                ALERTS.labels(alert.kind).inc()
                ALERT_LATENCY.observe(alert.latency_seconds)
            entity_seen_table[mention.entity_id] = seen.dumps()
        health.done("raise_alerts")


@worker_app.agent(alerts_topic)
async def deliver_alerts(stream):  # type: ignore[no-untyped-def]
    """Alerts → console, the JSON-lines file and the signed webhook; failures to the dead-letter topic."""
    async for event in stream.events():
        try:
            alert = decode(Alert, event.value)
        except DecodeError as exc:
            await send_dead_letter(event, "deliver_alerts", str(exc))
            continue
        alert_log.warning(console_line(alert), extra={"alert_id": alert.id, "article_id": alert.article_id})
        DELIVERIES.labels("console", "ok").inc()
        if settings.alerts_file is not None:
            append_jsonl(settings.alerts_file, alert)
            DELIVERIES.labels("file", "ok").inc()
        webhook = resources.get_webhook()
        if webhook is not None:
            try:
                await webhook.send(alert)
                DELIVERIES.labels("webhook", "ok").inc()
            except DeliveryFailed as exc:
                DELIVERIES.labels("webhook", "failed").inc()
                await send_dead_letter(event, "deliver_alerts", f"alert {alert.id}: {exc}")


@worker_app.agent(enriched_topic)
async def store_enriched(stream):  # type: ignore[no-untyped-def]
    """Enriched articles → the sink, in batches written before their offsets are committed."""
    sink = await resources.get_sink()
    async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
        health.begin("store_enriched")
        batch: list[EnrichedArticle] = []
        for event in events:
            try:
                batch.append(decode(EnrichedArticle, event.value))
            except DecodeError as exc:
                await send_dead_letter(event, "store_enriched", str(exc))
        await sink.write_enriched(batch)
        ROWS_WRITTEN.labels("articles").inc(len(batch))
        health.done("store_enriched")


@worker_app.agent(alerts_topic)
async def store_alerts(stream):  # type: ignore[no-untyped-def]
    """Alerts → the sink."""
    sink = await resources.get_sink()
    async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
        batch: list[Alert] = []
        for event in events:
            try:
                batch.append(decode(Alert, event.value))
            except DecodeError:
                continue  # deliver_alerts dead-letters the same message once
        await sink.write_alerts(batch)
        ROWS_WRITTEN.labels("alerts").inc(len(batch))
