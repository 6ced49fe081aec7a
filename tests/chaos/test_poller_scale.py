"""Two poller processes on 8 partitions share the feeds; one is killed with SIGKILL and the other takes over.

Each feed is polled by exactly one poller while both run, never by two at once; after the kill every feed of the
dead poller is polled by the survivor; new items are published once per (article id, revision). The issue asks for
500 feeds: WIREWATCH_CHAOS_FEEDS (500 by default) sets the count.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from schemas import FeedSource
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.client import publish
from tests.conftest import free_port
from tests.e2e.helpers import answer_feed, counted, http_get, rss_feed, serve_loopback, stack_env, start, stop, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.kafka]

N = int(os.environ.get("WIREWATCH_CHAOS_FEEDS", "500"))


def feed_body(number: int, version: int) -> bytes:
    """Invented feed ``number`` at ``version``: one more item per version."""
    items = "".join(
        f"<item><title>Feed {number} notice {i}</title><guid>f{number}-n{i}</guid>"
        f"<description>Notice {i} of invented feed {number}.</description></item>"
        for i in range(version + 1)
    )
    return rss_feed(f"Feed {number}", items)


class TrackingServer:
    """Serves the feeds with ETags; records which poller (User-Agent) asked for which feed, when, and overlaps."""

    def __init__(self) -> None:
        self.version = 1
        self.lock = threading.Lock()
        self.log: list[tuple[float, int, str]] = []
        self.in_flight: Counter[int] = Counter()
        self.overlaps = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                number = int(self.path.rsplit("/", 1)[1])
                agent = self.headers.get("User-Agent", "")
                with server.lock:
                    server.in_flight[number] += 1
                    if server.in_flight[number] > 1:
                        server.overlaps += 1
                    server.log.append((time.monotonic(), number, agent))
                    version = server.version
                try:
                    answer_feed(self, feed_body(number, version), f'"{version}"')
                finally:
                    with server.lock:
                        server.in_flight[number] -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = serve_loopback(Handler)
        self.port = self.httpd.server_address[1]

    def polls_since(self, since: float) -> Counter[int]:
        """Requests per feed since ``since``."""
        with self.lock:
            return Counter(number for when, number, _ in self.log if when >= since)

    def pollers_since(self, since: float) -> dict[int, set[str]]:
        with self.lock:
            seen: dict[int, set[str]] = {}
            for when, number, agent in self.log:
                if when >= since:
                    seen.setdefault(number, set()).add(agent)
            return seen


@pytest.mark.timeout(1800)  # waits of up to 180, 180, 120, 240 and 180 s, two pollers started and stopped
def test_two_pollers_share_and_take_over(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = kafka_settings.model_copy(update={"partitions": 8})
    asyncio.run(ensure_topics(settings))
    server = TrackingServer()
    pollers: dict[str, subprocess.Popen[bytes]] = {}
    ports = {}
    try:
        for name in ("poller-A", "poller-B"):
            ports[name] = free_port()
            env = stack_env(
                settings,
                {
                    "WIREWATCH_PARTITIONS": "8",
                    "WIREWATCH_DATA_DIR": str(tmp_path / name),
                    "WIREWATCH_POLLER_WEB_PORT": str(ports[name]),
                    "WIREWATCH_USER_AGENT": name,
                    "WIREWATCH_POLL_TICK_SECONDS": "0.5",
                    "WIREWATCH_POLL_INTERVAL_SECONDS": "2",
                    "WIREWATCH_POLL_MIN_INTERVAL_SECONDS": "1",
                    "WIREWATCH_POLL_MAX_INTERVAL_SECONDS": "3",
                    "WIREWATCH_FETCH_PER_HOST": "8",
                },
            )
            pollers[name] = start("poller", env, tmp_path / f"{name}.log")
        both = list(pollers.values())

        def ready() -> bool:
            return all(http_get(f"http://127.0.0.1:{port}/ready")[0] == 200 for port in ports.values())

        wait_for("both pollers ready", ready, timeout=180, processes=both)
        time.sleep(3)  # let the group settle: the second member's join may still be rebalancing

        feeds = [FeedSource(id=f"feed-{i}", url=f"http://127.0.0.1:{server.port}/feed/{i}") for i in range(N)]
        asyncio.run(publish(settings, "feeds", [(feed.id, feed) for feed in feeds]))
        registered = time.monotonic()
        wait_for("every feed polled twice", lambda: len(
            [n for n, agents in server.pollers_since(registered).items() if agents]) == N and min(
            Counter(n for _, n, _ in server.log).values()) >= 2, timeout=180, processes=both)  # fmt: skip

        # both running: each feed polled by exactly one poller, and both pollers have feeds
        window = time.monotonic()
        # the window closes on a positive signal, not after a time: every feed polled three more times since it opened
        # (a feed both pollers held would be polled by each in it)
        wait_for("every feed polled three times while both pollers run", lambda: len(polls := server.polls_since(window)) == N and min(
            polls.values()) >= 3, timeout=120, processes=both)  # fmt: skip
        shared = server.pollers_since(window)
        assert len(shared) == N, f"{N - len(shared)} feeds not polled while both pollers ran"
        assert all(len(agents) == 1 for agents in shared.values()), "a feed was polled by both pollers"
        owned_by = Counter(next(iter(agents)) for agents in shared.values())
        assert set(owned_by) == {"poller-A", "poller-B"}, owned_by

        # kill B outright; A must pick up every one of B's feeds after the rebalance
        b_feeds = {n for n, agents in shared.items() if agents == {"poller-B"}}
        os.killpg(pollers["poller-B"].pid, signal.SIGKILL)
        pollers["poller-B"].wait()
        killed = time.monotonic()

        def taken_over() -> bool:
            after = server.pollers_since(killed)
            return all("poller-A" in after.get(n, set()) for n in b_feeds)

        wait_for("poller-A polling every feed of poller-B", taken_over, timeout=240, processes=[pollers["poller-A"]])
        takeover_s = time.monotonic() - killed
        after = server.pollers_since(killed + 0.5)
        assert len(after) == N  # no feed lost

        # new content after the takeover: one new item per feed, published once
        server.version = 2
        expected = N * 3  # versions 1 and 2: items 0, 1 and then 2 of each feed, revision 1 each

        def all_items() -> Counter[tuple[str, int]] | None:
            counts = counted(settings, "articles", lambda value: (str(value["id"]), int(value["revision"])))
            return counts if len(counts) >= expected else None

        counts = wait_for("every item of every feed published", all_items, timeout=180, interval=2.0, processes=[pollers["poller-A"]])
        duplicates = {key: n for key, n in counts.items() if n > 1}
        assert len(counts) == expected and duplicates == {}
        assert server.overlaps == 0  # never two requests for one feed at once
        print(f"\npoller takeover after SIGKILL: {takeover_s:.1f} s for {len(b_feeds)} feeds; {N} feeds, {expected} items, 0 duplicates")
    finally:
        for process in pollers.values():
            stop(process)
        server.httpd.shutdown()
