"""The worker's dashboard pages: ``/dashboard`` (HTML) and ``/dashboard.json`` (the figures its script refreshes)."""

from __future__ import annotations

import logging

import aiohttp
from faust.web import Request, Response, View

from agents.common import resources, settings
from streams.app import worker_app
from streams.dashboard import DashboardData, dashboard_json, feed_health, render_dashboard, worker_figures
from streams.rules import utcnow

log = logging.getLogger(__name__)


async def poller_feed_health() -> tuple[dict[str, float] | None, dict[str, float]]:
    """Feed health from the poller's /metrics on this host, or None when no poller answers there."""
    host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "") else settings.web_host  # noqa: S104 - comparing, not binding
    url = f"http://{host}:{settings.poller_web_port}/metrics"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as session, session.get(url) as response:
            if response.status != 200:
                return None, {}
            return feed_health(await response.text())
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None, {}


async def gather() -> DashboardData:
    sink = await resources.get_sink()
    now = utcnow()
    counters, dead, lag = worker_figures()
    feeds, polls = await poller_feed_health()
    return DashboardData(
        now=now,
        alerts=await sink.recent_alerts(20),
        trends=await sink.trending(now, 24, 10),
        counters=counters,
        dead_letters=dead,
        lag=lag,
        feeds=feeds,
        polls=polls,
    )


@worker_app.page("/dashboard")
class DashboardView(View):
    """The dashboard page, rendered on the server."""

    async def get(self, request: Request) -> Response:
        return self.html(render_dashboard(await gather()))


@worker_app.page("/dashboard.json")
class DashboardFigures(View):
    """Counters, dead letters and lag for the page's refresh script."""

    async def get(self, request: Request) -> Response:
        counters, dead, lag = worker_figures()
        data = DashboardData(now=utcnow(), alerts=[], trends=[], counters=counters, dead_letters=dead, lag=lag)
        return self.json(dashboard_json(data))
