"""Prometheus metrics of the alert stage."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ALERTS = Counter("wirewatch_alerts_total", "Alerts raised", ["kind"])
ALERT_LATENCY = Histogram(
    "wirewatch_poll_to_alert_seconds", "Fetch of the feed item to alert", buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60)
)
