"""Prometheus metrics of the alert stage."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ALERTS = Counter("wirewatch_alerts_total", "Alerts raised", ["kind"])
ALERT_LATENCY = Histogram(
    "wirewatch_poll_to_alert_seconds", "Fetch of the feed item to alert", buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60)
)
EVENT_GROUPS = Gauge("wirewatch_event_groups", "Event groups (type, place and day) this worker holds")
EVENT_GROUP_BYTES = Gauge("wirewatch_event_group_bytes", "Bytes the event groups this worker holds are counted as (keys, values, overhead)")
EVENT_GROUPS_DROPPED = Counter(
    "wirewatch_event_groups_dropped_total",
    "Event groups dropped from the table, by reason (budget: memory bound; age: retention)",
    ["reason"],
)
STORIES_FORGOTTEN = Counter(
    "wirewatch_story_memory_trimmed_total",
    "Stories a name's or a query rule's memory forgot to stay within half a message, least recently active first",
    ["table"],
)
