"""Liveness as progress: agents that began work and finished nothing, topics whose lag does not move, messages held, tables recovered."""

from __future__ import annotations

import time
from typing import Any

import faust

from streams.config import get_settings
from streams.kafka.metrics import CONSUMER_LAG, LAST_PROGRESS


def recovered(app: faust.App) -> bool:
    """True once the app's tables are restored from their changelogs."""
    return bool(app.tables.recovery.completed.is_set())  # type: ignore[attr-defined]


class Health:
    """Liveness as progress.

    Two signals, both limited by ``WIREWATCH_HEALTH_STUCK_SECONDS``: an agent that began a batch and
    finished nothing since, and a topic whose lag is above zero while its committed offset stands still
    (this catches agents stuck before they even start a batch). A third is immediate: an agent that left
    messages uncommitted because their outcome could not be recorded (:meth:`hold`).
    """

    def __init__(self, stuck_after: float | None = None) -> None:
        self.stuck_after = stuck_after if stuck_after is not None else get_settings().health_stuck_seconds
        self.busy_since: dict[str, float] = {}
        #: per topic: (lag, committed offsets summed, monotonic time the committed offsets last moved or lag was 0)
        self.topics: dict[str, tuple[int, int, float]] = {}
        #: agent → why it left messages uncommitted (agents/common.py hold): its partitions' commits stand still
        #: until the process restarts, so it stays unhealthy until then
        self.held: dict[str, str] = {}

    def begin(self, agent: str) -> None:
        self.busy_since.setdefault(agent, time.monotonic())

    def done(self, agent: str) -> None:
        self.busy_since.pop(agent, None)
        LAST_PROGRESS.labels(agent).set(time.time())

    def hold(self, agent: str, reason: str) -> None:
        """Record that ``agent`` left messages uncommitted (unhealthy from now on; the reason is the latest)."""
        self.held[agent] = reason[:500]

    def observe_lag(self, topic: str, lag: int, committed: int, now: float | None = None) -> None:
        """Record a lag probe; a topic makes progress when its committed offsets move or it has no lag."""
        now = time.monotonic() if now is None else now
        previous = self.topics.get(topic)
        since = now if previous is None or lag == 0 or committed != previous[1] else previous[2]
        self.topics[topic] = (lag, committed, since)

    def stuck(self, now: float | None = None) -> list[str]:
        """Agents busy too long and topics lagging without progress too long; empty when healthy."""
        now = time.monotonic() if now is None else now
        agents = [agent for agent, since in self.busy_since.items() if now - since > self.stuck_after]
        stalled = [f"topic:{topic}" for topic, (lag, _, since) in self.topics.items() if lag > 0 and now - since > self.stuck_after]
        return sorted(agents) + sorted(stalled) + [f"held:{agent}" for agent in sorted(self.held)]


async def probe_lag(app: faust.App, health: Health, topic_prefix: str) -> dict[str, int]:
    """Lag per topic (high-water mark minus committed offset over this process's partitions) into metrics and health."""
    consumer = app.consumer
    assigned = [tp for tp in consumer.assignment() if tp.topic.startswith(topic_prefix)]
    if not assigned:
        return {}
    highwaters = await consumer.highwaters(*assigned)
    # Faust keeps the offsets it committed (read from the broker on assignment); there is no public accessor
    committed_offsets: dict[Any, int | None] = getattr(consumer, "_committed_offset", {})
    lags: dict[str, int] = {}
    committed: dict[str, int] = {}
    for tp in assigned:
        high = highwaters.get(tp) or 0
        done = committed_offsets.get(tp)
        done = done if done is not None else 0
        lags[tp.topic] = lags.get(tp.topic, 0) + max(0, high - done)
        committed[tp.topic] = committed.get(tp.topic, 0) + done
    for topic, lag in lags.items():
        CONSUMER_LAG.labels(topic).set(lag)
        health.observe_lag(topic, lag, committed[topic])
    return lags
