"""Delivery agent: alerts to the console, the JSON-lines file and the signed webhook; failures dead-lettered."""

from __future__ import annotations

import logging

from agents.common import resources, send_dead_letter, settings
from schemas import Alert, DecodeError, decode
from streams.app import worker_app
from streams.delivery import DeliveryFailed, append_jsonl, console_line
from streams.metrics import DELIVERIES
from streams.topics import alerts_topic

alert_log = logging.getLogger("wirewatch.alerts")


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
