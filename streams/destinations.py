"""Destination specs (``https://...``, ``slack:``, ``mailto:``, ``file:``, ``console``), their disabled state, and delivery lanes."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from schemas import Alert, DecodeError, DestinationState, decode
from streams import ids
from streams.config import Settings
from streams.delivery import (
    ConsoleDestination,
    DeliveryFailed,
    Destination,
    EmailDestination,
    FileDestination,
    Gone,
    SlackDestination,
    SMTPSettings,
    WebhookDestination,
    check_url,
    redact,
)
from streams.fetch import AddressGuard
from streams.metrics import DELIVERIES
from streams.rulebook import CompactedFollower

log = logging.getLogger(__name__)
_DIGEST_SPEC = re.compile(r"^digest:(hourly|daily):(.+)$")


def parse_destination(spec: str, settings: Settings, guard: AddressGuard | None = None) -> Destination:
    """The destination a spec names; raises ValueError with the reason when it cannot be one.

    ``https://host/path`` (a Standard Webhooks endpoint, signed with ``WIREWATCH_WEBHOOK_SECRET``),
    ``slack:https://hooks.slack.com/services/...``, ``mailto:a@example.org,b@example.org`` (via
    ``WIREWATCH_SMTP_*``), ``file:PATH`` (JSON lines) or ``console``; ``digest:hourly:`` or ``digest:daily:``
    before a webhook, Slack or e-mail spec sends that destination one summary per period instead.
    """
    guard = guard or AddressGuard(settings.fetch_allow_hosts)
    digest = _DIGEST_SPEC.match(spec.strip())
    if digest:
        destination = parse_destination(digest.group(2), settings, guard)
        if not destination.digests:
            raise ValueError(f"destination {spec!r}: only webhook, Slack and e-mail destinations take digests")
        destination.digest_period = "hourly" if digest.group(1) == "hourly" else "daily"
        return destination
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


def destination_id(spec: str) -> str:
    """The key of a destination on ``wirewatch.destinations`` (specs hold tokens, so the key is a hash)."""
    return ids.stable_id("destination", spec.strip())


def display_name(spec: str) -> str:
    """A destination as humans see it, with URL paths (tokens) redacted."""
    spec = spec.strip()
    digest = _DIGEST_SPEC.match(spec)
    if digest:
        return f"digest:{digest.group(1)}:{display_name(digest.group(2))}"
    if spec.startswith("slack:"):
        return "slack:" + redact(spec.removeprefix("slack:"))
    return redact(spec) if spec.lower().startswith(("http://", "https://")) else spec


def disabled_state(spec: str, reason: str, now: datetime) -> DestinationState:
    """The record that disables ``spec`` for every worker, now and after restarts."""
    return DestinationState(id=destination_id(spec), spec=spec.strip(), name=display_name(spec), reason=reason, since=now)


class DestinationBook(CompactedFollower):
    """Every worker's view of the disabled destinations (``wirewatch.destinations``); a tombstone re-enables one."""

    topic_suffix = "destinations"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.disabled: dict[str, DestinationState] = {}

    def apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.disabled.pop(key, None)
            return
        try:
            state = decode(DestinationState, value)
        except DecodeError as exc:
            log.error("destination state %s ignored: %s", key, exc)
            return
        if state.disabled:
            self.disabled[key] = state
        else:
            self.disabled.pop(key, None)

    def is_disabled(self, spec: str) -> bool:
        return destination_id(spec) in self.disabled

    def loaded(self) -> None:
        if self.disabled:
            log.warning("%d destination(s) disabled after 410 Gone: %s", len(self.disabled),
                        ", ".join(state.name for state in self.disabled.values()))  # fmt: skip


#: called with the destination spec and the error when an alert cannot be delivered there (it is dead-lettered)
FailureHandler = Callable[[str, str], Awaitable[None]]
#: called with the destination spec, the alert and the period when the alert goes into the destination's digest instead
DigestHandler = Callable[[str, Alert, Literal["hourly", "daily"]], Awaitable[None]]
#: called with the disabled state of a destination that just answered 410 Gone (to publish it)
GoneHandler = Callable[[DestinationState], Awaitable[None]]


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

    def __init__(
        self,
        settings: Settings,
        guard: AddressGuard | None = None,
        book: DestinationBook | None = None,
        on_gone: GoneHandler | None = None,
        collect: DigestHandler | None = None,
    ) -> None:
        self.settings = settings
        self.guard = guard or AddressGuard(settings.fetch_allow_hosts)
        self.book = book
        self.on_gone = on_gone
        self.collect = collect
        self.destinations: dict[str, Destination] = {}
        self._queues: dict[str, asyncio.Queue[tuple[Alert, Ticket]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def destination(self, spec: str) -> Destination:
        """The destination of ``spec`` (parsed once), its disabled flag as the destination book has it now."""
        destination = self.destinations.get(spec)
        if destination is None:
            destination = self.destinations[spec] = parse_destination(spec, self.settings, self.guard)
        if self.book is not None:
            destination.disabled = self.book.is_disabled(spec)
        return destination

    async def gone(self, spec: str, error: Gone) -> None:
        """Record a destination's first 410, so every worker stops calling it, now and after restarts."""
        if not error.newly:
            return
        state = disabled_state(spec, str(error), datetime.now(tz=UTC))
        if self.book is not None:
            self.book.disabled[state.id] = state  # at once, before the record comes back from the topic
        if self.on_gone is not None:
            await self.on_gone(state)

    def _lane(self, spec: str) -> asyncio.Queue[tuple[Alert, Ticket]]:
        queue = self._queues.get(spec)
        if queue is None:
            self.destination(spec)
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
            period = alert.digest or self.destinations[spec].digest_period
            if period and self.destinations[spec].digests and self.collect is not None:
                await self.collect(spec, alert, period)  # low urgency: into the destination's digest of the period
                continue
            lanes.append(lane)
        if not lanes:
            await done()
            return
        ticket = Ticket(len(lanes), done, failed)
        for lane in lanes:
            await lane.put((alert, ticket))

    async def _drain(self, spec: str, queue: asyncio.Queue[tuple[Alert, Ticket]]) -> None:
        while True:
            alert, ticket = await queue.get()
            destination = self.destination(spec)  # re-read: another worker may have disabled it, or the CLI re-enabled it
            error: str | None = None
            try:
                await destination.send(alert)
            except Gone as exc:
                error = str(exc)
                await self._record_gone(spec, exc)
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

    async def _record_gone(self, spec: str, exc: Gone) -> None:
        try:
            await self.gone(spec, exc)
        except Exception:  # noqa: BLE001 - the lane goes on; the destination stays disabled in this process
            log.exception("could not record that %s is gone", display_name(spec))

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
