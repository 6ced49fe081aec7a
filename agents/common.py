"""What the worker's agents share: settings, health, the live watchlist, lazily opened resources, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agents.web import register_pages
from schemas import DecodeError, WatchRule, decode, encode
from schemas.records import R
from streams.alert.metrics import STORIES_FORGOTTEN
from streams.alert.rulebook import RuleBook
from streams.alert.rulefile import check_rule_limits
from streams.alert.storymemory import StoryMemory, memory_budget
from streams.config import get_settings
from streams.deliver.specs import validate_destination
from streams.enrich.child import ChildPipeline
from streams.enrich.model import load_model
from streams.kafka.apps import worker_app
from streams.kafka.deadletter import dead_letter
from streams.kafka.health import Health
from streams.kafka.metrics import DEAD_LETTERS, HELD_MESSAGES
from streams.kafka.outbox import Outbox as Outbox
from streams.kafka.partitioning import key_partition  # re-exported: the enrich agent's sends
from streams.kafka.sizes import limits
from streams.kafka.topology import deadletter_topic
from streams.store.base import Sink
from streams.store.connect import create_sink

log = logging.getLogger(__name__)
settings = get_settings()
sizes = limits(settings)
health = Health()
register_pages(worker_app, health)


def check_rule(rule: WatchRule) -> None:
    """A rule within its limits, its destinations as this worker would deliver to them: parsed, ``file:`` confined,
    SMTP set, URLs guarded."""
    check_rule_limits(rule)
    for spec in rule.destinations:
        validate_destination(spec, settings)


async def dead_letter_rule(record: Any, reason: str) -> None:
    """A rule the rulebook refused, dead-lettered with the reason (once per worker process that reads it)."""
    DEAD_LETTERS.labels("follow_rules").inc()
    await publish(deadletter_topic, record.key.decode("utf-8", "replace") if record.key else None,
                  encode(dead_letter(record, "follow_rules", reason)))  # fmt: skip


# Only a delivering worker checks destinations and dead-letters: an NLP worker only needs the names for its
# gazetteer, and with settings of its own (no SMTP host, say) it would refuse rules the delivering workers take.
delivering = settings.worker_role != "nlp"
rulebook = RuleBook(settings, check_rule if delivering else None, dead_letter_rule if delivering else None)
# NLP runs on one thread off the event loop so heartbeats and commits keep flowing; more CPU means
# more worker processes, not more threads (spaCy holds the GIL for most of a batch).
nlp_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlp")


def open_nlp() -> Any:
    """The spaCy pipeline of this worker: in a child process in the ``all`` role, whose event loop also runs the
    story, alert, delivery and storage agents (one interpreter lock for both held it at about half of bare
    nlp.pipe's rate on the shared two-core machine, benchmarks/bench_enrich.py); in this process in the ``nlp``
    role, whose loop has little else to do."""
    if settings.worker_role != "all":
        return load_model(settings.spacy_model)
    child = ChildPipeline(settings.spacy_model)
    child.open()
    return child


class Resources:
    """What the agents share and open lazily: the spaCy pipeline and the sink."""

    nlp: Any = None
    sink: Sink | None = None
    lock = asyncio.Lock()

    async def get_nlp(self) -> Any:
        async with self.lock:
            if self.nlp is None:
                loop = asyncio.get_running_loop()
                self.nlp = await loop.run_in_executor(nlp_executor, open_nlp)
        return self.nlp

    async def get_sink(self) -> Sink:
        async with self.lock:
            if self.sink is None:
                sink = create_sink(settings)
                await sink.open()
                self.sink = sink
        return self.sink


resources = Resources()


async def publish(topic: Any, key: str | None, value: bytes) -> None:
    """Send one message and wait for Kafka's acknowledgement (see :class:`Outbox`)."""
    await (await topic.send(key=key, value=value))


def on_partition(key: str, partition: int) -> bool:
    """Whether the table key ``key`` belongs to ``partition`` (Kafka's default partitioner: murmur2 of the key)."""
    return key_partition(key, settings.partitions) == partition


async def decode_or_dead_letter(event: Any, model: type[R], agent: str) -> R | None:
    """The event's value as ``model``, or None after dead-lettering it with the decode error."""
    try:
        return decode(model, event.value)
    except DecodeError as exc:
        await send_dead_letter(event, agent, str(exc))
        return None


async def send_dead_letter(event: Any, agent: str, error: str) -> bool:
    """Write a dead letter for the event's message, and only once Kafka has it, log it; True when written.

    The value rides along when the dead letter stays within the message limit, else it goes by reference (size
    and SHA-256; the original stays at its offset). A dead letter that cannot be written holds the message
    (:func:`hold`): it is never committed, so it is processed again after a restart instead of being lost.
    """
    record = dead_letter(event.message, agent, error, sizes.message)
    value = encode(record)
    if not record.value_omitted and not sizes.fits(record.key, value):
        record = dead_letter(event.message, agent, error, 0)
        value = encode(record)
    try:
        await publish(deadletter_topic, record.key, value)
    except Exception as exc:  # noqa: BLE001 - the message must stay uncommitted, whatever the producer raised
        hold([event], agent, f"the dead letter of {origin(event)} was not written ({type(exc).__name__}: {exc}); the error was: {error}")
        return False
    DEAD_LETTERS.labels(agent).inc()
    log.error(
        "%s: dead-lettered %s%s: %s",
        agent,
        origin(event),
        f" by reference ({record.size} bytes, sha256 {record.sha256})" if record.value_omitted else "",
        error,
        extra={"agent": agent},
    )
    return True


def origin(event: Any) -> str:
    """``topic[partition]@offset`` of the event's message."""
    message = event.message
    return f"{message.topic}[{message.partition}]@{message.offset}"


def hold(events: Iterable[Any], agent: str, reason: str | None) -> None:
    """Leave the events' messages uncommitted (streams.kafka.transport.ReliableConsumer.hold): processed again after a
    restart or rebalance. With a ``reason`` the worker turns unhealthy: its commits on those partitions stand still."""
    consumer: Any = worker_app.consumer  # the transport's ReliableConsumer
    held = list(events)
    for event in held:
        consumer.hold(event.message)
    if reason is None or not held:
        return
    HELD_MESSAGES.labels(agent).inc(len(held))
    health.hold(agent, reason)
    log.error("%s: %d message(s) left uncommitted, processed again after a restart: %s", agent, len(held), reason, extra={"agent": agent})


@contextlib.asynccontextmanager
async def guarded(agent: str, events: list[Any]) -> AsyncIterator[None]:
    """One batch's work, inside the agent's loop: an exception it did not handle leaves the batch uncommitted.

    Faust acknowledges every event of a ``take_events`` batch when the loop moves on or ends, exception or not, so an
    exception that escaped would commit the batch unprocessed (RELIABILITY.md: "catch inside the loop"). Here the
    batch is held instead (:func:`hold`), the agent goes on with the next one, and /health turns unhealthy. A
    cancelled batch (shutdown, rebalance) is held quietly: it is read again from the committed offset.
    """
    try:
        yield
    except asyncio.CancelledError:
        hold(events, agent, None)
        raise
    except Exception as exc:  # noqa: BLE001 - see above: the agent must not end, the batch must not be committed
        log.exception("%s: batch of %d failed", agent, len(events), extra={"agent": agent})
        hold(events, agent, f"a batch failed: {type(exc).__name__}: {exc}")


@worker_app.task
async def follow_rules() -> None:
    """Keep the watchlist in step with ``wirewatch.rules``."""
    await rulebook.run()


def bounded(table: str, key: str, value: StoryMemory) -> bytes:
    """The JSON of ``value`` cut to half a message, so its changelog write fits one with room to grow; what it forgot
    counted and logged."""
    _, dropped, data = value.within(memory_budget(sizes.message, key))
    if dropped:
        STORIES_FORGOTTEN.labels(table).inc(dropped)
        log.warning("%s %s: its memory of stories outgrew half a message (WIREWATCH_MAX_MESSAGE_BYTES); forgot the %d least "
                    "recently active (a later article of one alerts again under the same id, not pushed twice)",
                    table, key, dropped)  # fmt: skip
    return data
