"""Destination specs (``https://...``, ``slack:``, ``mailto:``, ``file:``, ``console``) and the per-destination delivery lanes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from schemas import Alert
from streams.config import Settings
from streams.delivery import (
    ConsoleDestination,
    DeliveryFailed,
    Destination,
    EmailDestination,
    FileDestination,
    SlackDestination,
    SMTPSettings,
    WebhookDestination,
    check_url,
)
from streams.fetch import AddressGuard
from streams.metrics import DELIVERIES

log = logging.getLogger(__name__)


def parse_destination(spec: str, settings: Settings, guard: AddressGuard | None = None) -> Destination:
    """The destination a spec names; raises ValueError with the reason when it cannot be one.

    ``https://host/path`` (a Standard Webhooks endpoint, signed with ``WIREWATCH_WEBHOOK_SECRET``),
    ``slack:https://hooks.slack.com/services/...``, ``mailto:a@example.org,b@example.org`` (via
    ``WIREWATCH_SMTP_*``), ``file:PATH`` (JSON lines) or ``console``.
    """
    guard = guard or AddressGuard(settings.fetch_allow_hosts)
    retry = {"attempts": settings.delivery_attempts, "base_delay": settings.delivery_base_delay_seconds,
             "max_delay": settings.delivery_max_delay_seconds}  # fmt: skip
    spec = spec.strip()
    if spec == "console":
        return ConsoleDestination()
    if spec.startswith("file:"):
        path = spec.removeprefix("file:").removeprefix("//")
        if not path:
            raise ValueError("destination file: needs a path, e.g. file:.local/alerts.jsonl")
        return FileDestination(Path(path))
    if spec.startswith("slack:"):
        return SlackDestination(spec.removeprefix("slack:"), guard, min_interval=settings.slack_min_interval_seconds, **retry)
    if spec.startswith("mailto:"):
        if not settings.smtp_host:
            raise ValueError(f"destination {spec}: set WIREWATCH_SMTP_HOST to send e-mail")
        smtp = SMTPSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
        )
        recipients = [r.strip() for r in spec.removeprefix("mailto:").split(",") if r.strip()]
        return EmailDestination(recipients, smtp, guard, **retry)
    if spec.lower().startswith(("http://", "https://")):
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        return WebhookDestination(spec, secret, guard, **retry)
    raise ValueError(f"destination {spec!r}: expected https://..., slack:https://..., mailto:..., file:PATH or console")


def validate_destination(spec: str, settings: Settings) -> None:
    """Check a spec as ``wirewatch watch add --destination`` accepts it (URL and address literal included)."""
    destination = parse_destination(spec, settings)
    if isinstance(destination, WebhookDestination | SlackDestination):
        check_url(destination.url, destination.guard)


def default_destinations(settings: Settings) -> list[str]:
    """Where an alert goes when its rule names no destination: ``WIREWATCH_ALERT_DESTINATIONS`` and the webhook."""
    specs = list(settings.alert_destinations)
    if settings.webhook_url and settings.webhook_url not in specs:
        specs.append(settings.webhook_url)
    return specs


def destinations_for(alert: Alert, settings: Settings) -> list[str]:
    """Every destination of one alert: the console and alerts file always, then the rule's own or the defaults."""
    specs = ["console"]
    if settings.alerts_file is not None:
        specs.append(f"file:{settings.alerts_file}")
    for spec in alert.destinations or default_destinations(settings):
        if spec not in specs:
            specs.append(spec)
    return specs


#: called with the destination spec and the error when an alert cannot be delivered there (it is dead-lettered)
FailureHandler = Callable[[str, str], Awaitable[None]]


@dataclass
class Ticket:
    """One alert's pending deliveries; ``done`` runs once the last of them has finished (delivered or dead-lettered)."""

    pending: int
    done: Callable[[], Awaitable[None]]
    failed: FailureHandler
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def finish(self) -> None:
        async with self.lock:
            self.pending -= 1
            last = self.pending == 0
        if last:
            await self.done()


class Dispatcher:
    """One queue and task per destination, so a slow or dead endpoint delays only its own deliveries.

    A lane delivers in order, retrying with backoff; its queue is bounded, so a destination that stays down
    eventually slows the delivery agent (never the alert agents, which are separate) instead of filling memory.
    """

    def __init__(self, settings: Settings, guard: AddressGuard | None = None) -> None:
        self.settings = settings
        self.guard = guard or AddressGuard(settings.fetch_allow_hosts)
        self.destinations: dict[str, Destination] = {}
        self._queues: dict[str, asyncio.Queue[tuple[Alert, Ticket]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def _lane(self, spec: str) -> asyncio.Queue[tuple[Alert, Ticket]]:
        queue = self._queues.get(spec)
        if queue is None:
            self.destinations[spec] = parse_destination(spec, self.settings, self.guard)
            queue = self._queues[spec] = asyncio.Queue(maxsize=self.settings.delivery_queue_size)
            self._tasks[spec] = asyncio.create_task(self._drain(spec, queue), name=f"deliver {spec[:40]}")
        return queue

    async def submit(self, alert: Alert, specs: list[str], done: Callable[[], Awaitable[None]], failed: FailureHandler) -> None:
        """Queue ``alert`` for each destination; ``failed`` runs per failed destination, ``done`` once all have finished."""
        lanes: list[asyncio.Queue[tuple[Alert, Ticket]]] = []
        for spec in specs:
            try:
                lane = self._lane(spec)
            except ValueError as exc:
                await failed(spec, str(exc))
                continue
            if alert.update and self.destinations[spec].pushes:
                continue  # a later copy of the story: recorded (file, sink), never pushed again
            lanes.append(lane)
        if not lanes:
            await done()
            return
        ticket = Ticket(len(lanes), done, failed)
        for lane in lanes:
            await lane.put((alert, ticket))

    async def _drain(self, spec: str, queue: asyncio.Queue[tuple[Alert, Ticket]]) -> None:
        destination = self.destinations[spec]
        while True:
            alert, ticket = await queue.get()
            error: str | None = None
            try:
                await destination.send(alert)
            except DeliveryFailed as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - a destination bug must not kill its lane
                log.exception("delivery to %s failed unexpectedly", destination.name)
                error = f"{type(exc).__name__}: {exc}"
            DELIVERIES.labels(destination.kind, "ok" if error is None else "failed").inc()
            try:
                if error is not None:
                    await ticket.failed(spec, error)
                await ticket.finish()
            except Exception:  # noqa: BLE001 - e.g. the broker is gone while shutting down
                log.exception("delivery to %s: could not record the outcome of alert %s", destination.name, alert.id)
            finally:
                queue.task_done()

    async def join(self) -> None:
        """Wait until every queued delivery has finished."""
        for queue in list(self._queues.values()):
            await queue.join()

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for destination in self.destinations.values():
            await destination.close()
