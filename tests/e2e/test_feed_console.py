"""`wirewatch run` names a failing feed on its console once, not on every poll, and once more when it works again."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from streams.config import ROOT, Settings
from tests.conftest import free_port
from tests.e2e.helpers import FeedServer, stack_env, wait_for
from tests.integration.test_feeds_add_check import FIXTURES

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


@pytest.mark.timeout(600)
def test_a_failing_feed_gets_one_console_line(kafka_settings: Settings, tmp_path: Path) -> None:
    server = FeedServer({})  # /flaky.xml answers 404 until the test serves it
    flaky = server.url("/flaky.xml")
    env = stack_env(
        kafka_settings,
        {
            "WIREWATCH_WEB_PORT": str(free_port()),
            "WIREWATCH_POLLER_WEB_PORT": str(free_port()),
            # a poll every 1-3 s, backoff included: several failed polls of the feed within the test
            "WIREWATCH_POLL_INTERVAL_SECONDS": "1",
            "WIREWATCH_POLL_MIN_INTERVAL_SECONDS": "1",
            "WIREWATCH_POLL_MAX_INTERVAL_SECONDS": "3",
            "COLUMNS": "80",
        },
    )
    console = tmp_path / "console.txt"
    failing = f"feed {flaky}: http_status: HTTP 404 Not Found; see `wirewatch feeds list`"
    recovered = f"feed {flaky} works again (after "
    polls = lambda: server.requests.get("/flaky.xml", 0)  # noqa: E731
    with console.open("wb") as handle:
        run = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "run", "--samples-port", str(free_port()), "--feed", flaky],
            env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for("the failing feed on the console", lambda: failing in console.read_text(), 300, processes=[run])
            seen = polls()
            wait_for("three more failed polls", lambda: polls() >= seen + 3, 120, processes=[run])
            server.feeds["/flaky.xml"] = (FIXTURES / "valley-news.xml").read_bytes()
            wait_for("the recovery on the console", lambda: recovered in console.read_text(), 120, processes=[run])
            seen = polls()
            wait_for("three more good polls", lambda: polls() >= seen + 3, 120, processes=[run])
        finally:
            run.send_signal(signal.SIGINT)
            code = run.wait(timeout=120)
            server.close()
    text = console.read_text()
    print(text)
    print(f"{server.requests.get('/flaky.xml', 0)} polls of {flaky}")
    assert code == 0
    lines = text.splitlines()
    assert sum(failing in line for line in lines) == 1, "one line when it fails, not one per poll"
    assert sum(recovered in line for line in lines) == 1, "one line when it works again"
    assert "Traceback" not in text
    # the sample feeds work: the console names no other feed
    assert sum(" feed " in line and "see `wirewatch feeds list`" in line for line in lines) == 1
