"""Delivery agents: alerts into per-destination lanes (an offset is committed once every destination is done), and digests."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from agents.common import decode_or_dead_letter, health, on_partition, publish, send_dead_letter, settings
from schemas import Alert, Delivered, DestinationState, DigestItem, encode
from streams.clock import utcnow
from streams.deliver import digests as digest
from streams.deliver import memory
from streams.deliver.disabled import DestinationBook
from streams.deliver.dispatcher import Dispatcher
from streams.deliver.metrics import ALREADY_DELIVERED
from streams.deliver.specs import destinations_for
from streams.errors import DecodeError, DeliveryFailed, Gone
from streams.kafka.apps import worker_app
from streams.kafka.background import survives
from streams.kafka.topology import (
    alerts_topic,
    delivered_table,
    delivered_topic,
    destinations_topic,
    digest_table,
    digests_topic,
)
from streams.text import mask_destination, mask_urls_in

log = logging.getLogger(__name__)
book = DestinationBook(settings)
dispatcher: Dispatcher | None = None


async def _record_gone(state: DestinationState) -> None:
    await publish(destinations_topic, state.id, encode(state))
    log.warning("destination %s disabled after 410 Gone; re-enable with: wirewatch destinations enable %s", state.name, state.id)


async def _collect(spec: str, alert: Alert, period: Literal["hourly", "daily"]) -> None:
    item = digest.item_for(spec, alert, period)
    await publish(digests_topic, digest.digest_key(spec, item.period, item.period_start), encode(item))


def get_dispatcher() -> Dispatcher:
    global dispatcher
    if dispatcher is None:
        dispatcher = Dispatcher(settings, book=book, on_gone=_record_gone, collect=_collect)
    return dispatcher


@worker_app.task
async def follow_destinations() -> None:
    """Keep the disabled destinations in step with ``wirewatch.destinations``."""
    await book.run()


@worker_app.agent(alerts_topic)
async def deliver_alerts(stream):  # type: ignore[no-untyped-def]
    """Alerts → console, file, webhooks, Slack, e-mail (or their digests); retried per destination, failures dead-lettered.

    Acks are manual: an alert's offset becomes committable only when all its deliveries have finished (Faust
    commits up to the lowest unacknowledged offset), so a killed worker re-delivers rather than loses; receivers
    deduplicate on ``webhook-id`` (the alert id). An alert (id and source count) whose deliveries finished before is
    not delivered again (streams/deliver/memory.py): a replay of the topic reaches nobody twice.
    """
    lanes = get_dispatcher()
    manual = stream.noack()
    async for event in manual.events():
        await book.ready.wait()  # inside the loop (see agents/alert.py): never call a destination disabled before a restart
        alert = await decode_or_dead_letter(event, Alert, "deliver_alerts")
        if alert is None:
            await manual.ack(event)
            continue
        if memory.already_delivered(_mark(alert.id), alert):
            ALREADY_DELIVERED.inc()
            await manual.ack(event)
            continue
        await lanes.submit(alert, destinations_for(alert, settings), _acker(manual, event, alert), _dead_letterer(event, alert))


#: acks waiting for their delivery mark's answer from Kafka (kept referenced until done)
marking: set[asyncio.Task[None]] = set()


def _acker(stream: Any, event: Any, alert: Alert) -> Any:
    async def done() -> None:
        # Runs in a lane's task, outside the agent's event context, where a table cannot be written: the mark goes
        # through wirewatch.delivered (keyed like the alert) to record_deliveries. Written after the deliveries, so a
        # crash before it re-delivers; one that cannot be written costs a duplicate on a later replay, never an alert.
        # The lane only queues the mark: waiting for Kafka's answer before its next alert held each destination to one
        # broker round trip per alert (about 30 a second on a loaded machine); the ack still waits for the answer.
        try:
            sent = await delivered_topic.send(key=alert.id, value=encode(Delivered(alert_id=alert.id, source_count=alert.source_count,
                                                                                  at=utcnow())))  # fmt: skip
        except Exception:  # noqa: BLE001 - refused before it was queued: the alert was delivered all the same
            log.exception("alert %s: delivered, but the mark could not be written (a replay would deliver it again)", alert.id)
            await stream.ack(event)
            return
        task = asyncio.create_task(_ack_when_marked(sent, stream, event, alert))
        marking.add(task)
        task.add_done_callback(marking.discard)

    return done


async def _ack_when_marked(sent: Any, stream: Any, event: Any, alert: Alert) -> None:
    try:
        await sent
    except Exception:  # noqa: BLE001 - the alert was delivered: its offset is committed whatever the producer raised
        log.exception("alert %s: delivered, but the mark could not be written (a replay would deliver it again)", alert.id)
    await stream.ack(event)


@worker_app.agent(delivered_topic)
async def record_deliveries(stream):  # type: ignore[no-untyped-def]
    """Alerts handed to all their destinations (keyed by alert id) → the alerts-delivered table; sweeps drop old marks."""
    async for event in stream.events():
        health.begin("record_deliveries")
        done = await decode_or_dead_letter(event, Delivered, "record_deliveries")
        if done is not None and done.kind == "sweep":
            _sweep_delivered(event.message.partition, done)
        elif done is not None:
            delivered_table[done.alert_id] = memory.record(_mark(done.alert_id), done.source_count, done.at).dumps()
        health.done("record_deliveries")


def _sweep_delivered(partition: int, sweep: Delivered) -> None:
    # only this partition's keys: a table write goes to the changelog partition of the event being processed
    for key in [k for k in list(delivered_table.keys()) if on_partition(k, partition)]:
        mark = _mark(key)
        if mark is None or memory.expired(mark, sweep.at):
            delivered_table.pop(key, None)


def _mark(alert_id: str) -> memory.DeliveredMark | None:
    """The alert's mark; None when there is none, or when it cannot be read (then the alert is delivered: at least once)."""
    raw = delivered_table.get(alert_id)
    if raw is None:
        return None
    try:
        return memory.DeliveredMark.loads(raw)
    except DecodeError as exc:
        log.error("alert %s: unreadable delivery mark ignored (it may be delivered again): %s", alert_id, exc)
        return None


