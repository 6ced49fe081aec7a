"""Alert delivery against real loopback servers: webhook retries, 410, Retry-After, dead letters, guard, Slack, SMTP."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

import agents.common as common
import agents.deliver as deliver
from schemas import Alert, Delivered, encode
from streams.config import Settings
from streams.deliver.base import backoff_delay
from streams.deliver.dispatcher import Dispatcher
from streams.deliver.email import EmailDestination, SMTPSettings
from streams.deliver.memory import DELIVERY_MEMORY, DeliveredMark
from streams.deliver.signing import verify_webhook
from streams.deliver.slack import SlackDestination
from streams.deliver.specs import destinations_for, parse_destination
from streams.deliver.webhook import WebhookDestination
from streams.errors import DeliveryFailed, Gone
from streams.http.guard import AddressGuard
from tests.conftest import free_port
from tests.recorder import Recorder

SECRET = "whsec_" + base64.b64encode(b"delivery-test-secret-0123456789").decode()
LOCAL = AddressGuard(["127.0.0.1/32"])
T = datetime(2026, 11, 1, tzinfo=UTC)


def alert(number: int = 1, title: str = "Mayor opens the ferry terminal", **changes: Any) -> Alert:
    return Alert(
        id=f"alert-{number}", rule_id="r1", kind="new_mention", entity_id="e1", entity_name="Marta Kowalczyk", article_id=f"a{number}",
        title=title, url=f"http://news.example/{number}", feed_id="f1", sentence="Marta Kowalczyk opened it.",
        evidence="**Marta Kowalczyk** opened it.", story_id=f"s{number}", fetched=T, detected=T, latency_seconds=0.5,
    ).model_copy(update=changes)  # fmt: skip


@dataclass
class Receiver:
    """A loopback HTTP endpoint answering from a script (then 200), recording every request with its arrival time."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[tuple[float, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((time.monotonic(), {k.lower(): v for k, v in request.headers.items()}, body))
        status, headers = self.script.pop(0) if self.script else (200, {})
        return web.Response(status=status, headers=headers, text="ok")

    @property
    def ids(self) -> list[str]:
        return [headers.get("webhook-id", "") for _, headers, _ in self.requests]


@pytest.fixture
async def receivers() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def make(script: list[tuple[int, dict[str, str]]] | None = None) -> Receiver:
        receiver = Receiver(list(script or []))
        app = web.Application()
        app.router.add_post("/{tail:.*}", receiver.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        receiver.url = f"http://127.0.0.1:{port}/hook"
        return receiver

    yield make
    for runner in runners:
        await runner.cleanup()


def settings(tmp_path: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {"fetch_allow_hosts": ["127.0.0.1/32"], "delivery_base_delay_seconds": 0.01, "data_dir": tmp_path,
                              "webhook_secret": SECRET}  # fmt: skip
    values.update(extra)
    return Settings(**values)


async def test_three_500s_then_200_is_four_attempts_with_one_webhook_id(receivers: Any) -> None:
    receiver = await receivers([(500, {}), (500, {}), (500, {})])
    hook = WebhookDestination(receiver.url, SECRET, LOCAL, base_delay=0.01)
    try:
        assert await hook.send(alert()) == 4
    finally:
        await hook.close()
    assert len(receiver.requests) == 4
    assert set(receiver.ids) == {"alert-1"}
    _, headers, body = receiver.requests[-1]
    assert verify_webhook(SECRET, headers, body)
    assert orjson.loads(body)["id"] == "alert-1"


async def test_410_disables_the_destination(receivers: Any) -> None:
    receiver = await receivers([(410, {})])
    hook = WebhookDestination(receiver.url, SECRET, LOCAL, base_delay=0.01)
    try:
        with pytest.raises(Gone, match="410"):
            await hook.send(alert(1))
        with pytest.raises(Gone, match="disabled"):
            await hook.send(alert(2))
    finally:
        await hook.close()
    assert len(receiver.requests) == 1


async def test_429_retry_after_is_waited_for(receivers: Any) -> None:
    receiver = await receivers([(429, {"Retry-After": "2"})])
    hook = WebhookDestination(receiver.url, SECRET, LOCAL, base_delay=0.01)
    try:
        assert await hook.send(alert()) == 2
    finally:
        await hook.close()
    (first, _, _), (second, _, _) = receiver.requests
    assert second - first >= 2.0  # measured at the receiver


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999])
def test_retry_after_7_is_a_floor_of_the_backoff(jitter: float) -> None:
    assert backoff_delay(1, 0.5, 300, retry_after=7, jitter=jitter) >= 7
    assert backoff_delay(1, 0.5, 300, retry_after=None, jitter=jitter) < 1
    assert backoff_delay(20, 0.5, 300, retry_after=None, jitter=jitter) <= 300


