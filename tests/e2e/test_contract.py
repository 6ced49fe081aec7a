"""The consumer contract on a real run: every topic's messages match their JSON Schema; the examples, the dashboard
(in headless Chromium), /metrics and JSON logs, all against one poller + worker run on an invented feed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import orjson
import pytest

from schemas import decode
from schemas.generate import OUT, TOPIC_RECORDS
from streams.config import Settings
from streams.kafka.admin import delete_topics
from streams.kafka.catalogue import TOPIC_NAMES
from streams.kafka.client import read_topic
from tests.conftest import free_port
from tests.e2e.helpers import ROOT, FeedServer, cli, http_get, stack_env, start, stop, wait_for

# the module's run (its fixture: waits of up to 240 + 60 + 60 + 30 s) counts against the first test's timeout
pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.timeout(900)]

ARTIFACTS = ROOT / "test-artifacts"
POISON_KEY = "poison-contract"

# An invented feed written for this test: a watched name, places and organisations to extract.
FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Saltmere Courier (Wirewatch contract fixture)</title>
<link>http://127.0.0.1/saltmere</link><description>Invented articles for the contract test.</description>
<item><title>Harbour master Teodor Brankovic closes the Saltmere docks before the storm</title>
<link>http://127.0.0.1/saltmere/docks</link><guid isPermaLink="false">saltmere-1</guid>
<pubDate>Fri, 27 Nov 2026 07:30:00 GMT</pubDate>
<description><![CDATA[<p>Harbour master Teodor Brankovic closed the Saltmere docks on Friday as the storm approached
the coast. Fishermen from Port Elvan moved their boats to the inner basin.</p>]]></description></item>
<item><title>Saltmere council approves new sea wall</title>
<link>http://127.0.0.1/saltmere/sea-wall</link><guid isPermaLink="false">saltmere-2</guid>
<pubDate>Fri, 27 Nov 2026 09:00:00 GMT</pubDate>
<description><![CDATA[<p>The Saltmere council approved a new sea wall on Friday. Northfield Engineering will build it
over two summers, the council leader, Agnes Mwangi, said.</p>]]></description></item>
</channel></rss>"""


@dataclass
class Run:
    settings: Settings
    env: dict[str, str]
    worker_port: int
    worker_log: Path


def read_all(settings: Settings, topic: str) -> list[tuple[str | None, bytes | None]]:
    async def collect() -> list[tuple[str | None, bytes | None]]:
        return [item async for item in read_topic(settings, topic)]

    return asyncio.run(collect())


