"""`wirewatch watch add/list` with every rule kind and `wirewatch alerts` / `alerts replay` on the real broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from schemas import Alert
from streams.config import Settings
from streams.deliver.signing import verify_webhook
from streams.kafka.client import publish
from tests.e2e.helpers import WebhookReceiver, cli, stack_env

pytestmark = pytest.mark.kafka

SECRET = "whsec_Y2xpLXJlcGxheS1zZWNyZXQtMDEyMzQ1Njc4OQ=="


def alert(number: int, detected: datetime, **changes: object) -> Alert:
    return Alert(
        id=f"alert-{number}", rule_id="r1", kind="mention", entity_id="e1", entity_name="Marta Kowalczyk", article_id=f"a{number}",
        title=f"Story {number}", url=f"http://news.example/{number}", feed_id="f1", sentence="Marta Kowalczyk spoke.",
        evidence="**Marta Kowalczyk** spoke.", story_id=f"s{number}", fetched=detected, detected=detected, latency_seconds=0.4,
    ).model_copy(update=changes)  # fmt: skip


def test_watch_kinds_and_alerts_listing_and_replay(kafka_settings: Settings) -> None:
    receiver = WebhookReceiver()
    env = stack_env(kafka_settings, {"WIREWATCH_WEBHOOK_SECRET": SECRET})
    try:
        added = cli(env, "watch", "add", "Assault in Mosul", "--kind", "event", "--event-type", "ASSAULT", "--location", "Mosul",
                    "--magnitude", "killed>=10", "--destination", receiver.url)  # fmt: skip
        assert added.returncode == 0, added.stderr
        spike = cli(env, "watch", "add", "Marta Kowalczyk", "--kind", "spike", "--window", "30", "--min-confidence", "0.5",
                    "--digest", "daily")  # fmt: skip
        assert spike.returncode == 0, spike.stderr
        gated = cli(env, "watch", "add", "Marta Kowalczyk", "--kind", "spike", "--min-sources", "2")
        assert gated.returncode == 2 and "min_sources applies to mention" in gated.stderr
        refused = cli(env, "watch", "add", "X", "--destination", "http://169.254.169.254/latest")
        assert refused.returncode == 2 and "non-public address 169.254.169.254" in refused.stderr
        bad = cli(env, "watch", "add", "X", "--kind", "co_mention")
        assert bad.returncode == 2 and "needs the other entity" in bad.stderr

        listed = cli(env, "watch", "list", "--json")
        rules = {rule["kind"]: rule for rule in orjson.loads(listed.stdout)}
        assert set(rules) == {"event", "spike"}
        assert rules["event"]["magnitude_kind"] == "killed" and rules["event"]["magnitude_min"] == 10
        assert rules["event"]["destinations"] == [receiver.url.removesuffix("/hook") + "/***"]  # the path may hold a token
        assert rules["spike"]["spike_window_minutes"] == 30 and rules["spike"]["min_confidence"] == 0.5
        assert rules["spike"]["digest"] == "daily" and rules["event"]["digest"] is None
        table = cli(env, "watch", "list")
        assert table.returncode == 0 and "ASSAULT;" in table.stdout and "killed" in table.stdout  # rich may wrap the column

        now = datetime.now(tz=UTC)
        items = [alert(1, now - timedelta(hours=3)), alert(2, now - timedelta(minutes=30)), alert(3, now - timedelta(minutes=5))]
        items.append(alert(2, now - timedelta(minutes=30), update=True, source_count=3, sources=["a", "b", "c"]))
        asyncio.run(publish(kafka_settings, "alerts", [(item.id, item) for item in items]))

        recent = cli(env, "alerts", "--since", "2h", "--json")
        assert recent.returncode == 0, recent.stderr
        listed_alerts = [(a["id"], a["source_count"], a["update"]) for a in orjson.loads(recent.stdout)]
        assert listed_alerts == [("alert-2", 3, False), ("alert-3", 1, False)]
        table = cli(env, "alerts", "--since", "2h")
        print(table.stdout)
        assert "Marta Kowalczyk spoke." in table.stdout and "5 min ago" in table.stdout  # when, in words
        assert "**" not in table.stdout and max(len(line) for line in table.stdout.splitlines()) <= 80
        wide = cli(env, "alerts", "--since", "2h", "--wide")
        assert "Story 3" in wide.stdout and "sources" in wide.stdout  # --wide shows every column
        listed_rules = cli(env, "watch", "list")
        print(listed_rules.stdout)
        assert max(len(line) for line in listed_rules.stdout.splitlines()) <= 80

        replayed = cli(env, "alerts", "replay", "--since", "2h", "--to", receiver.url)
        assert replayed.returncode == 0, replayed.stderr
        assert "replayed 2 of 2" in replayed.stdout
        assert [headers["webhook-id"] for headers, _ in receiver.received] == ["alert-2", "alert-3"]
        assert all(verify_webhook(SECRET, headers, body) for headers, body in receiver.received)
        assert cli(env, "alerts", "--since", "yesterday").returncode == 2

        # the narrow `watch list` shows 12 characters of each rule id: `watch remove` takes that start
        spike_id = rules["spike"]["id"]
        assert spike_id[:12] in listed_rules.stdout and spike_id not in listed_rules.stdout
        removed = cli(env, "watch", "remove", spike_id[:12])
        assert removed.returncode == 0 and f"removed rule {spike_id}" in removed.stdout
        assert {rule["kind"] for rule in orjson.loads(cli(env, "watch", "list", "--json").stdout)} == {"event"}
    finally:
        receiver.close()
