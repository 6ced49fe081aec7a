"""``/health``, ``/ready`` and ``/metrics`` pages and the consumer-lag probe, registered on both apps."""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.config import get_settings
from streams.errors import InputError
from streams.kafka.health import Health, probe_lag, recovered
from streams.web.access import access_middleware, binding_error

log = logging.getLogger(__name__)

#: how often the lag probe asks the broker for high-water marks
LAG_PROBE_SECONDS = 5.0


def register_pages(app: faust.App, health: Health) -> None:
    """Add the operational pages and the lag probe to ``app``, behind the access rules (streams/web/access.py)."""
    settings = get_settings()
    problem = binding_error(settings)
    if problem is not None:  # `wirewatch worker` and `poller` check before they get here; this is for any other way in
        raise InputError(problem)
    # aiohttp freezes the middleware list when the server starts, which is after every page is registered
    app.web.web_app.middlewares.append(access_middleware(settings))  # type: ignore[attr-defined]

    @app.page("/health")
    class HealthView(View):
        async def get(self, request: Request) -> Response:
            # an agent that crashed (streams.kafka.apps.App) may have had its batch acknowledged unprocessed: unhealthy until
            # the process restarts; an agent that held messages (agents/common.py hold) says why
            crashed: dict[str, str] = getattr(app, "crashed_agents", {})
            stuck = health.stuck() + [f"crashed:{name}" for name in sorted(crashed)]
            body: dict[str, Any] = {"status": "stuck" if stuck else "ok", "stuck": stuck, "stuck_after_seconds": health.stuck_after}
            if crashed:
                body["crashed"] = crashed
            if health.held:
                body["held"] = health.held
            return self.json(body, status=503 if stuck else 200)

    @app.page("/ready")
    class ReadyView(View):
        async def get(self, request: Request) -> Response:
            assigned = len(app.consumer.assignment()) if app.consumer is not None else 0
            restored = recovered(app)
            ready = assigned > 0 and restored
            return self.json({"ready": ready, "partitions": assigned, "recovered": restored}, status=200 if ready else 503)

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.timer(interval=LAG_PROBE_SECONDS)
    async def measure_lag() -> None:
        """Consumer lag per topic, for /metrics and the stalled-topic check of /health."""
        try:
            await probe_lag(app, health, settings.topic_prefix)
        except Exception as exc:  # noqa: BLE001 - a failed probe (rebalance, broker restart) must not stop the timer
            log.debug("lag probe failed: %s", exc)
