"""A split deployment: an NLP-only worker (its own consumer group) and a core worker that runs everything else."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from agents.worker import ROLES
from streams.config import Settings
from tests.conftest import FIXTURES, free_port
from tests.e2e.helpers import FeedServer, WebhookReceiver, cli, http_get, stack_env, start, stop, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


def test_nlp_and_core_roles_together_run_every_agent_once() -> None:
    assert set(ROLES["nlp"]) | set(ROLES["core"]) == set(ROLES["all"])
    assert not set(ROLES["nlp"]) & set(ROLES["core"])


def committed_topics(settings: Settings, group: str) -> set[str]:
    """The topics a consumer group has committed offsets for."""

    async def read() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            return {tp.topic for tp in await admin.list_consumer_group_offsets(group)}
        finally:
            await admin.close()

    return asyncio.run(read())


def stored(path: Path, table: str) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - our own table names
    except sqlite3.OperationalError:
        return 0  # not created yet


@pytest.mark.timeout(900)  # three CLI runs, waits of up to 180 + 60 s, three processes stopped
def test_split_workers_enrich_once_and_alert_once(kafka_settings: Settings, tmp_path: Path) -> None:
    feeds = FeedServer({"/valley.xml": (FIXTURES / "valley-news.xml").read_bytes()})
    hook = WebhookReceiver()
    nlp_port, core_port = free_port(), free_port()
    env = stack_env(
        kafka_settings,
        {"WIREWATCH_POLL_TICK_SECONDS": "0.5", "WIREWATCH_POLLER_WEB_PORT": str(free_port()), "WIREWATCH_WEBHOOK_URL": hook.url},
    )
    assert cli(env, "feeds", "add", feeds.url("/valley.xml")).returncode == 0
    assert cli(env, "watch", "add", "Ingrid Halvorsen", "--type", "PERSON").returncode == 0
    bad = cli(env, "worker", "--role", "everything")
    assert bad.returncode == 2 and "'everything' is not one of 'all', 'nlp', 'core'" in bad.stderr

    processes = [
        start("poller", env, tmp_path / "poller.log"),
        start("worker", {**env, "WIREWATCH_WORKER_ROLE": "nlp", "WIREWATCH_WEB_PORT": str(nlp_port)}, tmp_path / "nlp.log"),
        start("worker", {**env, "WIREWATCH_WORKER_ROLE": "core", "WIREWATCH_WEB_PORT": str(core_port)}, tmp_path / "core.log"),
    ]
    try:
        db = kafka_settings.sqlite_path
        wait_for("2 articles stored by the core worker", lambda: stored(db, "articles") == 2, 180, processes=processes)
        wait_for("the alert at the webhook", lambda: len(hook.received) >= 1, 60, processes=processes)
        _, nlp_metrics = http_get(f"http://127.0.0.1:{nlp_port}/metrics")
        _, core_metrics = http_get(f"http://127.0.0.1:{core_port}/metrics")
    finally:
        codes = [stop(process) for process in processes]
        feeds.close()
        hook.close()
    assert codes == [0, 0, 0], f"exit codes {codes}; logs in {tmp_path}"
    assert len(hook.received) == 1 and stored(kafka_settings.sqlite_path, "alerts") == 1
    # the NLP worker enriched both articles; the core worker raised the alert and, running no enrich agent, does not
    # export the enrich stage's metrics at all (each process exports only its own)
    assert b"wirewatch_articles_enriched_total 2.0" in nlp_metrics
    assert b"wirewatch_articles_enriched_total" not in core_metrics
    assert b'wirewatch_alerts_total{kind="' in core_metrics and b'wirewatch_alerts_total{kind="' not in nlp_metrics
    # two consumer groups: the NLP group reads the articles, the worker group everything downstream of them
    nlp_topics = committed_topics(kafka_settings, f"{kafka_settings.app_prefix}-nlp")
    core_topics = committed_topics(kafka_settings, f"{kafka_settings.app_prefix}-worker")
    assert nlp_topics == {kafka_settings.topic("articles")}
    assert kafka_settings.topic("articles") not in core_topics and kafka_settings.topic("mentions") in core_topics