def db_count(path: Path, table: str) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """One real run: poller and worker on a loopback feed, a watch rule, and one poison article."""
    tmp = tmp_path_factory.mktemp("contract")
    namespace = f"t{uuid.uuid4().hex[:10]}"
    settings = Settings(
        kafka_bootstrap=os.environ.get("WIREWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        topic_prefix=f"{namespace}.",
        app_prefix=namespace,
        data_dir=tmp / "data",
        sqlite_path=tmp / "wirewatch.db",
    )
    feeds = FeedServer({"/saltmere.xml": FEED})
    worker_port, poller_port = free_port(), free_port()
    env = stack_env(
        settings,
        {
            "WIREWATCH_POLL_TICK_SECONDS": "0.5",
            "WIREWATCH_POLL_MIN_INTERVAL_SECONDS": "1",
            "WIREWATCH_WEB_PORT": str(worker_port),
            "WIREWATCH_POLLER_WEB_PORT": str(poller_port),
            "WIREWATCH_LOG_JSON": "true",
        },
    )
    assert cli(env, "feeds", "add", feeds.url("/saltmere.xml"), "--title", "Saltmere Courier").returncode == 0
    assert cli(env, "watch", "add", "Teodor Brankovic", "--alias", "Brankovic", "--type", "PERSON").returncode == 0
    worker_log = tmp / "worker.log"
    poller = start("poller", env, tmp / "poller.log")
    worker = start("worker", env, worker_log)
    processes = [poller, worker]
    try:
        wait_for("the alert in SQLite", lambda: db_count(settings.sqlite_path, "alerts") == 1, 240, processes=processes)
        wait_for("both articles in SQLite", lambda: db_count(settings.sqlite_path, "articles") == 2, 60, processes=processes)
        from tests.e2e.test_pipeline import produce_raw

        produce_raw(settings, "articles", POISON_KEY.encode(), b'{"schema_version": 1, "id": "p", "fetched": "not a date"}')
        wait_for("the dead letter", lambda: [v for _, v in read_all(settings, "deadletter") if v], 60, processes=processes)
        wait_for(
            "feed health in the poller's metrics", lambda: b"wirewatch_feeds{" in http_get(f"http://127.0.0.1:{poller_port}/metrics")[1], 30
        )
        yield Run(settings, env, worker_port, worker_log)
    finally:
        codes = [stop(process) for process in processes]
        feeds.close()
        with contextlib.suppress(Exception):  # best effort: a run leaves about 150 partitions on the broker
            asyncio.run(delete_topics(settings))
    assert codes == [0, 0], f"exit codes {codes}; logs in {tmp}"


def test_every_message_of_every_topic_matches_its_schema(run: Run) -> None:
    counts: dict[str, int] = {}
    for topic in TOPIC_NAMES:
        model = TOPIC_RECORDS[topic]
        schema = json.loads((OUT / f"{model.__name__}.v1.json").read_text())
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        counts[topic] = 0
        for key, value in read_all(run.settings, topic):
            assert key, f"{topic}: every message has a key"
            if key == POISON_KEY and topic == "articles":
                continue  # the test's own bad message, not Wirewatch's: it must be in the dead-letter topic instead
            if value is None:
                assert topic in ("feeds", "rules"), f"{topic}: tombstones only on compacted topics"
                continue
            message = orjson.loads(value)
            errors = [e.message for e in validator.iter_errors(message)]
            assert not errors, f"{topic} message {key}: {errors}"
            assert decode(model, value).schema_version == 1
            counts[topic] += 1
    # every topic carries messages in this run but events, which only some articles produce
    assert counts["feeds"] == 1 and counts["rules"] == 1 and counts["alerts"] == 1 and counts["deadletter"] == 1, counts
    dead = [orjson.loads(v) for _, v in read_all(run.settings, "deadletter") if v]
    assert dead[0]["key"] == POISON_KEY and dead[0]["topic"] == run.settings.topic("articles")
    assert counts["articles"] == 2 and counts["enriched"] == 2 and counts["mentions"] >= 5, counts


def test_keys_follow_the_contract(run: Run) -> None:
    alerts = read_all(run.settings, "alerts")
    assert [key for key, _ in alerts] == [orjson.loads(value)["id"] for _, value in alerts if value]
    for key, value in read_all(run.settings, "mentions"):
        assert value is not None and key == orjson.loads(value)["entity_id"]
    for key, value in read_all(run.settings, "enriched"):
        assert value is not None and key == orjson.loads(value)["article"]["id"]


def test_python_example_consumer_validates_the_alert(run: Run) -> None:
    result = subprocess.run(
        [sys.executable, "examples/consumer.py", "--bootstrap", run.settings.kafka_bootstrap,
         "--topic", run.settings.topic("alerts"), "--group", f"{run.settings.app_prefix}-example", "--idle-seconds", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "\tTeodor Brankovic\t" in lines[0] and "**Teodor Brankovic**" in lines[0]
    assert "1 alert(s), 0 invalid" in result.stderr


def test_console_consumer_line_from_the_readme(run: Run) -> None:
    readme = (ROOT / "examples" / "README.md").read_text()
    assert "org.apache.kafka.tools.consumer.ConsoleConsumer" in readme
    java = shutil.which("java")
    jars = ROOT / ".local" / "kafka" / "lib"
    if java is None or not jars.is_dir():
        pytest.skip("no java or no local Kafka jars (deploy/kafka/kafka.sh start provides both)")
    result = subprocess.run(
        [java, "-cp", f"{jars}/*", "org.apache.kafka.tools.consumer.ConsoleConsumer",
         "--bootstrap-server", run.settings.kafka_bootstrap, "--topic", run.settings.topic("alerts"), "--from-beginning",
         "--property", "print.key=true", "--property", "key.separator=\t", "--max-messages", "1", "--timeout-ms", "30000"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    key, value = result.stdout.strip().split("\t", 1)
    alert = orjson.loads(value)
    jsonschema.validate(alert, json.loads((OUT / "Alert.v1.json").read_text()))
    assert key == alert["id"] and alert["entity_name"] == "Teodor Brankovic"


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_dashboard_in_headless_chromium(run: Run, tmp_path: Path) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium: `make browser-tool` installs Debian's chromium (the test target runs it)")
    url = f"http://127.0.0.1:{run.worker_port}/dashboard"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    # a virtual-time budget lets the page's script fetch dashboard.json once before the DOM is dumped
    dom = subprocess.run([browser, *flags, "--virtual-time-budget=3000", "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert "<h1>Wirewatch</h1>" in page and "Recent alerts (1)" in page
    assert "<mark>Teodor Brankovic</mark>" in page  # the alert's evidence, the watched name marked
    assert "Harbour master Teodor Brankovic closes the Saltmere docks before the storm" in page
    assert 'class="spark"' in page and "Saltmere" in page  # trending entities with a sparkline
    assert 'data-counter="articles enriched">' in page and 'id="lag"' in page
    assert "feeds</th>" in page  # feed health from the poller on the same host
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    result = subprocess.run(
        [browser, *flags, "--window-size=1280,1400", f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_metrics_report_lag_and_dead_letters(run: Run) -> None:
    def lag_reported() -> bytes | None:
        status, body = http_get(f"http://127.0.0.1:{run.worker_port}/metrics")
        return body if status == 200 and b"wirewatch_consumer_lag{" in body else None

    metrics = wait_for("consumer lag in /metrics", lag_reported, 30)
    text = metrics.decode()
    for topic in ("articles", "enriched", "mentions", "alerts"):
        assert f'wirewatch_consumer_lag{{topic="{run.settings.topic(topic)}"}}' in text
    assert 'wirewatch_dead_letters_total{agent="enrich"} 1.0' in text
    status, body = http_get(f"http://127.0.0.1:{run.worker_port}/health")
    assert status == 200 and orjson.loads(body)["stuck"] == []


def test_worker_logs_are_json_lines_with_stable_keys(run: Run) -> None:
    entries = []
    for line in run.worker_log.read_text().splitlines():
        if line.strip():
            entries.append(orjson.loads(line))  # every line is JSON: nothing else is written
    assert entries and all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    alert_lines = [entry for entry in entries if entry.get("alert_id")]
    assert alert_lines and "Teodor Brankovic" in alert_lines[0]["message"]
    dead = [entry for entry in entries if entry.get("agent") == "enrich" and entry["level"] == "error"]
    assert dead and "dead-lettered" in dead[0]["message"]
