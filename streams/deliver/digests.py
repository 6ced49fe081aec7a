"""Digest mode as pure functions: low-urgency alerts collected per destination and UTC period, sent once when it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field

from schemas import Alert, Digest, DigestItem
from streams import ids
from streams.kafka.tablevalue import TableValue

Period = Literal["hourly", "daily"]
PERIOD_SECONDS: dict[str, int] = {"hourly": 3600, "daily": 86_400}
#: a sent digest's marker is kept this long, so an alert arriving later joins the next digest instead of re-opening this one
SENT_RETENTION = timedelta(days=2)
#: alert ids remembered per digest beyond the listed ones, so a redelivered alert is never counted twice
MAX_IDS = 5000


def period_start(when: datetime, period: Period) -> datetime:
    """The start of the UTC hour or day holding ``when``."""
    when = when.astimezone(UTC)
    if period == "hourly":
        return when.replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def period_end(start: datetime, period: Period) -> datetime:
    return start + timedelta(seconds=PERIOD_SECONDS[period])


def digest_key(spec: str, period: Period, start: datetime) -> str:
    """The key of one destination's digest for one period (topic ``wirewatch.digests`` and its table)."""
    return f"{ids.stable_id('destination', spec)}:{period}:{start.astimezone(UTC):%Y-%m-%dT%H:%M}Z"


def digest_id(spec: str, period: Period, start: datetime) -> str:
    """The digest's deterministic id (its ``webhook-id``): a re-send after a crash is recognisably the same digest."""
    return ids.stable_id("digest", spec, period, start.astimezone(UTC).isoformat())


def item_for(spec: str, alert: Alert, period: Period) -> DigestItem:
    """The digest item of ``alert`` for destination ``spec``: its period is the one holding its detection time."""
    return DigestItem(destination=spec, period=period, period_start=period_start(alert.detected, period), alert=alert)


class PendingDigest(TableValue):
    """A digest being collected (a value of the digest table): the first alerts, the count, and whether it was sent."""

    destination: str
    period: Period
    start: datetime
    count: int = 0
    alerts: list[Alert] = Field(default_factory=list)
    alert_ids: list[str] = Field(default_factory=list)
    sent: bool = False

    @property
    def end(self) -> datetime:
        return period_end(self.start, self.period)


def collect(pending: PendingDigest | None, item: DigestItem, max_alerts: int) -> tuple[PendingDigest, DigestItem | None]:
    """Add ``item``'s alert to its digest; returns the digest and, when that was already sent, the item for the next period.

    An alert seen before (a redelivery after a restart) changes nothing.
    """
    if pending is None:
        pending = PendingDigest(destination=item.destination, period=item.period, start=item.period_start)
    alert = item.alert
    if alert is None or alert.id in pending.alert_ids:
        return pending, None
    if pending.sent:
        later = item.model_copy(update={"period_start": pending.end})
        return pending, later
    alerts = pending.alerts if len(pending.alerts) >= max_alerts else [*pending.alerts, alert]
    return pending.model_copy(
        update={"count": pending.count + 1, "alerts": alerts, "alert_ids": [*pending.alert_ids, alert.id][-MAX_IDS:]}
    ), None


def due_digests(now: datetime, pending: dict[str, PendingDigest], grace_seconds: float = 0.0) -> list[str]:
    """Keys of the digests to send at ``now``: period over (plus the grace for alerts in flight), not sent, not empty."""
    grace = timedelta(seconds=grace_seconds)
    return sorted(key for key, digest in pending.items() if not digest.sent and digest.count > 0 and digest.end + grace <= now)


def sendable_now(pending: PendingDigest) -> bool:
    """Whether an early send (``DigestItem.now``) may send the digest: not sent yet and not empty."""
    return not pending.sent and pending.count > 0


def expired_digests(now: datetime, pending: dict[str, PendingDigest]) -> list[str]:
    """Keys of sent digests whose marker may go (see :data:`SENT_RETENTION`)."""
    return sorted(key for key, digest in pending.items() if digest.sent and digest.end + SENT_RETENTION <= now)


def mark_sent(pending: PendingDigest) -> PendingDigest:
    """The digest once sent: its alerts dropped, its ids kept for late duplicates."""
    return pending.model_copy(update={"sent": True, "alerts": []})


def build_digest(pending: PendingDigest) -> Digest:
    """The summary sent to the destination."""
    return Digest(
        id=digest_id(pending.destination, pending.period, pending.start),
        period=pending.period,
        period_start=pending.start,
        period_end=pending.end,
        count=pending.count,
        alerts=pending.alerts,
    )


def digest_heading(digest: Digest) -> str:
    """``3 alerts, 2026-11-01 09:00-10:00 UTC`` (the day alone for a daily digest)."""
    when = (
        f"{digest.period_start:%Y-%m-%d}" if digest.period == "daily" else f"{digest.period_start:%Y-%m-%d %H:%M}-{digest.period_end:%H:%M}"
    )
    return f"{digest.count} alert{'s' if digest.count != 1 else ''}, {when} UTC"
