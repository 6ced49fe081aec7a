"""Liveness as progress, JSON log lines with stable keys, sink writes that wait out a database, bounded consumer buffers."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from agents.web import Health
from streams.config import Settings
from streams.errors import SinkUnavailable
from streams.kafka.apps import create_app
from streams.logs import STABLE_KEYS, JsonFormatter
from streams.store.base import write_with_retry


def test_agent_busy_too_long_is_stuck() -> None:
    health = Health(stuck_after=10)
    health.begin("store_enriched")
    started = health.busy_since["store_enriched"]
    assert health.stuck(now=started + 5) == []
    assert health.stuck(now=started + 11) == ["store_enriched"]
    health.done("store_enriched")
    assert health.stuck(now=started + 100) == []


def test_lagging_topic_without_progress_is_stuck() -> None:
    health = Health(stuck_after=10)
    health.observe_lag("w.articles", lag=5, committed=100, now=0)
    health.observe_lag("w.articles", lag=9, committed=100, now=8)
    assert health.stuck(now=9) == []
    health.observe_lag("w.articles", lag=12, committed=100, now=11)
    assert health.stuck(now=11) == ["topic:w.articles"]
    health.observe_lag("w.articles", lag=12, committed=130, now=12)  # offsets moved: progress
    assert health.stuck(now=12) == []
    health.observe_lag("w.enriched", lag=0, committed=7, now=0)
    assert "topic:w.enriched" not in health.stuck(now=100)  # idle with nothing to do is healthy


def test_json_log_lines_have_stable_keys() -> None:
    record = logging.LogRecord("streams.poll.steps", logging.ERROR, __file__, 1, "feed %s failed", ("f1",), None)
    record.feed_id = "f1"
    record.agent = "poll"
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["message"] == "feed f1 failed" and entry["level"] == "error" and entry["logger"] == "streams.poll.steps"
    assert entry["feed_id"] == "f1" and entry["agent"] == "poll" and "time" in entry
    assert {"feed_id", "article_id", "agent"} <= set(STABLE_KEYS)


async def test_write_with_retry_waits_out_an_unavailable_database() -> None:
    attempts: list[int] = []
    pauses: list[float] = []

    async def flaky(batch: list[int]) -> None:
        attempts.append(len(batch))
        if len(attempts) < 3:
            raise SinkUnavailable("database is locked", retry_after=0.001)

    await write_with_retry(flaky, [1, 2], lambda exc, pause: pauses.append(pause))
    assert attempts == [2, 2, 2] and pauses == [0.001, 0.002]


async def test_write_with_retry_passes_other_errors_on() -> None:
    async def broken(batch: list[int]) -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await write_with_retry(broken, [1], lambda exc, pause: None)


def test_backpressure_settings_reach_faust(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, stream_buffer_size=64, consumer_fetch_bytes=2_097_152, consumer_poll_records=32)
    conf = create_app("worker", settings).conf
    assert (conf.stream_buffer_maxsize, conf.consumer_max_fetch_size, conf.broker_max_poll_records) == (64, 2_097_152, 32)
    # the size policy: what the producer may send and the topics accept, a consumer fetches whole
    small = create_app("worker", Settings(data_dir=tmp_path, consumer_fetch_bytes=65_536, max_message_bytes=1_048_576)).conf
    assert small.producer_max_request_size == small.consumer_max_fetch_size == 1_048_576 + 1024
    assert small.producer_max_batch_size <= 1_048_576
    defaults = create_app("worker", Settings(data_dir=tmp_path)).conf
    assert defaults.stream_buffer_maxsize < 4096 and defaults.broker_max_poll_records is not None  # below Faust's unbounded defaults
