"""Delivery agent: alerts into per-destination lanes; an offset is committed only once every destination is done."""

from __future__ import annotations

from typing import Any

from agents.common import decode_or_dead_letter, send_dead_letter, settings
from schemas import Alert
from streams.app import worker_app
from streams.destinations import Dispatcher, destinations_for
from streams.topics import alerts_topic

dispatcher: Dispatcher | None = None


def get_dispatcher() -> Dispatcher:
    global dispatcher
    if dispatcher is None:
        dispatcher = Dispatcher(settings)
    return dispatcher


@worker_app.agent(alerts_topic)
async def deliver_alerts(stream):  # type: ignore[no-untyped-def]
    """Alerts → console, file, webhooks, Slack, e-mail; retried per destination, failures to the dead-letter topic.

    Acks are manual: an alert's offset becomes committable only when all its deliveries have finished (Faust
    commits up to the lowest unacknowledged offset), so a killed worker re-delivers rather than loses; receivers
    deduplicate on ``webhook-id`` (the alert id).
    """
    lanes = get_dispatcher()
    manual = stream.noack()
    async for event in manual.events():
        alert = await decode_or_dead_letter(event, Alert, "deliver_alerts")
        if alert is None:
            await manual.ack(event)
            continue
        await lanes.submit(alert, destinations_for(alert, settings), _acker(manual, event), _dead_letterer(event, alert))


def _acker(stream: Any, event: Any) -> Any:
    async def done() -> None:
        await stream.ack(event)

    return done


def _dead_letterer(event: Any, alert: Alert) -> Any:
    async def failed(_spec: str, error: str) -> None:
        # the error names the destination with its path redacted (Slack and webhook URLs carry tokens)
        await send_dead_letter(event, "deliver_alerts", f"alert {alert.id}: {error}")

    return failed
