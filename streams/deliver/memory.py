"""What delivery remembers of each alert it delivered, so a replay of ``wirewatch.alerts`` delivers nothing twice.

Receivers of webhooks deduplicate on ``webhook-id``; Slack, e-mail, the file and the console cannot, so an operator
who resets the worker's consumer groups would send everyone every alert again. Delivery keeps, per alert id, the
source counts it has delivered (an update with a higher ``source_count`` is a new delivery; the same count again is a
replay). A mark is written only after every destination of the alert has finished, so a worker killed in between
delivers again (at least once) rather than never.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from schemas import Alert
from streams.kafka.tablevalue import TableValue

#: how long an alert is remembered after its last delivery: Kafka's default retention (``log.retention.hours`` = 168,
#: Wirewatch's topics set none of their own), so an alert still on the topic to be replayed is still remembered
DELIVERY_MEMORY = timedelta(days=7)
MAX_COUNTS = 1000  # source counts kept per alert (an alert's source_count stops growing at a few hundred)


class DeliveredMark(TableValue):
    """The deliveries of one alert (a value of the alerts-delivered table)."""

    #: source counts whose deliveries have finished
    counts: list[int] = Field(default_factory=list)
    #: when the last of them finished
    at: datetime


def already_delivered(mark: DeliveredMark | None, alert: Alert) -> bool:
    """Whether ``alert`` (this id with this source count) has been handed to all its destinations before.

    A first alert (not an update) of an id delivered before with as many sources or more is not news either: its story
    was alerted already, by ``watch add --backfill`` before the worker met the story (the worker's own history of the
    entity does not know of it), or by a worker whose table was lost. Its later updates are news once they count more.
    """
    if mark is None:
        return False
    return alert.source_count in mark.counts or (not alert.update and alert.source_count <= max(mark.counts, default=0))


def record(mark: DeliveredMark | None, source_count: int, at: datetime) -> DeliveredMark:
    """The mark after the deliveries of ``source_count`` finished at ``at``."""
    if mark is None:
        return DeliveredMark(counts=[source_count], at=at)
    counts = sorted({*mark.counts, source_count})[-MAX_COUNTS:]
    return DeliveredMark(counts=counts, at=max(mark.at, at))


def expired(mark: DeliveredMark, now: datetime) -> bool:
    """Whether the mark is older than :data:`DELIVERY_MEMORY` (its alert has left the topic: no replay can bring it back)."""
    return now - mark.at > DELIVERY_MEMORY
