"""Rules written straight to ``wirewatch.rules`` (past the CLI's checks) are checked by the worker that reads them.

A rule whose destination would make the worker write outside its file destination directory, send e-mail without
SMTP, or post to the metadata address, and a value that is no rule at all, are each dead-lettered with the reason;
the valid rule beside them keeps alerting, and no file outside the directory is ever written. A default webhook
without a signing secret is warned about at start (masked), and a default destination outside the directory stops the
worker with exit 2.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from schemas import Mention, WatchedEntity, WatchRule, encode
from streams import ids
from streams.alert.rulefile import make_rule
from streams.config import Settings
from streams.enrich.gazetteer import watched_entity_id
from streams.kafka.admin import ensure_topics
from streams.kafka.client import read_topic
from tests.conftest import free_port
from tests.e2e.helpers import cli, stack_env, start, stop, wait_for
from tests.figures import record_figure

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
#: the summary row of the figures this file measures
ROW = "file: destinations stay in their directory; rules from the topic are checked"


def produce(settings: Settings, topic: str, items: list[tuple[str, bytes]]) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for key, value in items:
                await producer.send_and_wait(settings.topic(topic), key=key.encode(), value=value)
        finally:
            await producer.stop()

    asyncio.run(go())


def dead_letters(settings: Settings) -> list[dict[str, object]]:
    async def go() -> list[dict[str, object]]:
        return [orjson.loads(value) async for _, value in read_topic(settings, "deadletter") if value]

    return asyncio.run(go())


def mention(rule: WatchRule, number: int) -> Mention:
    now = datetime.now(tz=UTC)
    entity = watched_entity_id(rule.entity)
    article = f"guard-{number}"
    return Mention(
        id=ids.mention_id(entity, article), entity_id=entity, name=rule.entity.name, type="PERSON", watch_ids=[rule.id],
        article_id=article, feed_id="f", url=f"https://guard.example/{number}", title=f"Story {number}",
        sentence=f"{rule.entity.name} spoke.", sentence_start=0, start=0, end=len(rule.entity.name), published=now, fetched=now,
        content_hash=article, sketch=f"{number:016x}",
    )  # fmt: skip


@pytest.mark.timeout(600)  # a worker start, waits of up to 180 + 180 s, the stop
def test_bad_rules_are_dead_lettered_and_the_rest_of_the_rulebook_keeps_working(kafka_settings: Settings, tmp_path: Path) -> None:
    asyncio.run(ensure_topics(kafka_settings))
    alerts_dir = kafka_settings.data_dir / "alerts"
    outside = tmp_path / "outside.jsonl"
    good = make_rule("Marta Kowalczyk", [], "PERSON", kind="mention", destinations=["file:desk.jsonl"])
    bad = {
        "absolute path outside": make_rule("Bad One", [], "PERSON", kind="mention", destinations=[f"file:{outside}"]),
        "dot-dot": make_rule("Bad Two", [], "PERSON", kind="mention", destinations=["file:../../escape.jsonl"]),
        "no SMTP": make_rule("Bad Three", [], "PERSON", kind="mention", destinations=["mailto:desk@example.org"]),
        "metadata address": make_rule("Bad Four", [], "PERSON", kind="mention", destinations=["http://169.254.169.254/latest"]),
        # past make_rule's own check of the query, as anyone who can write the topic could send it
        "bad query": WatchRule(id="bad-query", kind="query", entity=WatchedEntity(name="Bad Five"), query='"Carl Icahn" AND (eBay'),
    }
    # the good rule before and after the bad ones: the rulebook keeps reading past every refusal
    produce(kafka_settings, "rules", [(good.id, encode(good)), *((rule.id, encode(rule)) for rule in bad.values()),
                                      ("junk", b'{"schema_version": 1, "kind": "nope"}')])  # fmt: skip
    # a default webhook without a signing secret: the worker warns at start, with the URL's token masked
    hook = "https://hooks.example.org/in/T0K3N-e2e-41c7"
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(free_port()), "WIREWATCH_WEBHOOK_URL": hook})
    refused = cli({**env, "WIREWATCH_ALERT_DESTINATIONS": f"file:{outside}"}, "worker", timeout=120)
    assert refused.returncode == 2 and "WIREWATCH_ALERT_DESTINATIONS" in refused.stderr and "Traceback" not in refused.stderr
    worker = start("worker", env, tmp_path / "worker.log")
    try:
        letters = wait_for(
            "a dead letter per refused rule",
            lambda: (found := [d for d in dead_letters(kafka_settings) if d["agent"] == "follow_rules"]) and len(found) >= 6 and found,
            180,
            processes=[worker],
        )
        record_figure(ROW, "refused rules dead-lettered (of 6 bad)", len(letters))
        by_key = {letter["key"]: letter for letter in letters}
        assert len(letters) == 6 and set(by_key) == {*(rule.id for rule in bad.values()), "junk"}, letters
        for letter in letters:
            assert letter["topic"] == kafka_settings.topic("rules") and isinstance(letter["offset"], int)
        reasons = {name: str(by_key[rule.id]["error"]) for name, rule in bad.items()}
        assert "outside the file destination directory" in reasons["absolute path outside"]
        assert "outside the file destination directory" in reasons["dot-dot"]
        assert "WIREWATCH_SMTP_HOST" in reasons["no SMTP"]
        assert "169.254.169.254" in reasons["metadata address"]
        assert "expected ')' at column 23" in reasons["bad query"]
        assert "WatchRule" in str(by_key["junk"]["error"])
        # mentions for every rule: only the good one may alert (and write its file); a refused rule writing
        # its file would show here
        produce(kafka_settings, "mentions", [(m.entity_id, encode(m)) for m in (mention(good, 1), *(mention(r, 2) for r in bad.values()))])
        desk = alerts_dir / "desk.jsonl"
        wait_for("the good rule's alert in its file", lambda: desk.exists() and desk.read_bytes().endswith(b"\n"), 180, processes=[worker])
    finally:
        code = stop(worker)
    assert code == 0
    log = (tmp_path / "worker.log").read_text()
    assert "https://hooks.example.org/*** get alerts unsigned" in log and "T0K3N-e2e" not in log
    assert [orjson.loads(line)["rule_id"] for line in desk.read_bytes().splitlines()] == [good.id]
    assert not outside.exists() and not (tmp_path / "escape.jsonl").exists()
    assert sorted(p.name for p in alerts_dir.iterdir()) == ["desk.jsonl"]
    record_figure(ROW, "files written outside the directory", 0)
