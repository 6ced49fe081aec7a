"""A commit never moves past a message still in flight: an agent with concurrency 4, one slow message, SIGKILL.

RELIABILITY.md: "commits never pass an in-flight message: agent with concurrency > 1, one slow message, SIGKILL; the
slow message is processed after restart". The agent is a test-only app (tests/chaos/inflight_app.py) built by
Wirewatch's own app factory on its transport (streams/kafka/transport.py ReliableConsumer), run as a real process on
the real broker. Partition 0 holds the slow message among others; while it sleeps, the other actors handle and ack
every message after it. Partition 1 shows that commits kept running meanwhile: its offset is committed after the
acks past the slow message, so a consumer that counted them would have committed past it by then.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.config import Settings
from streams.kafka.client import read_topic
from tests.conftest import free_port
from tests.e2e.helpers import ROOT, committed_offsets, stack_env, wait_for
from tests.figures import record_figure

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.kafka]

MESSAGES = 20  # on partition 0, offsets 0 to 19
SLOW = 5  # the offset of the slow message
ROW = "commits never pass an in-flight message"


def create_topics(settings: Settings) -> None:
    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(settings.topic("inflight"), 2, 1), NewTopic(settings.topic("inflight-done"), 1, 1)])
        finally:
            await admin.close()

    asyncio.run(go())


def send(settings: Settings, items: list[tuple[int, dict[str, object]]]) -> None:
    """Send ``(partition, value)`` pairs to the inflight topic, in order, each acknowledged."""

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for partition, value in items:
                await producer.send_and_wait(settings.topic("inflight"), orjson.dumps(value), key=str(value["n"]).encode(),
                                             partition=partition)  # fmt: skip
        finally:
            await producer.stop()

    asyncio.run(go())


def handled(settings: Settings) -> list[dict[str, int]]:
    async def collect() -> list[dict[str, int]]:
        return [orjson.loads(value) async for _, value in read_topic(settings, "inflight-done") if value]

    return asyncio.run(collect())


def start_app(env: dict[str, str], run: int, slow_seconds: float, log: Path) -> subprocess.Popen[bytes]:
    env = env | {"INFLIGHT_RUN": str(run), "INFLIGHT_SLOW_SECONDS": str(slow_seconds)}
    return subprocess.Popen([sys.executable, "-m", "tests.chaos.inflight_app"], env=env, cwd=ROOT, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


@pytest.mark.timeout(900)  # waits of up to 180 s and 120 s per run, and the stop
def test_a_commit_never_passes_a_message_in_flight(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = kafka_settings
    create_topics(settings)
    send(settings, [(0, {"n": n, "slow": n == SLOW}) for n in range(MESSAGES)] + [(1, {"n": 100})])
    env = stack_env(settings, {"WIREWATCH_WEB_PORT": str(free_port())})
    group = f"{settings.app_prefix}-inflight"
    p0, p1 = (settings.topic("inflight"), 0), (settings.topic("inflight"), 1)
    log = tmp_path / "inflight.log"

    app = start_app(env, 1, 3600, log)  # the slow message outlasts the run: it is in flight when the kill comes
    try:
        others = {n for n in range(MESSAGES) if n != SLOW} | {100}
        wait_for("every message but the slow one handled", lambda: {h["n"] for h in handled(settings)} >= others, 180, 1.0, [app])
        # the acks past the slow message are in; a commit after them moves partition 1 to its end
        send(settings, [(1, {"n": 101})])
        wait_for("a commit after the acks past the slow message", lambda: committed_offsets(settings, group).get(p1) == 2, 120, 1.0,
                 [app])  # fmt: skip
        before_kill = committed_offsets(settings, group).get(p0)
        os.killpg(app.pid, signal.SIGKILL)
        app.wait()
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()
    first_run = handled(settings)
    assert SLOW not in {h["n"] for h in first_run}, "the slow message must still be in flight at the kill"
    assert before_kill == SLOW, f"partition 0 committed to {before_kill} with offset {SLOW} in flight (every offset before it done)"
    assert committed_offsets(settings, group).get(p0) == SLOW

    app = start_app(env, 2, 0, log)
    try:
        wait_for("partition 0 committed to its end after the restart", lambda: committed_offsets(settings, group).get(p0) == MESSAGES,
                 120, 1.0, [app])  # fmt: skip
    finally:
        app.send_signal(signal.SIGTERM)
        code = app.wait(timeout=60)
    second_run = [h for h in handled(settings) if h["run"] == 2 and h["partition"] == 0]
    assert code == 0
    assert {h["n"] for h in second_run} == set(range(SLOW, MESSAGES)), "from the slow message on, all again; nothing before it"
    record_figure(ROW, "messages after the slow one handled and acked while it was in flight", MESSAGES - SLOW - 1)
    record_figure(ROW, "partition 0 committed at the kill (the slow message's offset)", before_kill or 0)
    record_figure(ROW, "slow message handled after the restart", 1)
    record_figure(ROW, "messages handled again after the restart (from the slow one on)", len(second_run))
