"""What every destination shares: one attempt's outcome, exponential backoff with jitter, and the retry loop."""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from schemas import Alert, Digest
from streams.errors import DeliveryFailed, Gone
from streams.text import mask_destination

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to: delivered, worth retrying (maybe after ``retry_after``), or final."""

    status: Literal["ok", "retry", "refused", "gone"]
    error: str = ""
    retry_after: float | None = None


def outbound(alert: Alert) -> Alert:
    """The alert as it leaves Wirewatch (a webhook body, a digest, the alerts file): its rule's destinations masked.

    The alert names every destination of its rule, so without this a webhook receiver would learn the Slack URL
    and the tokens of the other destinations.
    """
    if not alert.destinations:
        return alert
    return alert.model_copy(update={"destinations": [mask_destination(spec) for spec in alert.destinations]})


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None, jitter: float | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): exponential with jitter, never less than Retry-After.

    The jitter factor lies in [0.5, 1.5) so many workers retrying one endpoint spread out; the server's
    ``Retry-After`` is a floor the jitter cannot undercut, itself clamped to ``cap``: a number from outside never
    holds a destination's lane longer than the configured longest delay.
    """
    factor = 0.5 + (random.random() if jitter is None else jitter)  # noqa: S311 - jitter, not crypto
    delay = min(cap, base * 2 ** (attempt - 1) * factor)
    floor = 0.0 if retry_after is None or math.isnan(retry_after) else min(cap, retry_after)
    return float(max(delay, floor, 0.0))


class Destination:
    """Where alerts go. Subclasses make one attempt; :meth:`send` retries with backoff until a final outcome."""

    kind = "destination"
    #: push destinations (webhook, Slack, e-mail) get an alert once; later copies of its story (updates) are not pushed
    pushes = True
    #: destinations that take digests (webhook, Slack, e-mail); the console and the file get every alert as it comes
    digests = False

    def __init__(self, name: str, attempts: int = 5, base_delay: float = 0.5, max_delay: float = 300.0) -> None:
        self.name = name
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.disabled = False
        #: set by a ``digest:hourly:`` / ``digest:daily:`` spec: every alert to this destination goes into its digest
        self.digest_period: Literal["hourly", "daily"] | None = None

    async def attempt(self, alert: Alert) -> Outcome:
        raise NotImplementedError

    async def attempt_digest(self, digest: Digest) -> Outcome:
        return Outcome("refused", f"{self.kind} destinations take alerts one by one, not digests")

    async def close(self) -> None:
        return None

    async def send(self, alert: Alert) -> int:
        """Deliver ``alert``; returns the number of attempts made or raises :class:`DeliveryFailed` / :class:`Gone`."""
        return await self._retry(f"alert {alert.id}", lambda: self.attempt(alert))

    async def send_digest(self, digest: Digest) -> int:
        """Deliver a digest, retried like an alert."""
        return await self._retry(f"digest {digest.id}", lambda: self.attempt_digest(digest))

    async def _retry(self, what: str, attempt_once: Callable[[], Awaitable[Outcome]]) -> int:
        if self.disabled:
            raise Gone(f"{self.name} is disabled (it answered 410 Gone; re-enable with 'wirewatch destinations enable')")
        last = "no attempt"
        for attempt in range(1, self.attempts + 1):
            outcome = await attempt_once()
            if outcome.status == "ok":
                return attempt
            if outcome.status == "gone":
                self.disabled = True
                raise Gone(f"{self.name} answered 410 Gone to {what}; destination disabled", newly=True)
            if outcome.status == "refused":
                raise DeliveryFailed(f"{self.name} refused {what}: {outcome.error}")
            last = outcome.error
            if attempt < self.attempts:
                await asyncio.sleep(backoff_delay(attempt, self.base_delay, self.max_delay, outcome.retry_after))
        raise DeliveryFailed(f"{self.name}: {self.attempts} attempts failed for {what}, last: {last}")
