"""What the worker's agents share: settings, health, the live watchlist, lazily opened resources, dead letters."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agents.web import Health, register_pages
from schemas import encode
from streams.app import worker_app
from streams.config import get_settings
from streams.deadletter import dead_letter
from streams.delivery import WebhookDestination
from streams.fetch import AddressGuard
from streams.metrics import (
    DEAD_LETTERS,
)
from streams.nlp import load_model
from streams.rulebook import RuleBook
from streams.sinks import Sink, create_sink
from streams.topics import deadletter_topic

log = logging.getLogger(__name__)
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
