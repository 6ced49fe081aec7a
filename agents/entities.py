"""Registry agent: mentions (keyed by entity, so one worker owns each entity) counted into the registry, records to
``wirewatch.entities``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from agents.common import Outbox, guarded, health, hold, rulebook, send_dead_letter
from agents.registry import follower, keeper
from schemas import DecodeError, Mention, decode, encode
from streams.clock import utcnow
from streams.enrich.registryfeed import count_mention, keep_record, watch_records
from streams.enrich.registrymetrics import REGISTRY_ACTIVE, REGISTRY_PUBLISHED
from streams.kafka.apps import worker_app
from streams.kafka.background import survives
from streams.kafka.outbox import too_large
from streams.kafka.topology import entities_topic, mentions_topic

log = logging.getLogger(__name__)
follower.targets = (*follower.targets, keep_record(keeper))

#: mentions counted per batch at most, and the longest wait to fill one
BATCH = 200
BATCH_SECONDS = 1.0
#: how often watched entities not in the registry yet are written to it
WATCH_SYNC_SECONDS = 30.0


@worker_app.agent(mentions_topic)
async def update_registry(stream):  # type: ignore[no-untyped-def]
    """Mentions → the registry's entries (names, types, times, ids) → ``wirewatch.entities``."""
    async for events in stream.take_events(BATCH, within=BATCH_SECONDS):
        # inside the loop, as the other agents wait (a topic is subscribed once its stream is iterated)
        await follower.ready.wait()
        health.begin("update_registry")
        async with guarded("update_registry", events):
            for event in events:
                try:
                    count_mention(keeper, decode(Mention, event.value))
                except DecodeError:
                    continue  # raise_alerts reads the same message and dead-letters it once
            await publish_changed(events)
        health.done("update_registry")


async def publish_changed(events: list[Any]) -> None:
    """The records changed by a batch, delivered before the batch is acknowledged (held when the broker is away)."""
    records = keeper.drain()
    outbox = Outbox()
    for record in records:
        await outbox.send(entities_topic, record.id, encode(record))
    failures = await outbox.flush()
    REGISTRY_PUBLISHED.inc(len(records) - len(failures))
    REGISTRY_ACTIVE.set(len(keeper))
    for exc in failures.values():
        if too_large(exc):
            # variants and roles are capped (streams/enrich/registry.py), so a record over the limit is a bug: say so once
            await send_dead_letter(events[0], "update_registry", f"an entity record was refused as too large: {exc}")
        else:
            hold(events, "update_registry", f"entity records not sent: {type(exc).__name__}: {exc}")
        break


@worker_app.timer(WATCH_SYNC_SECONDS)
@survives
async def join_watched() -> None:
    """Watched entities join the registry with their aliases and ids."""
    if not (rulebook.ready.is_set() and follower.ready.is_set()):
        return
    for record in watch_records(keeper, list(rulebook.watchlist.rules.values()), utcnow()):
        try:
            await (await entities_topic.send(key=record.id, value=encode(record)))
        except Exception as exc:  # noqa: BLE001 - tried again at the next tick (the entry is back out of the index)
            keeper.remove(record.id)
            log.warning("registry: watched entity %s not written: %s", record.id, exc)
            await asyncio.sleep(0)
