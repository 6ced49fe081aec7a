"""RELIABILITY.md's poison row at its figure: 1 % bad messages among valid articles, every bad one dead-lettered once
with its origin and error, every valid one stored, no agent crash.

WIREWATCH_POISON_MESSAGES messages in all (2,000 by default, to keep CI within minutes on a shared two-core machine;
10000 for the row's figure: 5 min 37 s on the development machine). One of the bad messages is a 10 MB value, dead-lettered by
reference; the others are invalid JSON, wrong types, NUL characters inside valid JSON strings and an unknown
schema_version, in turn.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from pathlib import Path

import orjson
import pytest

from schemas import encode
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from tests.chaos.test_worker_kills import caught_up
from tests.conftest import free_port
from tests.e2e.helpers import stack_env, start, stop, wait_for
from tests.e2e.oversize import FOREIGN_LIMIT, big_text, produce_at, set_topic_limit, values
from tests.e2e.synthetic import count, invented_article
from tests.e2e.test_ops import health, metric
from tests.figures import record_figure

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.kafka]

TOTAL = int(os.environ.get("WIREWATCH_POISON_MESSAGES", "2000"))
ROW = "a poison message never stops a stream (RELIABILITY.md)"


def poison(kind: str, n: int) -> bytes:
    """A bad message of ``kind``; all but invalid JSON look like articles at first sight."""
    article = orjson.loads(encode(invented_article(100_000 + n, feed="poison")))
    if kind == "invalid-json":
        return encode(invented_article(n, feed="poison"))[:-7]  # cut off: an unterminated object
    if kind == "wrong-types":
        return orjson.dumps(article | {"title": 42, "revision": "second"})
    if kind == "nul-in-string":
        return orjson.dumps(article | {"title": "Depot\u0000opens"})  # valid JSON: "\u0000" inside a string
    if kind == "unknown-version":
        return orjson.dumps(article | {"schema_version": 7})
    if kind == "10-MB-value":
        return orjson.dumps(article | {"text": big_text(10_000_000)})  # over the 4 MiB any record may be
    raise ValueError(kind)


KINDS = ("invalid-json", "wrong-types", "nul-in-string", "unknown-version")


@pytest.mark.timeout(3600)
def test_one_percent_poison_is_dead_lettered_exactly_and_every_valid_article_stored(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = kafka_settings
    bad = max(len(KINDS) + 1, TOTAL // 100)
    valid = [invented_article(i, feed="poison") for i in range(TOTAL - bad)]
    kinds = ["10-MB-value"] + [KINDS[i % len(KINDS)] for i in range(bad - 1)]
    bad_messages = [(f"poison-{kind}-{n}".encode(), poison(kind, n)) for n, kind in enumerate(kinds)]
    messages = [(a.id.encode(), encode(a)) for a in valid]
    step = len(messages) // (bad + 1)
    for n, message in enumerate(bad_messages, start=1):
        messages.insert(n * step + n - 1, message)
    asyncio.run(ensure_topics(settings))
    set_topic_limit(settings, "articles", FOREIGN_LIMIT)  # a neighbour's tooling let a 10 MB value through
    origins = dict(zip((key for key, _ in messages), produce_at(settings, "articles", messages), strict=True))
    port = free_port()
    env = stack_env(settings, {"WIREWATCH_WEB_PORT": str(port), "WIREWATCH_SINK_BATCH_SIZE": "100"})
    log = tmp_path / "worker.log"
    worker = start("worker", env, log)
    db = settings.sqlite_path
    started = time.monotonic()
    try:
        rows = lambda: count(db, "SELECT count(*) FROM articles")  # noqa: E731
        wait_for(f"{len(valid)} articles stored", lambda: rows() >= len(valid), 1800, processes=[worker])
        took = time.monotonic() - started
        wait_for("the worker to catch up", lambda: caught_up(port, settings) or None, 180, processes=[worker])
        status, body = health(port)
        crashes = [metric(port, "wirewatch_agent_crashes_total", f'{{agent="{agent}"}}') for agent in ("enrich", "store_enriched")]
    finally:
        assert stop(worker) == 0
    stored = count(db, "SELECT count(*) FROM articles")
    dead = [orjson.loads(value) for _, value in values(settings, "deadletter")]
    assert stored == len(valid)  # sink rows = valid count
    assert len(dead) == bad  # dead letters = invalid count, exactly (none twice, none missing)
    by_key = {letter["key"]: letter for letter in dead}
    assert set(by_key) == {key.decode() for key, _ in bad_messages}
    for key, value in bad_messages:
        letter = by_key[key.decode()]
        assert (letter["topic"], letter["partition"], letter["offset"]) == (settings.topic("articles"), *origins[key])
        assert letter["agent"] == "enrich" and letter["error"] and letter["size"] == len(value)
        if letter["value_omitted"]:
            assert key.startswith(b"poison-10-MB-value") and "exceeds" in letter["error"]
        else:
            assert base64.b64decode(letter["value_b64"]) == value
    assert sum(letter["value_omitted"] for letter in dead) == 1
    assert status == 200 and "crashed" not in body and crashes == [None, None]  # 0 agent crashes
    assert "crashed" not in log.read_text()
    record_figure(ROW, "messages (valid + bad)", f"{len(valid)} + {bad}")
    record_figure(ROW, "sink rows = valid count", f"{stored} = {len(valid)}")
    record_figure(ROW, "dead letters = bad count", f"{len(dead)} = {bad} (the 10 MB value by reference)")
    record_figure(ROW, "agent crashes", 0)
    record_figure(ROW, "seconds until every valid article was stored", took, "s")
