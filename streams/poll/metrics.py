"""Prometheus metrics of the poller process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from streams.clock import SUSPECT_REASONS

POLLS = Counter("wirewatch_polls_total", "Feed polls by outcome", ["status"])
FETCH_ERRORS = Counter("wirewatch_fetch_errors_total", "Failed polls by error kind", ["kind"])
ARTICLES_PUBLISHED = Counter("wirewatch_articles_published_total", "Articles published", ["kind"])
ARTICLES_TRUNCATED = Counter("wirewatch_articles_truncated_total", "Articles cut to the size policy before they were published")
FEEDS = Gauge("wirewatch_feeds", "Feeds owned by this poller by status", ["status"])
FETCH_SECONDS = Histogram("wirewatch_fetch_seconds", "Time to fetch one feed (HTTP request and body)")
PARSE_SECONDS = Histogram("wirewatch_parse_seconds", "Time to parse one feed body in the parser process")
FULLTEXT = Counter("wirewatch_fulltext_total", "Full-text fetches of article pages by outcome", ["outcome"])
LINKS_DROPPED = Counter(
    "wirewatch_links_dropped_total", "Feed item links dropped because they are not http(s) (the article keeps the feed URL)", ["scheme"]
)
SUSPECT_DATES = Counter("wirewatch_suspect_dates_total", "New articles whose date is suspect (never alerted as new), by reason", ["reason"])
for _reason in SUSPECT_REASONS:  # every reason exported from the start, at 0, so a rate over it is defined
    SUSPECT_DATES.labels(_reason)
