"""Large messages never lose articles: big feed items are cut and published with their neighbours, big values on the
articles topic are stored cut or dead-lettered by reference, a dead letter that cannot be written holds its message,
and a crashed agent turns /health unhealthy (issue 13, hole 1; docs/operators.md "Message sizes")."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import NewTopic

from schemas import encode
from streams.config import Settings
from streams.kafka.admin import admin_client, ensure_topics
from streams.kafka.client import compacted_state
from streams.kafka.sizes import FRAMING_BYTES
from streams.poll.health import feed_state_topic
from streams.poll.state import FeedState
from tests.conftest import free_port
from tests.e2e.helpers import ROOT, FeedServer, cli, stack_env, start, stop, wait_for
from tests.e2e.oversize import SIZES, big_text, committed, produce_at, set_topic_limit, values
from tests.e2e.synthetic import count, invented_article
from tests.e2e.test_ops import health, metric
from tests.figures import record_figure

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

ROW = "large messages never lose articles (issue 13, hole 1)"
MAX_CHARS = 100_000  # WIREWATCH_ARTICLE_MAX_CHARS's default


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed of ``(guid, title, text)`` items."""
    entries = "".join(
        f"<item><title>{title}</title><link>http://127.0.0.1/story/{guid}</link><guid>{guid}</guid><description>{text}</description></item>"
        for guid, title, text in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Sizes</title>{entries}</channel></rss>'.encode()


def normal(guid: str, n: int) -> tuple[str, str, str]:
    return guid, f"Depot {guid} opens in Redmoor", f"Agnes Mwangi opened depot {n} in Redmoor on Monday. Officials welcomed it."


def stored(db: Path) -> dict[str, tuple[str, int]]:
    """title → (text, length) of every stored article."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return {title: (text, len(text)) for title, text in conn.execute("SELECT title, text FROM articles")}
    except sqlite3.OperationalError:
        return {}


@pytest.mark.timeout(1500)  # a wait of up to 900 s for NLP over three 100,000-character articles on a loaded machine
def test_big_feed_items_are_cut_and_published_with_their_neighbours(kafka_settings: Settings, tmp_path: Path) -> None:
    """For each size, a feed with one big item and two normal ones, beside a feed of 30 normal items, through the real
    poller and worker: every item published once and stored, the big ones cut, each feed's state saved, no re-poll."""
    paths = {label: f"/big-{label.split()[0]}.xml" for label in SIZES}
    feeds = {paths[label]: rss([normal(f"{n}-a", 1), (f"{n}-big", f"Long report {label}", big_text(size)), normal(f"{n}-b", 2)])
             for n, (label, size) in enumerate(SIZES.items())}  # fmt: skip
    feeds["/plain.xml"] = rss([normal(f"plain-{i}", i) for i in range(30)])
    expected = 3 * len(SIZES) + 30
    server = FeedServer(feeds)
    worker_port, poller_port = free_port(), free_port()
    env = stack_env(
        kafka_settings,
        {
            "WIREWATCH_WEB_PORT": str(worker_port),
            "WIREWATCH_POLLER_WEB_PORT": str(poller_port),
            "WIREWATCH_POLL_TICK_SECONDS": "0.5",
            "WIREWATCH_PARSE_TIMEOUT_SECONDS": "120",  # a 10 MB feed on a shared two-core machine
        },
    )
    added = cli(env, "feeds", "add", *(server.url(path) for path in feeds), "--no-check")
    assert added.returncode == 0, added.stderr
    poller = start("poller", env, tmp_path / "poller.log")
    worker = start("worker", env, tmp_path / "worker.log")
    processes = [poller, worker]
    db = kafka_settings.sqlite_path
    started = time.monotonic()
    try:
        wait_for(f"{expected} articles stored", lambda: len(stored(db)) == expected, 900, processes=processes)
        took = time.monotonic() - started
        time.sleep(5)  # ten poll ticks more: a feed whose state was not saved would be due again at once
        published = values(kafka_settings, "articles")
        enriched_values = [value for _, value in values(kafka_settings, "enriched")]
        enriched = [orjson.loads(value) for value in enriched_values]
        states = asyncio.run(compacted_state(*feed_state_topic(kafka_settings)))
        worker_health = health(worker_port)
        crashes = metric(worker_port, "wirewatch_agent_crashes_total", '{agent="enrich"}')
        truncated_metric = metric(poller_port, "wirewatch_articles_truncated_total")
    finally:
        codes = [stop(process) for process in processes]
        server.close()
    assert codes == [0, 0], f"exit codes {codes}; logs in {tmp_path}"

    rows = stored(db)
    assert len(rows) == expected  # every valid item stored, none lost, none twice
    assert len(published) == expected and len({key for key, _ in published}) == expected  # each published exactly once
    assert all(len(value) <= 1024 * 1024 for _, value in published)
    records = {record["article"]["title"]: record for record in enriched}
    for label, size in SIZES.items():
        text, length = rows[f"Long report {label}"]
        assert length <= MAX_CHARS and big_text(size).startswith(text) and length > MAX_CHARS - 200
        assert records[f"Long report {label}"]["article"]["truncated"] is True
        assert records[f"Long report {label}"]["entities"]  # enriched, not just stored
        record = records[f"Long report {label}"]
        raw = next(value for value in enriched_values if orjson.loads(value)["article"]["title"] == f"Long report {label}")
        record_figure(ROW, f"poller+worker {label} item: characters stored", length, "chars")
        record_figure(ROW, f"poller+worker {label} item: enriched record", len(raw), "B")
        cut = sum(e["mentions_cut"] for e in record["entities"])
        record_figure(ROW, f"poller+worker {label} item: mentions and events left out", f"{cut} mentions, {record['events_cut']} events")
    assert sum(record["article"]["truncated"] for record in enriched) == len(SIZES)
    assert truncated_metric == len(SIZES)
    # each feed fetched once: its state (validators, recent items, next check) was saved, so it is not due again
    assert server.requests == dict.fromkeys(feeds, 1), server.requests
    polled = [FeedState.loads(raw) for raw in states.values()]
    assert len(polled) == len(feeds)
    for state in polled:
        items = 30 if state.source.url.endswith("/plain.xml") else 3
        assert (state.last_status, state.error_count, len(state.recent), state.items_seen) == ("ok", 0, items, items), state
        assert state.next_check - (state.last_poll or 0) >= 60  # the shortest interval: never the next tick
    assert worker_health[0] == 200 and not crashes
    record_figure(ROW, "poller+worker: valid articles stored of published", f"{len(rows)} of {expected}")
    record_figure(ROW, "poller+worker: feed requests (4 feeds, 5 s of extra ticks)", sum(server.requests.values()))
    record_figure(ROW, "poller+worker: seconds until every article was stored", took, "s")


@pytest.mark.timeout(1500)
def test_big_values_on_the_articles_topic_are_cut_or_dead_lettered_by_reference(kafka_settings: Settings, tmp_path: Path) -> None:
    """A neighbour's producer writes 0.9, 2 and 10 MB articles among 400 valid ones onto an articles topic whose limit
    was raised: the first two are stored cut, the 10 MB one (over the 4 MiB decode limit) is dead-lettered by reference."""
    settings = kafka_settings
    asyncio.run(ensure_topics(settings))
    set_topic_limit(settings, "articles", 16 * 1024 * 1024)
    valid = [invented_article(i, feed="sizes") for i in range(400)]
    big = {label: invented_article(1000 + n, feed="sizes").model_copy(update={"text": big_text(size), "title": f"Long {label}"})
           for n, (label, size) in enumerate(SIZES.items())}  # fmt: skip
    messages = [(a.id.encode(), encode(a)) for a in valid]
    for n, article in enumerate(big.values(), start=1):
        messages.insert(n * 100, (article.id.encode(), encode(article)))
    origins = dict(zip((key.decode() for key, _ in messages), produce_at(settings, "articles", messages), strict=True))
    port = free_port()
    worker = start("worker", stack_env(settings, {"WIREWATCH_WEB_PORT": str(port)}), tmp_path / "worker.log")
    db = settings.sqlite_path
    started = time.monotonic()
    try:
        wait_for("402 articles stored", lambda: count(db, "SELECT count(*) FROM articles") == 402, 900, processes=[worker])
        took = time.monotonic() - started
        wait_for("the articles topic committed to its end", lambda: lag_zero(port, settings), 120, processes=[worker])
        status, body = health(port)
        crashes = metric(port, "wirewatch_agent_crashes_total", '{agent="enrich"}')
    finally:
        assert stop(worker) == 0
    with sqlite3.connect(db) as conn:
        rows = {row[0]: row[1] for row in conn.execute("SELECT id, text FROM articles")}
    assert set(rows) == {a.id for a in valid} | {big["0.9 MB"].id, big["2 MB"].id}  # 0 lost
    for label in ("0.9 MB", "2 MB"):
        text = rows[big[label].id]
        assert len(text) <= MAX_CHARS and big[label].text.startswith(text)
    dead = [orjson.loads(value) for _, value in values(settings, "deadletter")]
    assert len(dead) == 1
    (letter,) = dead
    value = encode(big["10 MB"])
    assert letter["key"] == big["10 MB"].id and letter["agent"] == "enrich" and letter["value_omitted"] is True
    assert (letter["size"], letter["sha256"]) == (len(value), hashlib.sha256(value).hexdigest())
    assert (letter["topic"], letter["partition"], letter["offset"]) == (settings.topic("articles"), *origins[big["10 MB"].id])
    assert "exceeds" in letter["error"] and letter["value_b64"] == ""
    assert status == 200 and "crashed" not in body and not crashes
    record_figure(ROW, "worker: valid articles stored (400 + 0.9 MB and 2 MB cut)", f"{len(rows)} of 402")
    record_figure(ROW, "worker: 10 MB value dead-lettered by reference, dead letter bytes", len(values(settings, "deadletter")[0][1]), "B")
    record_figure(ROW, "worker: seconds until every article was stored", took, "s")


def lag_zero(port: int, settings: Settings) -> bool:
    return metric(port, "wirewatch_consumer_lag", f'{{topic="{settings.topic("articles")}"}}') == 0


@pytest.mark.timeout(900)
def test_a_dead_letter_that_cannot_be_written_holds_its_message(kafka_settings: Settings, tmp_path: Path) -> None:
    """A dead-letter topic that refuses every record: the poison message is never committed (the others go on),
    /health says why; once the topic takes dead letters again, a restarted worker writes it and moves on."""
    settings = kafka_settings
    asyncio.run(ensure_topics(settings))
    set_topic_limit(settings, "deadletter", 100)  # smaller than any dead letter
    articles = [invented_article(i, feed="held") for i in range(20)]
    messages = [(a.id.encode(), encode(a)) for a in articles]
    messages.insert(10, (b"poison", b"{not json"))
    origins = produce_at(settings, "articles", messages, partition=0)
    poison_offset = origins[10][1]
    port = free_port()
    env = stack_env(settings, {"WIREWATCH_WEB_PORT": str(port)})
    group = f"{settings.app_prefix}-worker"
    db = settings.sqlite_path
    worker = start("worker", env, tmp_path / "worker-1.log")
    try:
        status, body = wait_for("/health to turn 503", lambda: (h := health(port))[0] == 503 and h, 180, processes=[worker])
        wait_for("the other 20 articles stored", lambda: count(db, "SELECT count(*) FROM articles") == 20, 180, processes=[worker])
        time.sleep(3)  # three commit intervals
        held_at = committed(settings, group, "articles").get(0)
        held = metric(port, "wirewatch_held_messages_total", '{agent="enrich"}')
    finally:
        assert stop(worker) == 0  # a held message does not hold up the shutdown
    assert "held:enrich" in body["stuck"] and "was not written" in body["held"]["enrich"], body
    assert held_at == poison_offset, f"committed {held_at}, the poison message is at {poison_offset}"  # never passed it
    assert held == 1
    assert values(settings, "deadletter") == []
    assert "dead-lettered" not in (tmp_path / "worker-1.log").read_text()  # no log line claims a dead letter not written

    set_topic_limit(settings, "deadletter", 1024 * 1024 + FRAMING_BYTES)
    worker = start("worker", env, tmp_path / "worker-2.log")
    try:
        wait_for("the dead letter written", lambda: values(settings, "deadletter"), 180, processes=[worker])
        past = lambda: committed(settings, group, "articles").get(0) == len(messages)  # noqa: E731
        wait_for("the commit past the poison", past, 120, processes=[worker])
        after = health(port)[0]
    finally:
        assert stop(worker) == 0
    ((key, value),) = values(settings, "deadletter")
    letter = orjson.loads(value)
    assert key == "poison" and (letter["partition"], letter["offset"]) == (0, poison_offset) and "invalid JSON" in letter["error"]
    assert count(db, "SELECT count(*) FROM articles") == 20 and after == 200
    record_figure(ROW, "dead letter refused: offset held, articles stored around it", f"held at {held_at}, 20 of 20 stored")


CRASHING_APP = """
import faust
from agents.web import register_pages
from streams.config import get_settings
from streams.kafka.apps import create_app
from streams.kafka.health import Health

settings = get_settings()
app = create_app("crashtest", settings)
register_pages(app, Health())
topic = app.topic(settings.topic("crashtest"), key_serializer="utf8", value_serializer="raw")


@app.agent(topic)
async def explode(stream):
    async for value in stream:
        if value == b"boom":
            raise RuntimeError("an exception the agent did not catch")


faust.Worker(app, loglevel="INFO", quiet=True, redirect_stdouts=False, override_logging=False).execute_from_commandline()
"""


@pytest.mark.timeout(600)
def test_a_crashed_agent_turns_health_unhealthy(kafka_settings: Settings, tmp_path: Path) -> None:
    """A real Faust process with the project's app and pages whose agent raises: /health turns 503 and names it."""
    script = tmp_path / "crashing_app.py"
    script.write_text(CRASHING_APP, "utf-8")
    port = free_port()
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(port), "PYTHONPATH": str(ROOT)})
    asyncio.run(ensure_topics(kafka_settings))
    asyncio.run(create_topic(kafka_settings, "crashtest"))
    log = (tmp_path / "crash.log").open("ab")
    process = subprocess.Popen([sys.executable, str(script), "worker"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    try:
        wait_for("the app to serve /health", lambda: health(port)[0] == 200, 180, processes=[process])
        produce_at(kafka_settings, "crashtest", [(b"k", b"fine"), (b"k", b"boom")])
        status, body = wait_for("/health to turn 503", lambda: (h := health(port))[0] == 503 and h, 120, processes=[process])
        crashes = metric(port, "wirewatch_agent_crashes_total", '{agent="explode"}')
        again = health(port)[0]  # Faust's supervisor restarted the agent: the process stays unhealthy until restarted
    finally:
        stop(process)
    assert "crashed:explode" in body["stuck"] and "RuntimeError" in body["crashed"]["explode"], body
    assert crashes == 1 and again == 503


async def create_topic(settings: Settings, suffix: str) -> None:
    async with admin_client(settings) as admin:
        await admin.create_topics([NewTopic(settings.topic(suffix), 1, 1)])