async def test_4xx_is_not_retried(receivers: Any) -> None:
    receiver = await receivers([(400, {})])
    hook = WebhookDestination(receiver.url, SECRET, LOCAL, base_delay=0.01)
    try:
        with pytest.raises(DeliveryFailed, match="HTTP 400"):
            await hook.send(alert())
    finally:
        await hook.close()
    assert len(receiver.requests) == 1


def test_webhook_to_the_metadata_address_is_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"non-public address 169\.254\.169\.254:80 refused"):
        parse_destination("http://169.254.169.254/latest/meta-data/", settings(tmp_path))
    with pytest.raises(ValueError, match=r"non-public address 169\.254\.169\.254:80 refused"):
        parse_destination("slack:http://169.254.169.254/hook", settings(tmp_path))


async def test_hostname_resolving_to_a_private_address_is_refused_at_connect_time(receivers: Any) -> None:
    receiver = await receivers()
    port = receiver.url.split(":")[2].split("/")[0]
    hook = WebhookDestination(f"http://localhost:{port}/hook", SECRET, AddressGuard([]), base_delay=0.01)
    try:
        with pytest.raises(DeliveryFailed, match=r"non-public address 127\.0\.0\.1:\d+ refused"):
            await hook.send(alert())
    finally:
        await hook.close()
    assert receiver.requests == []


async def test_slack_text_is_escaped_and_rate_limited(receivers: Any) -> None:
    receiver = await receivers()
    slack = SlackDestination(receiver.url, LOCAL, min_interval=1.0, base_delay=0.01)
    try:
        for number in range(3):
            await slack.send(alert(number, title="<!channel> Q&A <http://evil.example|click>", evidence="**A** & <b>"))
    finally:
        await slack.close()
    texts = [orjson.loads(body)["text"] for _, _, body in receiver.requests]
    assert len(texts) == 3
    assert "&lt;!channel&gt; Q&amp;A &lt;http://evil.example|click&gt;" in texts[0]
    # the highlight in Slack's own bold, the feed text escaped: no raw ** left
    assert "<!channel>" not in texts[0] and "*A* &amp; &lt;b&gt;" in texts[0] and "**" not in texts[0]
    times = [when for when, _, _ in receiver.requests]
    assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[1:], strict=False))


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


async def test_email_over_smtp_to_a_local_server() -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = SMTPSettings(host="127.0.0.1", port=port, sender="wirewatch@example.org")
        mail = EmailDestination(["desk@example.org", "night@example.org"], smtp, LOCAL, base_delay=0.01)
        assert await mail.send(alert(title="Ferry\r\nBcc: victim@example.org")) == 1
        refused = EmailDestination(["desk@example.org"], smtp, AddressGuard([]), base_delay=0.01)
        with pytest.raises(DeliveryFailed, match=r"non-public address 127\.0\.0\.1:\d+ refused"):
            await refused.send(alert())
    finally:
        controller.stop()
    ((recipients, raw),) = inbox.messages
    assert recipients == ["desk@example.org", "night@example.org"]
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"].strip() == "[wirewatch] new_mention: Marta Kowalczyk - Ferry Bcc: victim@example.org"
    assert message["Bcc"] is None and message["Message-ID"] == "<alert-1@wirewatch>"
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Marta Kowalczyk opened it." in plain and "**" not in plain  # plain text has no bold: no marks as typed
    assert "<b>Marta Kowalczyk</b> opened it." in message.get_body(("html",)).get_content()  # type: ignore[union-attr]


