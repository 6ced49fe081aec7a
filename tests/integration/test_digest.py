"""Digests and disabled destinations against real loopback servers: one signed webhook, one Slack message, one e-mail."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller

from schemas import Alert, DestinationState
from streams.deliver import digests as digest
from streams.deliver.disabled import DestinationBook
from streams.deliver.dispatcher import Dispatcher
from streams.deliver.email import EmailDestination, SMTPSettings
from streams.deliver.signing import verify_webhook
from streams.deliver.slack import SlackDestination
from streams.deliver.specs import destination_id, parse_destination
from streams.deliver.webhook import WebhookDestination
from streams.text import mask_destination
from tests.conftest import free_port
from tests.integration.test_delivery import LOCAL, SECRET, Inbox, alert, receivers, settings

__all__ = ["receivers"]  # the loopback HTTP fixture, shared with test_delivery

START = datetime(2026, 11, 1, 0, tzinfo=UTC)  # the hour of test_delivery.alert()


def summary(*alerts: Alert, max_alerts: int = 100) -> Any:
    pending: digest.PendingDigest | None = None
    for item in alerts:
        pending, _ = digest.collect(pending, digest.item_for("https://hooks.example/d", item, "hourly"), max_alerts)
    assert pending is not None
    return digest.build_digest(pending)


async def test_a_webhook_digest_is_one_signed_request_with_the_digest_id(receivers: Any) -> None:
    receiver = await receivers()
    hook = WebhookDestination(receiver.url, SECRET, LOCAL, base_delay=0.01)
    sent = summary(alert(1), alert(2), alert(3))
    try:
        assert await hook.send_digest(sent) == 1
    finally:
        await hook.close()
    ((_, headers, body),) = receiver.requests
    assert headers["webhook-id"] == digest.digest_id("https://hooks.example/d", "hourly", START) == sent.id
    assert verify_webhook(SECRET, headers, body)
    payload = orjson.loads(body)
    assert payload["type"] == "digest" and payload["count"] == 3 and payload["period"] == "hourly"
    assert [a["id"] for a in payload["alerts"]] == ["alert-1", "alert-2", "alert-3"]
    assert payload["period_start"].startswith("2026-11-01T00:00:00") and payload["period_end"].startswith("2026-11-01T01:00:00")


async def test_a_slack_digest_is_one_escaped_message(receivers: Any) -> None:
    receiver = await receivers()
    slack = SlackDestination(receiver.url, LOCAL, base_delay=0.01)
    try:
        await slack.send_digest(summary(alert(1, title="<!channel> Q&A"), alert(2), alert(3), max_alerts=2))
    finally:
        await slack.close()
    ((_, _, body),) = receiver.requests
    text = orjson.loads(body)["text"]
    assert text.startswith("*Wirewatch hourly digest*: 3 alerts, 2026-11-01 00:00-01:00 UTC")
    assert "<!channel>" not in text and "&lt;!channel&gt; Q&amp;A" in text
    assert text.count("\n• ") == 2 and text.endswith("… and 1 more (wirewatch alerts)")


async def test_an_email_digest_is_one_message() -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    sent = summary(alert(1), alert(2))
    try:
        mail = EmailDestination(["desk@example.org"], SMTPSettings(host="127.0.0.1", port=port, sender="ww@example.org"), LOCAL)
        assert await mail.send_digest(sent) == 1
    finally:
        controller.stop()
    ((recipients, raw),) = inbox.messages
    message = message_from_bytes(raw, policy=policy.default)
    assert recipients == ["desk@example.org"]
    assert message["Subject"] == "[wirewatch] hourly digest: 2 alerts, 2026-11-01 00:00-01:00 UTC"
    assert message["Message-ID"] == f"<{sent.id}@wirewatch>"
    body = message.get_body().get_content()  # type: ignore[union-attr]
    assert "http://news.example/1" in body and "http://news.example/2" in body


async def test_digest_alerts_are_collected_not_pushed_and_410_is_recorded_once(receivers: Any, tmp_path: Path) -> None:
    gone = await receivers([(410, {})])
    hook = await receivers()
    book = DestinationBook(settings(tmp_path))
    collected: list[tuple[str, str, str]] = []
    recorded: list[DestinationState] = []
    failures: list[str] = []
    finished: list[int] = []

    async def collect(spec: str, item: Alert, period: str) -> None:
        collected.append((spec, item.id, period))

    async def on_gone(state: DestinationState) -> None:
        recorded.append(state)

    async def on_done() -> None:
        finished.append(1)

    async def on_failed(spec: str, error: str) -> None:
        failures.append(error)

    path = tmp_path / "alerts" / "alerts.jsonl"  # inside the file destination directory (data_dir/alerts)
    lanes = Dispatcher(settings(tmp_path), book=book, on_gone=on_gone, collect=collect)
    try:
        await lanes.submit(alert(1, digest="daily"), [hook.url, f"file:{path}", "console"], on_done, on_failed)
        await lanes.submit(alert(5), [f"digest:hourly:{hook.url}"], on_done, on_failed)  # a digest destination
        for number in (2, 3, 4):
            await lanes.submit(alert(number), [gone.url], on_done, on_failed)
        await lanes.join()
    finally:
        await lanes.close()
    assert (
        collected == [(hook.url, "alert-1", "daily"), (f"digest:hourly:{hook.url}", "alert-5", "hourly")] and hook.requests == []
    )  # in its digest; the file and console still get it
    assert len(path.read_bytes().splitlines()) == 1
    assert len(gone.requests) == 1  # alerts 3 and 4 never reach a destination that answered 410
    ((state,),) = [recorded]
    assert state.id == destination_id(gone.url) and state.disabled and "410" in state.reason
    assert book.is_disabled(gone.url) and len(failures) == 3 and len(finished) == 5
    book.apply(state.id, None)  # a tombstone (wirewatch destinations enable) re-enables it
    assert not book.is_disabled(gone.url)


def test_digest_destination_specs(tmp_path: Path) -> None:
    base = settings(tmp_path)
    daily = parse_destination("digest:daily:https://hooks.example.org/secret-token", base)
    assert isinstance(daily, WebhookDestination) and daily.digest_period == "daily"
    assert parse_destination("https://hooks.example.org/x", base).digest_period is None
    assert mask_destination("digest:daily:https://hooks.example.org/secret-token") == "digest:daily:https://hooks.example.org/***"
    with pytest.raises(ValueError, match="only webhook, Slack and e-mail destinations take digests"):
        parse_destination("digest:hourly:console", base)
