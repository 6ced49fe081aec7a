"""A real poller process: undecodable feed states are dead-lettered and replaced, and /health reports poll progress."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from schemas import DeadLetter, FeedSource, decode
from streams import ids
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.client import compacted_state, publish, read_topic
from streams.poll.health import feed_state_topic, table_key
from streams.poll.state import FeedState
from tests.conftest import FIXTURES, free_port
from tests.e2e.helpers import FeedServer, cli, http_get, stack_env, start, stop, wait_for
from tests.figures import record_figure

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

LINKS_FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Links</title>'
    b"<item><title>Ferry notice</title><guid>l1</guid><link>javascript:alert(document.cookie)</link>"
    b"<description>The morning ferry leaves earlier.</description></item>"
    b"<item><title>Office notice</title><guid>l2</guid><link>http://127.0.0.1/office</link>"
    b"<description>The office reopens on Wednesday.</description></item></channel></rss>"
)


def states(settings: Settings) -> dict[str, bytes]:
    """The poller's feed-state changelog, latest raw value per feed id (undecodable ones included)."""
    raw, topic = feed_state_topic(settings)
    return {table_key(key): value for key, value in asyncio.run(compacted_state(raw, topic)).items()}


def decoded(settings: Settings) -> dict[str, FeedState | None]:
    out: dict[str, FeedState | None] = {}
    for key, value in states(settings).items():
        try:
            out[key] = FeedState.loads(value)
        except ValueError:
            out[key] = None
    return out


def write_raw_state(settings: Settings, key: str, value: bytes, partition: int) -> None:
    """Put bytes on the changelog as the poller's table would have written them (a JSON-encoded key)."""
    raw, topic = feed_state_topic(settings)

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            await producer.send_and_wait(topic, key=orjson.dumps(key), value=value, partition=partition)
        finally:
            await producer.stop()

    asyncio.run(go())


def dead_letters(settings: Settings) -> list[DeadLetter]:
    async def go() -> list[DeadLetter]:
        return [decode(DeadLetter, value) async for _key, value in read_topic(settings, "deadletter") if value is not None]

    return asyncio.run(go())


def metric(port: int, name: str, labels: str) -> float | None:
    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", body.decode(), re.MULTILINE) if status == 200 else None
    return float(match.group(1)) if match else None


@pytest.mark.timeout(900)  # two poller starts, waits of up to 180 + 180 s, two stops
def test_undecodable_states_are_dead_lettered_and_replaced_never_a_stop(kafka_settings: Settings, tmp_path: Path) -> None:
    asyncio.run(ensure_topics(kafka_settings))
    valley = (FIXTURES / "valley-news.xml").read_bytes()
    server = FeedServer({"/valley.xml": valley, "/links.xml": LINKS_FEED, "/third.xml": LINKS_FEED.replace(b"l1", b"t1")})
    urls = {name: server.url(f"/{name}.xml") for name in ("valley", "links", "third")}
    keys = {name: ids.feed_id(url) for name, url in urls.items()}
    port = free_port()
    env = stack_env(kafka_settings, {"WIREWATCH_POLLER_WEB_PORT": str(port), "WIREWATCH_POLL_TICK_SECONDS": "0.5"})
    log = tmp_path / "poller.log"
    try:
        assert cli(env, "feeds", "add", *urls.values()).returncode == 0
        poller = start("poller", env, log)
        try:
            wait_for(
                "all three feeds polled",
                lambda: {k: s.last_status if s else None for k, s in decoded(kafka_settings).items()} == dict.fromkeys(keys.values(), "ok"),
                180,
                processes=[poller],
            )
            # the javascript: link was dropped and counted (one article, one poll)
            assert wait_for("the dropped link counted", lambda: metric(port, "wirewatch_links_dropped_total", '{scheme="javascript"}'), 30)
            assert metric(port, "wirewatch_links_dropped_total", '{scheme="javascript"}') == 2.0  # links and third: one each
        finally:
            assert stop(poller) == 0
        good = decoded(kafka_settings)
        partitions = {name: good[key].partition for name, key in keys.items()}  # type: ignore[union-attr]
        # three ways a stored state cannot be read: not JSON, null where the old build wrote an infinite Retry-After,
        # a schema_version from the future
        broken = good[keys["links"]].model_dump(mode="json")  # type: ignore[union-attr]
        broken["next_check"] = None
        corrupt = {"valley": b"\x00\xffnot json at all", "links": orjson.dumps(broken), "third": b'{"schema_version": 99}'}
        for name, value in corrupt.items():
            write_raw_state(kafka_settings, keys[name], value, partitions[name])
        # the registry entry of one of them changes while its state is undecodable (the registry agent's path)
        asyncio.run(publish(kafka_settings, "feeds", [(keys["third"], FeedSource(id=keys["third"], url=urls["third"], title="Third"))]))
        started = time.monotonic()
        poller = start("poller", env, log)
        try:

            def repaired() -> bool:
                now = decoded(kafka_settings)
                return all(now.get(key) is not None and now[key].last_status == "ok" for key in keys.values())  # type: ignore[union-attr]

            wait_for("every feed polled again from a fresh state", repaired, 180, processes=[poller])
            repaired_after = time.monotonic() - started
            letters = wait_for(
                "a dead letter per undecodable state",
                lambda: (
                    (found := [d for d in dead_letters(kafka_settings) if d.key in keys.values()])
                    and {d.key for d in found} == set(keys.values())
                    and found
                ),
                60,
                processes=[poller],
            )
            assert poller.poll() is None  # still running: never a stop
        finally:
            assert stop(poller) == 0
    finally:
        server.close()
    _, changelog = feed_state_topic(kafka_settings)
    for letter in letters:
        name = next(n for n, k in keys.items() if k == letter.key)
        assert letter.topic == changelog and letter.partition == partitions[name] and letter.error.startswith("feed state: FeedState")
        assert letter.value_b64  # the original bytes are kept
    text = log.read_text()
    for name, key in keys.items():
        assert f"feed {key}: its stored state cannot be decoded" in text, name
    assert decoded(kafka_settings)[keys["third"]].source.title == "Third"  # type: ignore[union-attr]
    assert "poll failed" not in text and "repairing its stored state failed" not in text
    record_figure("undecodable feed state", "three corrupt states: every feed polled again after poller start", repaired_after, "s")


