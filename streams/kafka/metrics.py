"""Prometheus metrics every process has: progress per agent, consumer lag, dead letters, crashed agents, failed timers, held messages."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DEAD_LETTERS = Counter("wirewatch_dead_letters_total", "Messages sent to the dead-letter topic", ["agent"])
LAST_PROGRESS = Gauge("wirewatch_last_progress_timestamp", "Unix time an agent last finished a message", ["agent"])
CONSUMER_LAG = Gauge("wirewatch_consumer_lag", "Messages not yet committed on this process's partitions, per topic", ["topic"])
AGENT_CRASHES = Counter("wirewatch_agent_crashes_total", "Agents ended by an exception their loop did not catch", ["agent"])
BACKGROUND_FAILURES = Counter(
    "wirewatch_background_failures_total", "Timer ticks and follower tasks that failed (tried again, the process goes on)", ["task"]
)
HELD_MESSAGES = Counter(
    "wirewatch_held_messages_total", "Messages left uncommitted because their outcome could not be recorded (processed again)", ["agent"]
)
