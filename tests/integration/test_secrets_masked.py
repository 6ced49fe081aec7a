"""Destination tokens never print: `wirewatch config`, `watch list`, `destinations`, task names, logs and dead letters.

Webhook and Slack URLs carry their tokens in the path and query, the database URL its password; each place that
prints them masks them with the one function, ``streams.text.mask_url``. Webhooks without a signing secret warn.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

import agents.common as common
import agents.deliver as deliver
from schemas import encode
from streams.config import Settings
from streams.deliver.dispatcher import Dispatcher
from tests.e2e.helpers import cli, stack_env
from tests.figures import record_figure
from tests.integration.test_delivery import alert, receivers  # noqa: F401 - the fixture
from tests.recorder import Recorder

TOKENS = ("T0K3N-SLACK-9f2c", "T0K3N-HOOK-77aa", "SIG-5be1", "PGPASS-31d0")
SLACK = f"https://hooks.slack.com/services/T000/B000/{TOKENS[0]}"
HOOK = f"https://hooks.example.org/in/{TOKENS[1]}?sig={TOKENS[2]}"
DATABASE = f"postgresql://wirewatch:{TOKENS[3]}@db.example.org:5432/wirewatch"


def assert_no_token(*texts: str) -> None:
    for text in texts:
        for token in TOKENS:
            assert token not in text, f"{token} printed in:\n{text}"
    record_figure("destination tokens never print; unsigned webhooks warn", "outputs read without a token in them", len(texts))


def test_config_masks_every_secret_and_warns_about_unsigned_webhooks(tmp_path: Path) -> None:
    env = stack_env(
        Settings(data_dir=tmp_path, sqlite_path=tmp_path / "w.db"),
        {"WIREWATCH_WEBHOOK_URL": HOOK, "WIREWATCH_ALERT_DESTINATIONS": f"slack:{SLACK} digest:daily:{HOOK}",
         "WIREWATCH_DATABASE_URL": DATABASE, "COLUMNS": "400"},
    )  # fmt: skip
    table = cli(env, "config")
    as_json = cli(env, "config", "--json")
    assert table.returncode == 0 and as_json.returncode == 0, table.stderr + as_json.stderr
    assert_no_token(table.stdout, table.stderr, as_json.stdout, as_json.stderr)
    values = orjson.loads(as_json.stdout)
    assert values["webhook_url"] == "https://hooks.example.org/***"
    assert values["alert_destinations"] == ["slack:https://hooks.slack.com/***", "digest:daily:https://hooks.example.org/***"]
    assert values["database_url"] == "postgresql://wirewatch:***@db.example.org:5432/wirewatch"
    assert "https://hooks.example.org/***" in table.stdout
    for output in (table.stderr, as_json.stderr):
        assert "warning:" in output and "unsigned" in output and "WIREWATCH_WEBHOOK_SECRET" in output
    signed = cli({**env, "WIREWATCH_WEBHOOK_SECRET": "whsec_c2lnbmVkLXNlY3JldC0wMTIzNDU2Nzg5"}, "config", "--json")
    assert signed.returncode == 0 and "unsigned" not in signed.stderr
    assert orjson.loads(signed.stdout)["webhook_secret"] == "**********"


@pytest.mark.kafka
def test_watch_list_and_destinations_mask_tokens(kafka_settings: Settings) -> None:
    env = {**stack_env(kafka_settings, {}), "COLUMNS": "400"}
    added = cli(env, "watch", "add", "Marta Kowalczyk", "--destination", f"slack:{SLACK}", "--destination", HOOK)
    assert added.returncode == 0, added.stderr
    outputs = [cli(env, *args) for args in (("watch", "list"), ("watch", "list", "--json"), ("destinations",), ("destinations", "--json"))]
    for result in outputs:
        assert result.returncode == 0, result.stderr
    assert_no_token(*(result.stdout + result.stderr for result in outputs))
    (rule,) = orjson.loads(outputs[1].stdout)
    assert rule["destinations"] == ["slack:https://hooks.slack.com/***", "https://hooks.example.org/***"]
    listed = {row["destination"] for row in orjson.loads(outputs[3].stdout)}
    assert listed == {"slack:https://hooks.slack.com/***", "https://hooks.example.org/***"}
    assert "slack:https://hooks.slack.com/***" in outputs[0].stdout


async def test_task_names_logs_and_dead_letters_mask_the_token(
    receivers: Any,  # noqa: F811 - the fixture
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = await receivers([(500, {})] * 10)
    spec = f"{failing.url}/{TOKENS[1]}?sig={TOKENS[2]}"
    dead_letters = Recorder()
    monkeypatch.setattr(common, "deadletter_topic", dead_letters)
    # no WIREWATCH_WEBHOOK_SECRET: the lane warns when it first meets the rule's webhook
    unsigned = Settings(fetch_allow_hosts=["127.0.0.1/32"], delivery_attempts=2, delivery_base_delay_seconds=0.01, data_dir=tmp_path)
    lanes = Dispatcher(unsigned)
    monkeypatch.setattr(deliver, "dispatcher", lanes)
    deliver.book.ready.set()
    caplog.set_level(logging.INFO)
    try:
        async with deliver.deliver_alerts.test_context() as agent:
            await agent.put(key="alert-1", value=encode(alert(1, destinations=[spec])))
            task_names = [task.get_name() for task in asyncio.all_tasks()]
            await lanes.join()
    finally:
        await lanes.close()
    assert len(failing.requests) == 2, "the token must still reach the endpoint itself"
    assert failing.requests[0][1].get("webhook-signature") is None
    # the body names the rule's destinations, this one included: masked, so no receiver learns another's token
    bodies = [body.decode() for _, _, body in failing.requests]
    assert orjson.loads(bodies[0])["destinations"] == [failing.url.removesuffix("/hook") + "/***"]
    lane_names = [name for name in task_names if name.startswith("deliver ")]
    assert lane_names and all(name.endswith("/***") for name in lane_names if "127.0.0.1" in name), lane_names
    errors = [value["error"] for _, value in dead_letters.sent]
    assert len(errors) == 1 and "http://127.0.0.1:" in errors[0] and "/***" in errors[0], errors
    assert any("unsigned" in record.getMessage() and "/***" in record.getMessage() for record in caplog.records)
    assert_no_token(*task_names, *errors, *bodies, *(record.getMessage() for record in caplog.records))
