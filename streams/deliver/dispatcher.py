"""Delivery lanes: one bounded queue and task per destination, so a slow or dead endpoint delays only its own alerts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from schemas import Alert, DestinationState
from streams.config import Settings
from streams.deliver.base import Destination
from streams.deliver.disabled import DestinationBook, disabled_state
from streams.deliver.metrics import DELIVERIES
from streams.deliver.specs import parse_destination, unsigned_warning, unsigned_webhooks
from streams.errors import DeliveryFailed, Gone
from streams.http.guard import AddressGuard
from streams.text import mask_destination, mask_urls_in

log = logging.getLogger(__name__)


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
            # the worker warns at start for the default destinations; a rule's own webhook shows up here first
            for name in unsigned_webhooks([spec], self.settings):
                log.warning("%s", unsigned_warning([name]))
            queue = self._queues[spec] = asyncio.Queue(maxsize=self.settings.delivery_queue_size)
            self._tasks[spec] = asyncio.create_task(self._drain(spec, queue), name=f"deliver {mask_destination(spec)}")
        return queue

    async def submit(self, alert: Alert, specs: list[str], done: Callable[[], Awaitable[None]], failed: FailureHandler) -> None:
        """Queue ``alert`` for each destination; ``failed`` runs per failed destination, ``done`` once all have finished."""
        lanes: list[asyncio.Queue[tuple[Alert, Ticket]]] = []
        for spec in specs:
            try:
                lane = self._lane(spec)
            except ValueError as exc:
                await failed(spec, mask_urls_in(str(exc)))
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
                error = f"{type(exc).__name__}: {mask_urls_in(str(exc))}"
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
            log.exception("could not record that %s is gone", mask_destination(spec))

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