@worker_app.timer(interval=settings.story_sweep_seconds)
@survives
async def sweep_delivered() -> None:
    """Ask every partition of record_deliveries to drop the marks older than the memory (tables change only in streams)."""
    now = utcnow()
    for partition in range(settings.partitions):
        topic: Any = delivered_topic  # send_raw (to one partition) is not in Faust's TopicT
        await (await topic.send_raw(f"~sweep:{partition}", encode(Delivered(kind="sweep", at=now)), partition))


def _dead_letterer(event: Any, alert: Alert) -> Any:
    async def failed(_spec: str, error: str) -> None:
        # destinations name themselves masked; an error may still quote a URL (Slack and webhook URLs carry tokens)
        await send_dead_letter(event, "deliver_alerts", f"alert {alert.id}: {mask_urls_in(error)}")

    return failed


@worker_app.agent(digests_topic)
async def collect_digests(stream):  # type: ignore[no-untyped-def]
    """Digest items (keyed by destination and period) → the digest table; a flush request sends a digest that is due.

    The table is the pending digest, so it survives restarts; a digest is marked sent in the table after it was
    delivered, and a crash in between re-sends it under the same ``webhook-id``.
    """
    async for event in stream.events():
        await book.ready.wait()
        health.begin("collect_digests")
        item = await decode_or_dead_letter(event, DigestItem, "collect_digests")
        try:
            if item is not None:
                await _handle_digest_item(event, item)
        finally:
            health.done("collect_digests")


async def _handle_digest_item(event: Any, item: DigestItem) -> None:
    key = digest.digest_key(item.destination, item.period, item.period_start)
    raw = digest_table.get(key)
    pending = digest.PendingDigest.loads(raw) if raw is not None else None
    if item.alert is not None:
        pending, later = digest.collect(pending, item, settings.digest_max_alerts)
        if later is not None:  # its period's digest is out: the alert goes into the next one
            await publish(digests_topic, digest.digest_key(later.destination, later.period, later.period_start), encode(later))
        else:
            digest_table[key] = pending.dumps()
        return
    if pending is None:
        return
    now = utcnow()
    if digest.expired_digests(now, {key: pending}):
        del digest_table[key]
        return
    due = digest.sendable_now(pending) if item.now else bool(digest.due_digests(now, {key: pending}, settings.digest_grace_seconds))
    if not due:
        return  # not due yet, or already sent (a second flush request)
    summary = digest.build_digest(pending)
    lanes = get_dispatcher()
    try:
        destination = lanes.destination(pending.destination)
        await destination.send_digest(summary)
    except Gone as exc:
        await lanes.gone(pending.destination, exc)
        await send_dead_letter(event, "collect_digests", f"digest {summary.id}: {mask_urls_in(str(exc))}")
    except (DeliveryFailed, ValueError) as exc:
        where = mask_destination(pending.destination)
        await send_dead_letter(event, "collect_digests", f"digest {summary.id} to {where}: {mask_urls_in(str(exc))}")
    else:
        log.info("sent %s digest %s (%d alerts) to %s", pending.period, summary.id, summary.count, mask_destination(pending.destination))
    digest_table[key] = digest.mark_sent(pending).dumps()


@worker_app.timer(interval=settings.digest_check_seconds)
@survives
async def flush_digests() -> None:
    """Ask the digest agent to send every digest whose period has ended (and to drop old sent markers)."""
    now = utcnow()
    pending: dict[str, digest.PendingDigest] = {}
    for key, raw in list(digest_table.items()):
        try:
            pending[key] = digest.PendingDigest.loads(raw)
        except ValueError as exc:
            log.error("digest %s: unreadable table value ignored: %s", key, exc)
    for key in [*digest.due_digests(now, pending, settings.digest_grace_seconds), *digest.expired_digests(now, pending)]:
        state = pending[key]
        request = DigestItem(destination=state.destination, period=state.period, period_start=state.start)
        await publish(digests_topic, key, encode(request))