async def test_a_dead_endpoint_does_not_hold_up_the_others(receivers: Any, tmp_path: Path) -> None:
    dead = await receivers([(503, {})] * 1000)
    alive = await receivers()
    lanes = Dispatcher(settings(tmp_path, delivery_attempts=3, delivery_base_delay_seconds=0.2))
    failures: list[str] = []
    done: list[str] = []

    def callbacks(number: int) -> tuple[Any, Any]:
        async def on_done() -> None:
            done.append(f"alert-{number}")

        async def on_failed(spec: str, error: str) -> None:
            failures.append(error)

        return on_done, on_failed

    try:
        for number in range(10):
            await lanes.submit(alert(number), [dead.url, alive.url], *callbacks(number))
        while len(alive.requests) < 10:
            await asyncio.sleep(0.02)
        # every alert reached the healthy endpoint while the dead one is still on its first alerts' retries
        assert len(dead.requests) < 10 and done == []
        await lanes.join()
    finally:
        await lanes.close()
    assert len(dead.requests) == 30 and len(failures) == 10 and len(done) == 10
    assert all("3 attempts failed" in error and "HTTP 503" in error for error in failures)


async def test_updates_are_recorded_but_never_pushed(receivers: Any, tmp_path: Path) -> None:
    hook = await receivers()
    lanes = Dispatcher(settings(tmp_path))
    finished: list[int] = []

    async def on_done() -> None:
        finished.append(1)

    async def on_failed(spec: str, error: str) -> None:
        raise AssertionError(error)

    path = tmp_path / "alerts" / "alerts.jsonl"  # inside the file destination directory (data_dir/alerts)
    try:
        await lanes.submit(alert(1), [hook.url, f"file:{path}"], on_done, on_failed)
        await lanes.submit(alert(1, update=True, source_count=2), [hook.url, f"file:{path}"], on_done, on_failed)
        await lanes.join()
    finally:
        await lanes.close()
    assert hook.ids == ["alert-1"] and len(finished) == 2
    assert [orjson.loads(line)["source_count"] for line in path.read_bytes().splitlines()] == [1, 2]


def test_destinations_per_rule_and_defaults(tmp_path: Path) -> None:
    base = settings(
        tmp_path, alerts_file=tmp_path / "a.jsonl", alert_destinations="https://hooks.example/a mailto:x@example.org,y@example.org"
    )
    assert base.alert_destinations == ["https://hooks.example/a", "mailto:x@example.org,y@example.org"]
    assert destinations_for(alert(), base) == ["console", f"file:{tmp_path / 'a.jsonl'}", *base.alert_destinations]
    own = alert(destinations=["slack:https://hooks.slack.example/T/B/x"])
    assert destinations_for(own, base) == ["console", f"file:{tmp_path / 'a.jsonl'}", "slack:https://hooks.slack.example/T/B/x"]
    with pytest.raises(ValueError, match="expected https://"):
        parse_destination("ftp://x", base)
    with pytest.raises(ValueError, match="WIREWATCH_SMTP_HOST"):
        parse_destination("mailto:x@example.org", base)


