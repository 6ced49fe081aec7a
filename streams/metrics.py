"""Prometheus metrics of both processes, served on ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

POLLS = Counter("wirewatch_polls_total", "Feed polls by outcome", ["status"])
FETCH_ERRORS = Counter("wirewatch_fetch_errors_total", "Failed polls by error kind", ["kind"])
ARTICLES_PUBLISHED = Counter("wirewatch_articles_published_total", "Articles published", ["kind"])
FEEDS = Gauge("wirewatch_feeds", "Feeds owned by this poller by status", ["status"])
FETCH_SECONDS = Histogram("wirewatch_fetch_seconds", "Time to fetch one feed (HTTP request and body)")
PARSE_SECONDS = Histogram("wirewatch_parse_seconds", "Time to parse one feed body in the parser process")

ARTICLES_ENRICHED = Counter("wirewatch_articles_enriched_total", "Articles through entity extraction")
ENTITIES = Counter("wirewatch_entities_total", "Canonical entities extracted")
EVENTS = Counter("wirewatch_events_total", "PLOVER key events extracted", ["type"])
NLP_SECONDS = Histogram("wirewatch_nlp_batch_seconds", "Time of one nlp.pipe batch", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
ALERTS = Counter("wirewatch_alerts_total", "Alerts raised", ["kind"])
ALERT_LATENCY = Histogram(
    "wirewatch_poll_to_alert_seconds", "Fetch of the feed item to alert", buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60)
)
DELIVERIES = Counter("wirewatch_deliveries_total", "Alert deliveries by destination and outcome", ["destination", "outcome"])
ROWS_WRITTEN = Counter("wirewatch_sink_rows_total", "Records written to storage", ["table"])
DEAD_LETTERS = Counter("wirewatch_dead_letters_total", "Messages sent to the dead-letter topic", ["agent"])
LAST_PROGRESS = Gauge("wirewatch_last_progress_timestamp", "Unix time an agent last finished a message", ["agent"])
CONSUMER_LAG = Gauge("wirewatch_consumer_lag", "Messages not yet committed on this process's partitions, per topic", ["topic"])
FULLTEXT = Counter("wirewatch_fulltext_total", "Full-text fetches of article pages by outcome", ["outcome"])
