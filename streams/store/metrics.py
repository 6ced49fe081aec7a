"""Prometheus metrics of the storage stage."""

from __future__ import annotations

from prometheus_client import Counter

ROWS_WRITTEN = Counter("wirewatch_sink_rows_total", "Records written to storage", ["table"])
