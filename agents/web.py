"""``/health``, ``/ready`` and ``/metrics`` pages, registered on both apps."""

from __future__ import annotations

import time
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.metrics import LAST_PROGRESS

#: an agent with work waiting that finished nothing for this long is stuck
STUCK_AFTER_SECONDS = 120.0


def recovered(app: faust.App) -> bool:
    """True once the app's tables are restored from their changelogs."""
    return bool(app.tables.recovery.completed.is_set())  # type: ignore[attr-defined]


class Health:
    """Liveness as progress: each agent reports when it starts waiting on work and when it finishes some."""

    def __init__(self) -> None:
        self.busy_since: dict[str, float] = {}

    def begin(self, agent: str) -> None:
        self.busy_since.setdefault(agent, time.monotonic())

    def done(self, agent: str) -> None:
        self.busy_since.pop(agent, None)
        LAST_PROGRESS.labels(agent).set(time.time())

    def stuck(self) -> list[str]:
        now = time.monotonic()
        return sorted(agent for agent, since in self.busy_since.items() if now - since > STUCK_AFTER_SECONDS)


def register_pages(app: faust.App, health: Health) -> None:
    """Add the operational pages to ``app``'s web server."""

    @app.page("/health")
    class HealthView(View):
        async def get(self, request: Request) -> Response:
            stuck = health.stuck()
            body: dict[str, Any] = {"status": "stuck" if stuck else "ok", "stuck_agents": stuck}
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
