"""Feed health on the worker's dashboard comes from Kafka: a poller on another host (own state dir, stopped) still shows."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.config import Settings
from streams.kafka.client import compacted_state
from streams.poll.health import feed_state_topic, table_key
from streams.poll.state import FeedState
from tests.conftest import FIXTURES, free_port
from tests.e2e.helpers import FeedServer, cli, http_get, stack_env, start, stop, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


def changelog(settings: Settings) -> dict[str, FeedState]:
    raw, topic = feed_state_topic(settings)
    return {table_key(key): FeedState.loads(value) for key, value in asyncio.run(compacted_state(raw, topic)).items()}


def write_state(settings: Settings, state: FeedState) -> None:
    """Write a feed's state to the changelog as the poller's table does (Faust JSON-encodes table keys)."""
    raw, topic = feed_state_topic(settings)

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            await producer.send_and_wait(topic, key=orjson.dumps(state.source.id), value=state.dumps())
        finally:
            await producer.stop()

    asyncio.run(go())


def feed_rows(port: int) -> dict[str, dict[str, Any]]:
    status, body = http_get(f"http://127.0.0.1:{port}/dashboard.json")
    return {row["url"]: row for row in orjson.loads(body)["feeds"]} if status == 200 else {}


@pytest.mark.timeout(900)  # four CLI runs, waits of up to 180 + 180 + 60 + 60 s, two processes stopped
def test_worker_dashboard_shows_feed_health_polled_by_another_host(kafka_settings: Settings, tmp_path: Path) -> None:
    server = FeedServer(
        {
            "/valley.xml": (FIXTURES / "valley-news.xml").read_bytes(),
            "/login.xml": b"<!DOCTYPE html><html><body>Please sign in</body></html>",
        }
    )
    valley, login = server.url("/valley.xml"), server.url("/login.xml")
    common = {"WIREWATCH_POLL_BROKEN_AFTER_ERRORS": "1", "WIREWATCH_POLL_MIN_INTERVAL_SECONDS": "1", "WIREWATCH_POLL_TICK_SECONDS": "0.5"}
    # two "hosts": each process has a state directory of its own, and the worker's idea of a local
    # poller's port points where nothing listens
    poller_env = stack_env(
        kafka_settings, {**common, "WIREWATCH_DATA_DIR": str(tmp_path / "poller-host"), "WIREWATCH_POLLER_WEB_PORT": str(free_port())}
    )
    worker_port = free_port()
    worker_env = stack_env(
        kafka_settings,
        {
            **common,
            "WIREWATCH_DATA_DIR": str(tmp_path / "worker-host"),
            "WIREWATCH_WEB_PORT": str(worker_port),
            "WIREWATCH_POLLER_WEB_PORT": str(free_port()),
        },
    )
    try:
        assert cli(poller_env, "feeds", "add", valley, "--title", "Valley <News>").returncode == 0
        assert cli(poller_env, "feeds", "add", login, "--no-check").returncode == 0
        poller = start("poller", poller_env, tmp_path / "poller.log")
        try:
            wait_for(
                "the poller's state of both feeds in its changelog",
                lambda: {s.source.url: s.last_status for s in changelog(kafka_settings).values()} == {valley: "ok", login: "broken"},
                180,
                processes=[poller],
            )
        finally:
            assert stop(poller) == 0
        # `feeds list` reads the same state through the same code (a real poller's keys are JSON-encoded)
        listed = {row["url"]: row for row in orjson.loads(cli(worker_env, "feeds", "list", "--json").stdout)}
        assert (listed[valley]["status"], listed[valley]["items_seen"], listed[login]["broken"]) == ("ok", 2, True)
        # the poller is gone; the worker reads what it left in Kafka
        worker = start("worker", worker_env, tmp_path / "worker.log")
        try:

            def both_polled() -> dict[str, dict[str, Any]] | None:
                rows = feed_rows(worker_port)
                return rows if len(rows) == 2 and all(row["status"] != "new" for row in rows.values()) else None

            rows = wait_for("both feeds' health on the dashboard", both_polled, 180, processes=[worker])
            assert (rows[valley]["status"], rows[valley]["items_seen"], rows[valley]["broken"]) == ("ok", 2, False)
            assert rows[valley]["title"] == "Valley <News>" and rows[valley]["last_poll"] is not None
            assert (rows[login]["status"], rows[login]["broken"], rows[login]["error_count"]) == ("broken", True, 1)
            assert rows[login]["last_error"] and rows[login]["next_check"] is not None

            status, body = http_get(f"http://127.0.0.1:{worker_port}/dashboard")
            page = body.decode()
            assert status == 200
            assert "Valley &lt;News&gt;" in page and login in page and '<span class="status-broken">broken</span>' in page
            assert "broken: 1" in page and "ok: 1" in page

            # the view follows Kafka while the worker runs: a newer state, then a removed feed
            state = changelog(kafka_settings)[rows[valley]["id"]]
            write_state(kafka_settings, state.model_copy(update={"last_status": "error", "error_count": 3, "items_seen": 7}))
            wait_for("the newer state on the dashboard", lambda: feed_rows(worker_port)[valley]["error_count"] == 3, 60, processes=[worker])
            assert feed_rows(worker_port)[valley]["items_seen"] == 7
            assert cli(worker_env, "feeds", "remove", login).returncode == 0
            wait_for("the removed feed gone", lambda: list(feed_rows(worker_port)) == [valley], 60, processes=[worker])
        finally:
            assert stop(worker) == 0
    finally:
        server.close()
