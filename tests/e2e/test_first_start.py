"""`wirewatch run` on a cold start, as a new user sees it: a quiet console, the banner, alerts, a clean Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.bench_enrich import children as live_children
from streams.config import ROOT, Settings
from tests.conftest import free_port
from tests.e2e.helpers import alive, http_get, stack_env, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


@pytest.mark.timeout(600)
def test_cold_start_console_is_quiet_and_explains_itself(kafka_settings: Settings, tmp_path: Path) -> None:
    worker_port, poller_port = free_port(), free_port()
    env = stack_env(
        kafka_settings,
        {"WIREWATCH_WEB_PORT": str(worker_port), "WIREWATCH_POLLER_WEB_PORT": str(poller_port), "COLUMNS": "80"},
    )
    console = tmp_path / "console.txt"
    with console.open("wb") as handle:
        run = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "run", "--samples-port", str(free_port())],
            env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for("the first alert on the console", lambda: "ALERT" in console.read_text(), 300, processes=[run])
            _, poller_metrics = http_get(f"http://127.0.0.1:{poller_port}/metrics")
            _, worker_metrics = http_get(f"http://127.0.0.1:{worker_port}/metrics")
        finally:
            run.send_signal(signal.SIGINT)
            code = run.wait(timeout=120)
    text = console.read_text()
    print(text)
    assert code == 0
    assert "first start  : created" in text  # the topics were new: their leaders were awaited before anything started
    assert f"dashboard    : http://127.0.0.1:{worker_port}/dashboard" in text
    assert "add a feed   :" in text and "add a watch  :" in text
    assert "the Kafka broker is still running (`make stop` stops it)" in text
    for noise in ("NotLeaderForPartition", "Failed fetch offsets", "Traceback", "WARNING", "error"):
        assert noise not in text
    assert "**" not in text  # the watched name is marked in bold, not with literal asterisks
    # each process exports the metrics of the stages it runs, and no other's at zero
    assert b"wirewatch_polls_total{" in poller_metrics and b"wirewatch_fetch_seconds" in poller_metrics
    assert b"wirewatch_articles_enriched_total" in worker_metrics and b"wirewatch_alerts_total{" in worker_metrics
    for worker_only in (b"wirewatch_articles_enriched", b"wirewatch_alerts_total", b"wirewatch_deliveries", b"wirewatch_sink_rows"):
        assert worker_only not in poller_metrics
    for poller_only in (b"wirewatch_polls_total", b"wirewatch_fetch_seconds", b"wirewatch_articles_published", b"wirewatch_feeds"):
        assert poller_only not in worker_metrics


@pytest.mark.timeout(600)
def test_a_run_killed_outright_stops_its_poller_and_worker(kafka_settings: Settings, tmp_path: Path) -> None:
    """SIGKILL (or the out-of-memory killer) gives `wirewatch run` no chance to stop its children: Linux sends them
    SIGTERM instead (streams/lifetime.py), so they drain and exit rather than run on, unseen, holding their ports."""
    worker_port, poller_port = free_port(), free_port()
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(worker_port), "WIREWATCH_POLLER_WEB_PORT": str(poller_port)})
    with (tmp_path / "console.txt").open("wb") as handle:
        run = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "run", "--samples-port", str(free_port())],
            env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    children: list[int] = []
    try:
        for port in (worker_port, poller_port):
            url = f"http://127.0.0.1:{port}/metrics"
            wait_for(f"the page on port {port}", lambda url=url: http_get(url)[0] == 200, 300, processes=[run])
        children = live_children(run.pid)
        assert len(children) == 2, children
        run.kill()
        run.wait(30)
        killed = time.monotonic()
        wait_for("the poller and the worker to exit", lambda: not any(alive(pid) for pid in children), 120)
        print(f"poller and worker exited {time.monotonic() - killed:.1f} s after `wirewatch run` was killed")
    finally:
        run.kill()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
