"""The worker's dashboard pages: ``/dashboard`` (HTML) and ``/dashboard.json`` (the figures its script refreshes)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from faust.web import Request, Response, View

from agents.common import nlp_executor, resources, rulebook, settings
from agents.registry import keeper
from streams.clock import utcnow
from streams.kafka.apps import worker_app
from streams.poll.health import FeedBoard, follow_feed_board
from streams.web.dashboard import (
    DASHBOARD_CSP,
    DashboardData,
    dashboard_json,
    fold_trends,
    render_dashboard,
    render_story,
    worker_figures,
)

log = logging.getLogger(__name__)

#: every feed's registry entry and poller state, kept current from Kafka by :func:`follow_feed_health`
feed_board = FeedBoard()


@worker_app.task
async def follow_feed_health() -> None:
    """Follow ``wirewatch.feeds`` and the poller's feed-state changelog, so feed health shows wherever the poller runs."""
    await follow_feed_board(settings, feed_board)


def feed_view() -> tuple[list[dict[str, Any]], list[str]]:
    """The feed rows as last read from Kafka (no I/O: requests never wait on the broker), and notes on what is missing."""
    notes: list[str] = []
    rows = feed_board.rows(warn=notes.append)
    if feed_board.error:
        notes.insert(0, f"feed health may be stale: {feed_board.error}")
    return rows, notes


def registry_name(entity_id: str) -> tuple[str, str, str] | None:
    """An id's registry entity (following an alias record): its id, name and type."""
    entry = keeper.get(entity_id)
    return (entry.id, entry.name, entry.type) if entry is not None else None


async def gather() -> DashboardData:
    sink = await resources.get_sink()
    now = utcnow()
    counters, dead, lag = worker_figures()
    feeds, notes = feed_view()
    return DashboardData(
        now=now,
        alerts=await sink.recent_alerts(20),
        # counted per registry entity: ids merged into another since their mentions were stored count for it
        trends=fold_trends(await sink.trending(now, 24, 30), registry_name, 10),
        counters=counters,
        dead_letters=dead,
        lag=lag,
        feeds=feeds,
        feed_notes=notes,
        stories=await sink.recent_stories(now - timedelta(hours=24), 10),
    )


@worker_app.page("/dashboard")
class DashboardView(View):
    """The dashboard page, rendered on the server."""

    async def get(self, request: Request) -> Response:
        return self.html(render_dashboard(await gather()), headers={"Content-Security-Policy": DASHBOARD_CSP})


@worker_app.page("/dashboard.json")
class DashboardFigures(View):
    """Counters, dead letters, lag and feed health for the page's refresh script."""

    async def get(self, request: Request) -> Response:
        counters, dead, lag = worker_figures()
        feeds, notes = feed_view()
        data = DashboardData(utcnow(), [], [], counters, dead, lag, feeds=feeds, feed_notes=notes)
        return self.json(dashboard_json(data))


@worker_app.page("/story/{story_id}")
class StoryView(View):
    """One story's page: its figures and its articles by outlet."""

    async def get(self, request: Request, story_id: str) -> Response:
        sink = await resources.get_sink()
        found = await sink.story(story_id[:64])
        if found is None:
            return self.html("<!DOCTYPE html><p>no such story</p>", status=404)
        linked = await sink.linked_stories(found[0])
        return self.html(render_story(*found, linked), headers={"Content-Security-Policy": DASHBOARD_CSP})


#: the longest period a dashboard preview reads (each request re-reads the articles naming the rule)
PREVIEW_MAX = timedelta(days=30)


@worker_app.page("/watch/{rule_id}/preview")
class WatchPreviewView(View):
    """What a rule in force would have sent over the stored articles (``?since=7d``, at most 30 days): read-only."""

    async def get(self, request: Request, rule_id: str) -> Response:
        import asyncio

        from streams.clock import parse_since
        from streams.errors import InputError
        from streams.web.preview import Preview, backtest, preview_alerts, read_window, render_preview

        rules = dict(rulebook.watchlist.rules)
        matches = [key for key in sorted(rules) if key.startswith(rule_id[:64])]
        rule = rules.get(rule_id) or (rules[matches[0]] if len(matches) == 1 else None)
        if rule is None:
            return self.html("<!DOCTYPE html><p>no such watch rule</p>", status=404)
        now = utcnow()
        try:
            since = max(parse_since(request.query.get("since", "7d")[:64], now), now - PREVIEW_MAX)
            sink = await resources.get_sink()
            window = await read_window(sink, rule, since, now, settings.new_mention_lookback_days)
        except InputError as exc:
            import html

            return self.html(f"<!DOCTYPE html><p>{html.escape(str(exc))}</p>", status=400)
        alerts = []
        if window.candidates:
            nlp = await resources.get_nlp()
            # on the NLP thread: spaCy is never run by two threads at once, and the loop keeps serving
            alerts = await asyncio.get_running_loop().run_in_executor(
                nlp_executor, backtest, window.candidates, rule, list(rules.values()), nlp, since, settings.new_mention_lookback_days
            )
        rows = await preview_alerts(sink, alerts, now, settings.story_window_hours)
        page = render_preview(Preview(rule, since, now, window.stored, window.naming, rows))
        return self.html(page, headers={"Content-Security-Policy": DASHBOARD_CSP})
