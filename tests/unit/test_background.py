"""A failing timer tick or follower task is logged, counted and tried again; it never ends the process."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from streams.kafka.background import keep_following, survives


def failures(task: str) -> float:
    return REGISTRY.get_sample_value("wirewatch_background_failures_total", {"task": task}) or 0.0


def test_a_failing_tick_is_logged_and_counted_and_the_next_tick_runs(caplog: pytest.LogCaptureFixture) -> None:
    ticks: list[int] = []

    @survives
    async def sweep_now() -> None:
        ticks.append(len(ticks))
        if len(ticks) == 1:
            raise ConnectionError("broker is electing a leader")

    before = failures("sweep_now")
    with caplog.at_level(logging.ERROR, logger="streams.kafka.background"):
        asyncio.run(sweep_now())
        asyncio.run(sweep_now())
    assert ticks == [0, 1]
    assert failures("sweep_now") == before + 1
    assert "sweep_now failed, tried again at its next tick: ConnectionError: broker is electing a leader" in caplog.text


def test_a_cancelled_tick_is_not_a_failure() -> None:
    @survives
    async def cancelled_tick() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled_tick())
    assert failures("cancelled_tick") == 0


def test_a_follower_that_fails_is_started_again_until_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[float] = []

    async def follow() -> None:
        runs.append(asyncio.get_running_loop().time())
        if len(runs) < 3:
            raise TimeoutError("no answer from the broker")

    before = failures("follow_rules_test")
    with caplog.at_level(logging.ERROR, logger="streams.kafka.background"):
        asyncio.run(keep_following("follow_rules_test", follow, first_pause=0.05))
    assert len(runs) == 3
    assert runs[2] - runs[1] >= runs[1] - runs[0] >= 0.05  # the pause doubles
    assert failures("follow_rules_test") == before + 2
    assert caplog.text.count("follow_rules_test failed, started again") == 2