class HangingFeed:
    """A feed server whose answers wait until ``release`` is set: a poll that cannot finish."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests += 1
                server.release.wait(600)
                body = (FIXTURES / "valley-news.xml").read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/feed.xml"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()


def health(port: int) -> tuple[int, dict[str, Any]]:
    status, body = http_get(f"http://127.0.0.1:{port}/health")
    return status, (orjson.loads(body) if status in (200, 503) else {})


@pytest.mark.timeout(600)
def test_due_feeds_not_polled_for_the_stuck_time_fail_health(kafka_settings: Settings, tmp_path: Path) -> None:
    """A feed is due and its poll cannot finish (the server never answers, the deadline is far): after
    WIREWATCH_HEALTH_STUCK_SECONDS without a stored poll the poller's /health is 503; once the poll lands, 200."""
    asyncio.run(ensure_topics(kafka_settings))
    feed = HangingFeed()
    port = free_port()
    env = stack_env(
        kafka_settings,
        {
            "WIREWATCH_POLLER_WEB_PORT": str(port),
            "WIREWATCH_HEALTH_STUCK_SECONDS": "3",
            "WIREWATCH_FETCH_TIMEOUT_SECONDS": "600",
            "WIREWATCH_POLL_TICK_SECONDS": "0.5",
        },
    )
    try:
        assert cli(env, "feeds", "add", feed.url, "--no-check").returncode == 0  # the check would hang too
        poller = start("poller", env, tmp_path / "poller.log")
        try:
            wait_for("the poll to start", lambda: feed.requests > 0, 180, processes=[poller])
            asked = time.monotonic()
            status, body = wait_for("/health to turn 503", lambda: (h := health(port))[0] == 503 and h, 60, processes=[poller])
            unhealthy_after = time.monotonic() - asked
            assert body["stuck"] == ["poll_due_feeds"] and body["stuck_after_seconds"] == 3.0
            feed.release.set()
            wait_for("/health back to 200", lambda: health(port)[0] == 200, 60, processes=[poller])
            assert decoded(kafka_settings)[ids.feed_id(feed.url)].last_status == "ok"  # type: ignore[union-attr]
        finally:
            assert stop(poller) == 0
    finally:
        feed.close()
    record_figure("poller /health reports poll progress", "stuck time 3 s: 503 after the hung poll began", unhealthy_after, "s")
