"""Real worker processes, restarted: a 410 destination stays disabled, and a pending digest is sent once, after restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from schemas import Alert, encode
from streams.config import Settings
from streams.deliver import digests as digest
from streams.deliver.signing import verify_webhook
from streams.deliver.specs import destination_id
from streams.kafka.admin import ensure_topics
from streams.kafka.catalogue import changelog_topic
from streams.kafka.client import read_topic
from tests.conftest import free_port
from tests.e2e.helpers import WebhookReceiver, cli, committed_to_end, stack_env, start, stop, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

SECRET = "e2e-digest-secret"


def an_alert(number: int, detected: datetime, **changes: Any) -> Alert:
    return Alert(
        id=f"e2e-alert-{number}", rule_id="r", kind="mention", entity_id="e", entity_name="Velmar Harbour Board", article_id=f"a{number}",
        title=f"Harbour story {number}", url=f"https://news.example/{number}", feed_id="f", sentence="s", evidence="e",
        story_id=f"s{number}", fetched=detected, detected=detected, latency_seconds=0.1,
    ).model_copy(update=changes)  # fmt: skip


def produce(settings: Settings, alerts: list[Alert]) -> None:
    async def go() -> None:
        await ensure_topics(settings)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for item in alerts:
                await producer.send_and_wait(settings.topic("alerts"), key=item.id.encode(), value=encode(item))
        finally:
            await producer.stop()

    asyncio.run(go())


def values(settings: Settings, topic: str) -> list[tuple[str | None, bytes | None]]:
    async def collect() -> list[tuple[str | None, bytes | None]]:
        return [item async for item in read_topic(settings, topic)]

    return asyncio.run(collect())


@pytest.mark.timeout(1200)  # waits of up to 180, 180 and 120 s, two CLI runs of up to 120 s, the stops
def test_a_410_destination_stays_disabled_across_a_restart_until_re_enabled(kafka_settings: Settings, tmp_path: Path) -> None:
    hook = WebhookReceiver(status=410)
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(free_port()), "WIREWATCH_WEBHOOK_URL": hook.url})
    log = tmp_path / "worker.log"
    now = datetime.now(tz=UTC)
    produce(kafka_settings, [an_alert(1, now)])
    worker = start("worker", env, log)
    try:
        wait_for("the 410 recorded", lambda: [v for _, v in values(kafka_settings, "destinations") if v], 180, 0.5, [worker])
        assert stop(worker) == 0
        worker = start("worker", env, log)
        produce(kafka_settings, [an_alert(2, now), an_alert(3, now)])
        wait_for(
            "alerts 2 and 3 dead-lettered as disabled",
            lambda: sum(b"e2e-alert-2" in v or b"e2e-alert-3" in v for _, v in values(kafka_settings, "deadletter") if v) == 2,
            180, 0.5, [worker],
        )  # fmt: skip
        assert hook.ids == ["e2e-alert-1"]  # the restarted worker never called it again

        listing = cli(env, "destinations", "--json")
        assert listing.returncode == 0, listing.stderr
        (row,) = [row for row in orjson.loads(listing.stdout) if row["disabled"]]
        assert row["id"] == destination_id(hook.url) and "410" in row["reason"]
        hook.status = 204
        enabled = cli(env, "destinations", "enable", row["id"])
        assert enabled.returncode == 0, enabled.stderr
        produce(kafka_settings, [an_alert(4, now)])
        wait_for("alert 4 at the re-enabled webhook", lambda: "e2e-alert-4" in hook.ids, 120, 0.2, [worker])
    finally:
        code = stop(worker)
        hook.close()
    assert code == 0, f"worker exit code {code}; log in {log}"
    assert hook.ids == ["e2e-alert-1", "e2e-alert-4"]
    dead = [orjson.loads(v)["error"] for _, v in values(kafka_settings, "deadletter") if v]
    assert len(dead) == 3 and all("410" in error for error in dead)  # alert 1 (the 410 itself), 2 and 3 (disabled)


def pending_counts(settings: Settings) -> dict[str, int]:
    """The digest table as its changelog holds it: key → alerts counted (sent digests count -1)."""
    raw = settings.model_copy(update={"topic_prefix": ""})
    state: dict[str, int] = {}
    for key, value in values(raw, changelog_topic(settings, "worker", "digest-pending")):
        if key is not None and value is not None:
            pending = digest.PendingDigest.loads(value)
            state[orjson.loads(key)] = -1 if pending.sent else pending.count  # Faust writes table keys as JSON strings
    return state


@pytest.mark.timeout(1200)  # four waits of up to 180 s, one of 120 s, three workers started and stopped
def test_a_pending_digest_survives_a_restart_and_is_sent_once(kafka_settings: Settings, tmp_path: Path) -> None:
    hook = WebhookReceiver()
    base = {"WIREWATCH_WEB_PORT": str(free_port()), "WIREWATCH_WEBHOOK_URL": hook.url, "WIREWATCH_WEBHOOK_SECRET": SECRET,
            "WIREWATCH_DIGEST_CHECK_SECONDS": "1"}  # fmt: skip
    log = tmp_path / "worker.log"
    hour = digest.period_start(datetime.now(tz=UTC), "hourly")
    four_ago, three_ago = hour - timedelta(hours=4), hour - timedelta(hours=3)
    two_ago, one_ago = hour - timedelta(hours=2), hour - timedelta(hours=1)
    alerts = [an_alert(n, three_ago + timedelta(minutes=n), digest="hourly") for n in (1, 2, 3)]
    alerts += [an_alert(4, two_ago + timedelta(minutes=5), digest="hourly"), an_alert(5, datetime.now(tz=UTC), digest="daily")]
    produce(kafka_settings, alerts)
    expected_keys = {digest.digest_key(hook.url, "hourly", three_ago): 3, digest.digest_key(hook.url, "hourly", two_ago): 1,
                     digest.digest_key(hook.url, "daily", digest.period_start(datetime.now(tz=UTC), "daily")): 1}  # fmt: skip

    # run 1: a grace of a week, so nothing is due; the alerts only collect in the table
    worker = start("worker", stack_env(kafka_settings, {**base, "WIREWATCH_DIGEST_GRACE_SECONDS": "604800"}), log)
    try:
        wait_for("five alerts in three pending digests", lambda: pending_counts(kafka_settings) == expected_keys, 180, 0.5, [worker])
        assert hook.received == []  # digest alerts are never pushed one by one
    finally:
        assert stop(worker) == 0, f"log in {log}"

    # run 2: the pending digests come back from the changelog; the two whose hour is over are sent
    env = stack_env(kafka_settings, {**base, "WIREWATCH_DIGEST_GRACE_SECONDS": "0"})
    worker = start("worker", env, log)
    try:
        wait_for("two digests", lambda: len(hook.received) >= 2, 180, 0.2, [worker])
    finally:
        assert stop(worker) == 0, f"log in {log}"

    # run 3: a new alert for the last hour; sent digests are not sent again
    produce(kafka_settings, [an_alert(6, one_ago + timedelta(minutes=1), digest="hourly")])
    worker = start("worker", env, log)
    try:
        wait_for("the third digest", lambda: len(hook.received) >= 3, 180, 0.2, [worker])
        # anything else would be a second send. The positive signal that none is coming: a marker alert, produced only
        # now, for a fourth hour, whose digest a later check requests and sends; then every flush request made up to
        # that check (any second request for a digest already sent among them) has been handled
        produce(kafka_settings, [an_alert(7, four_ago + timedelta(minutes=1), digest="hourly")])
        wait_for("the marker's digest", lambda: len(hook.received) >= 4, 180, 0.2, [worker])
        group = f"{kafka_settings.app_prefix}-worker"
        wait_for("every flush request handled", lambda: committed_to_end(kafka_settings, group, "digests"), 120, 1.0, [worker])
    finally:
        code = stop(worker)
        hook.close()
    assert code == 0, f"log in {log}"
    # run 2's two digests are requested together and their keys sit on different partitions: either may go first
    expected = {digest.digest_id(hook.url, "hourly", start): start for start in (three_ago, two_ago, one_ago, four_ago)}
    assert sorted(hook.ids[:2]) == sorted(list(expected)[:2]) and hook.ids[2:] == list(expected)[2:]
    bodies = {hook_id: orjson.loads(body) for hook_id, (_, body) in zip(hook.ids, hook.received, strict=True)}
    assert [sorted(a["id"] for a in bodies[hook_id]["alerts"]) for hook_id in expected] == [
        ["e2e-alert-1", "e2e-alert-2", "e2e-alert-3"], ["e2e-alert-4"], ["e2e-alert-6"], ["e2e-alert-7"]
    ]  # fmt: skip
    assert [bodies[hook_id]["count"] for hook_id in expected] == [3, 1, 1, 1]
    assert all(verify_webhook(SECRET, headers, body) for headers, body in hook.received)
    assert pending_counts(kafka_settings)[digest.digest_key(hook.url, "hourly", three_ago)] == -1  # marked sent in the table
