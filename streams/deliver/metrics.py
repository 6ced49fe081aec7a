"""Prometheus metrics of the delivery stage."""

from __future__ import annotations

from prometheus_client import Counter

DELIVERIES = Counter("wirewatch_deliveries_total", "Alert deliveries by destination and outcome", ["destination", "outcome"])
ALREADY_DELIVERED = Counter(
    "wirewatch_alerts_already_delivered_total", "Alerts not delivered again: a replay of an alert whose deliveries finished before"
)