async def test_deliver_agent_dead_letters_exhausted_retries_once(receivers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing = await receivers([(500, {})] * 100)
    healthy = await receivers()
    dead_letters = Recorder()
    monkeypatch.setattr(common, "deadletter_topic", dead_letters)
    monkeypatch.setattr(deliver, "delivered_topic", Recorder())
    lanes = Dispatcher(settings(tmp_path, delivery_attempts=3))
    monkeypatch.setattr(deliver, "dispatcher", lanes)
    deliver.book.ready.set()  # no destination disabled (the worker reads wirewatch.destinations first)
    try:
        async with deliver.deliver_alerts.test_context() as agent:
            await agent.put(key="alert-1", value=encode(alert(1, destinations=[failing.url])))
            await agent.put(key="alert-2", value=encode(alert(2, destinations=[healthy.url])))
            await agent.put(key="bad", value=b'{"schema_version": 1}')
            await lanes.join()
    finally:
        await lanes.close()
    assert failing.ids == ["alert-1"] * 3 and healthy.ids == ["alert-2"]
    assert [(key, value["agent"]) for key, value in dead_letters.sent] == [("bad", "deliver_alerts"), ("alert-1", "deliver_alerts")]
    assert "alert alert-1: webhook http://127.0.0.1:" in dead_letters.sent[1][1]["error"]
    assert "3 attempts failed" in dead_letters.sent[1][1]["error"]


async def test_a_replayed_alert_is_not_delivered_again_but_a_new_source_count_is(
    receivers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = await receivers()
    marks = Recorder()
    monkeypatch.setattr(deliver, "delivered_topic", marks)
    lanes = Dispatcher(settings(tmp_path))
    monkeypatch.setattr(deliver, "dispatcher", lanes)
    deliver.book.ready.set()
    deliver.delivered_table.data.clear()
    path = tmp_path / "alerts" / "replay.jsonl"
    first = alert(1, destinations=[hook.url, f"file:{path}"])
    update = alert(1, update=True, source_count=2, destinations=[hook.url, f"file:{path}"])

    async def run(*alerts: Alert) -> None:
        recorded = len(marks.sent)
        async with deliver.deliver_alerts.test_context() as agent:
            for item in alerts:
                await agent.put(key=item.id, value=encode(item))
            await lanes.join()
        async with deliver.record_deliveries.test_context() as recorder:  # what the worker does with wirewatch.delivered
            for key, value in marks.sent[recorded:]:
                await recorder.put(key=key, value=orjson.dumps(value))

    try:
        await run(first)
        assert [(key, value["source_count"]) for key, value in marks.sent] == [("alert-1", 1)]
        await run(first, update)  # a replay of the alert, then its update (one more source): a new delivery
        await run(first, update)  # a replay of both
    finally:
        await lanes.close()
        deliver.delivered_table.data.clear()
    assert hook.ids == ["alert-1"]  # updates are never pushed; the replays pushed nothing
    assert [orjson.loads(line)["source_count"] for line in path.read_bytes().splitlines()] == [1, 2]
    assert [(key, value["source_count"]) for key, value in marks.sent] == [("alert-1", 1), ("alert-1", 2)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [("9" * 400, 300.0), ("Fri, 31 Dec 9999 23:59:59 GMT", 300.0), ("-5", None), ("NaN", None), ("7", 7.0)],
    ids=["400-digits", "year-9999", "negative", "nan", "seven"],
)
async def test_a_hostile_retry_after_is_clamped_to_the_longest_delay(receivers: Any, header: str, expected: float | None) -> None:
    """A 429's Retry-After is a number from outside: at most WIREWATCH_DELIVERY_MAX_DELAY_SECONDS, never inf or NaN."""
    receiver = await receivers([(429, {"Retry-After": header})])
    hook = WebhookDestination(receiver.url, SECRET, LOCAL, base_delay=0.01, max_delay=300.0)
    try:
        outcome = await hook.attempt(alert())
    finally:
        await hook.close()
    assert outcome.status == "retry" and outcome.retry_after == expected
    assert backoff_delay(1, 0.01, 300.0, outcome.retry_after, jitter=0.5) == (expected or 0.01)


async def test_a_sweep_drops_the_marks_older_than_the_memory_on_its_partition() -> None:
    keys = [f"alert-{n}" for n in range(200)]
    mine = [key for key in keys if common.on_partition(key, 0)][:2]
    other = next(key for key in keys if not common.on_partition(key, 0))
    now = datetime.now(tz=UTC)
    old, fresh = now - DELIVERY_MEMORY - timedelta(hours=1), now - timedelta(hours=1)
    deliver.delivered_table.data.clear()
    try:
        for key, at in ((mine[0], old), (mine[1], fresh), (other, old)):
            deliver.delivered_table.data[key] = DeliveredMark(counts=[1], at=at).dumps()
        async with deliver.record_deliveries.test_context() as agent:
            await agent.put(key="~sweep:0", value=encode(Delivered(kind="sweep", at=now)), partition=0)
        # the old mark of partition 0 is gone; the fresh one stays, and so does another partition's (its own sweep drops it)
        assert set(deliver.delivered_table.data) == {mine[1], other}
    finally:
        deliver.delivered_table.data.clear()
