"""The Google-Alerts-style digest, end to end: a query rule with ``--digest daily --destination mailto:`` and a plain
query rule to a webhook, loopback feeds of three outlets carrying two matching stories and articles that do not match,
the real poller and worker on the real broker, and a loopback SMTP server (aiosmtpd) receiving exactly one e-mail."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller

from streams.config import Settings
from streams.deliver.email import evidence_html
from tests.conftest import free_port
from tests.e2e.helpers import FeedServer, WebhookReceiver, cli, rss_feed, stack_env, start, stop, wait_for
from tests.e2e.test_digest_and_gone import pending_counts
from tests.e2e.test_pipeline import sqlite_rows, topic_values

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

QUERY = '("Saltmere docks" OR "Velmar harbour") AND (storm OR flood*) -football'
WEBHOOK_QUERY = '"Velmar harbour" AND flood*'
MAILBOX = "mailto:desk@example.org"

# Invented articles: (outlet, slug, title, text, matches QUERY). Story one: the Saltmere docks closed before a storm
# (three outlets); story two: the Velmar harbour flooded (two outlets); a football article and a council article
# that must not match.
ARTICLES = [
    (0, "saltmere-docks", "Harbour master Teodor Brankovic closes Saltmere docks as storm nears",
     "Harbour master Teodor Brankovic closed the Saltmere docks on Friday as the storm approached the coast. "
     "Fishing boats were moved to the inner basin.", True),
    (1, "saltmere-docks", "Saltmere docks shut by Brankovic ahead of the storm",
     "The Saltmere docks were shut on Friday by harbour master Teodor Brankovic, who said the storm would reach the coast "
     "by night. Boats moved to the inner basin.", True),
    (2, "saltmere-docks", "Storm: Brankovic orders the Saltmere docks closed",
     "Teodor Brankovic, the Saltmere harbour master, ordered the Saltmere docks closed before the storm reached the coast "
     "on Friday; fishing boats went to the inner basin.", True),
    (0, "velmar-flood", "Velmar harbour flooded after the river Dunsk burst its banks",
     "The Velmar harbour flooded overnight when the river Dunsk burst its banks; warehouses on the quay were evacuated "
     "and the ferry to Ostrel was cancelled.", True),
    (1, "velmar-flood", "River Dunsk floods Velmar harbour, quay warehouses evacuated",
     "Warehouses on the quay were evacuated as the river Dunsk flooded the Velmar harbour overnight; the Ostrel ferry "
     "was cancelled.", True),
    (2, "football-storm", "Saltmere football final postponed as storm closes the docks",
     "The football final at Saltmere was postponed because the storm closed the Saltmere docks and the stadium roads.", False),
    (1, "council-budget", "Ostrel council approves the library budget",
     "The Ostrel council approved next year's library budget after a short debate on opening hours.", False),
]  # fmt: skip


def feed(outlet: int, now: datetime) -> bytes:
    host = f"outlet{outlet}.example"
    items = "".join(
        f'<item><title>{escape(title)}</title><link>http://{host}/2026/{slug}</link><guid isPermaLink="false">{host}-{slug}</guid>'
        f"<pubDate>{format_datetime(now - timedelta(minutes=30 - number))}</pubDate><description>{escape(text)}</description></item>"
        for number, (where, slug, title, text, _) in enumerate(ARTICLES)
        if where == outlet
    )
    return rss_feed(f"{host} (Wirewatch digest fixture)", items)


class Inbox:
    """aiosmtpd's DATA hook: every message received, whole."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


def parts(raw: bytes) -> tuple[str, str]:
    """The plain and the HTML part of an e-mail."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return str(plain.get_content()), str(html.get_content())


def rule_ids(env: dict[str, str]) -> dict[str, str]:
    listed = cli(env, "watch", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {rule["query"]: rule["id"] for rule in orjson.loads(listed.stdout) if rule.get("query")}


@pytest.mark.timeout(1200)  # waits of up to 300 + 180 + 3 x 120 s, two processes stopped
def test_a_query_rule_digest_sends_one_email_and_a_query_rule_alerts_a_webhook(kafka_settings: Settings, tmp_path: Path) -> None:
    now = datetime.now(tz=UTC).replace(microsecond=0)
    feeds = FeedServer({f"/outlet{n}.xml": feed(n, now) for n in range(3)})
    hook = WebhookReceiver()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = stack_env(kafka_settings, {
        "WIREWATCH_POLL_TICK_SECONDS": "0.5", "WIREWATCH_POLL_MIN_INTERVAL_SECONDS": "1", "WIREWATCH_POLL_INTERVAL_SECONDS": "2",
        "WIREWATCH_POLL_MAX_INTERVAL_SECONDS": "3", "WIREWATCH_WEB_PORT": str(free_port()), "WIREWATCH_POLLER_WEB_PORT": str(free_port()),
        "WIREWATCH_SMTP_HOST": "127.0.0.1", "WIREWATCH_SMTP_PORT": str(smtp.port), "WIREWATCH_SMTP_FROM": "wirewatch@example.org",
        "WIREWATCH_DIGEST_CHECK_SECONDS": "1",
    })  # fmt: skip
    digest_rule = cli(env, "watch", "add", "--query", QUERY, "--digest", "daily", "--destination", MAILBOX)
    assert digest_rule.returncode == 0, digest_rule.stderr
    webhook_rule = cli(env, "watch", "add", "--query", WEBHOOK_QUERY, "--destination", hook.url)
    assert webhook_rule.returncode == 0, webhook_rule.stderr
    ids = rule_ids(env)
    for outlet in range(3):
        assert cli(env, "feeds", "add", feeds.url(f"/outlet{outlet}.xml")).returncode == 0
    poller = start("poller", env, tmp_path / "poller.log")
    worker = start("worker", env, tmp_path / "worker.log")
    processes = [poller, worker]
    matching_urls = {f"http://outlet{o}.example/2026/{slug}" for o, slug, _, _, hit in ARTICLES if hit}

    def enriched() -> list[dict[str, Any]]:
        return [orjson.loads(value) for _, value in topic_values(kafka_settings, "enriched") if value]

    def first_alerts(rule_id: str) -> list[dict[str, Any]]:
        alerts = [orjson.loads(value) for _, value in topic_values(kafka_settings, "alerts") if value]
        return [a for a in alerts if a["rule_id"] == rule_id and not a["update"]]

    try:
        items = wait_for("every article enriched with its story", lambda: (found := enriched()) and len(found) == len(ARTICLES)
                         and all(item.get("story_id") for item in found) and found, 300, processes=processes)  # fmt: skip
        stories = {item["story_id"] for item in items if item["article"]["url"] in matching_urls}
        print(f"{len(stories)} matching stories of {len({item['story_id'] for item in items})}")
        wait_for("one digest alert per matching story", lambda: {a["story_id"] for a in first_alerts(ids[QUERY])} == stories,
                 180, processes=processes)  # fmt: skip
        velmar = {item["story_id"] for item in items if "velmar-flood" in item["article"]["url"]}
        wait_for("the webhook rule's alerts on the topic", lambda: {a["story_id"] for a in first_alerts(ids[WEBHOOK_QUERY])} == velmar,
                 120, processes=processes)  # fmt: skip
        wait_for("the webhook's query alerts", lambda: len(hook.received) >= len(velmar), 120, processes=processes)
        wait_for("the digest rule's alerts collected in the daily digest", lambda: list(pending_counts(kafka_settings).values())
                 == [len(stories)], 120, processes=processes)  # fmt: skip
        assert inbox.messages == []  # a daily digest waits for its day to end
        sent = cli(env, "destinations", "send-digests")
        assert sent.returncode == 0 and "asked the workers to send the daily digest" in sent.stdout, sent.stdout + sent.stderr
        wait_for("the digest e-mail", lambda: len(inbox.messages) >= 1, 120, processes=processes)
        # the positive signal that no second e-mail is coming: the digest is marked sent, nothing is left to send
        wait_for("the digest marked sent", lambda: list(pending_counts(kafka_settings).values()) == [-1], 60, processes=processes)
        again = cli(env, "destinations", "send-digests")
        assert again.returncode == 0 and "no pending digest to send" in again.stderr, again.stdout + again.stderr
        wait_for("every article stored", lambda: sqlite_rows(kafka_settings.sqlite_path, "SELECT count(*) FROM articles")
                 == [(len(ARTICLES),)], 120, processes=processes)  # fmt: skip
        searched = cli(env, "search", QUERY, "--json", "--limit", "100")
        assert searched.returncode == 0, searched.stderr
    finally:
        codes = [stop(process) for process in processes]
        feeds.close()
        hook.close()
        smtp.stop()
    assert codes == [0, 0], f"exit codes {codes}; logs in {tmp_path}"

    # exactly one e-mail, to the rule's address, listing each matching story once, with its highlights in the HTML part
    assert len(inbox.messages) == 1
    recipients, raw = inbox.messages[0]
    assert recipients == ["desk@example.org"]
    plain, html = parts(raw)
    digest_alerts = first_alerts(ids[QUERY])
    assert len(digest_alerts) == len(stories) and len({a["story_id"] for a in digest_alerts}) == len(stories)
    for alert in digest_alerts:
        assert plain.count(alert["url"]) == 1 and alert["url"] in matching_urls
        assert alert["highlights"] and evidence_html(alert["evidence"]) in html and "<b>" in evidence_html(alert["evidence"])
    assert "**" not in plain
    for _, slug, title, _, hit in ARTICLES:
        if not hit:
            assert slug not in plain and escape(title) not in html and title not in plain

    # the plain query rule: one alert per Velmar story through the agents to its webhook, its terms highlighted
    pushed = [orjson.loads(body) for _, body in hook.received]
    assert sorted(a["id"] for a in pushed) == sorted(a["id"] for a in first_alerts(ids[WEBHOOK_QUERY]))
    for alert in pushed:
        assert alert["kind"] == "query" and alert["rule_id"] == ids[WEBHOOK_QUERY] and "velmar-flood" in alert["url"]
        assert "velmar harbour" in {h["text"].casefold() for h in alert["highlights"]}
    # the stored articles: `wirewatch search` with the rule's query finds exactly the matching ones
    assert {hit["url"] for hit in orjson.loads(searched.stdout)} == matching_urls


def test_inbox_parts_are_read_as_sent() -> None:
    """The helper reads a two-part message the way the digest is sent (plain first, HTML alternative)."""
    message = EmailMessage()
    message.set_content("plain body")
    message.add_alternative("<p>html <b>body</b></p>", subtype="html")
    assert parts(message.as_bytes()) == ("plain body\n", "<p>html <b>body</b></p>\n")
    assert asyncio.run(Inbox().handle_DATA(None, None, type("E", (), {"rcpt_tos": ["a@b"], "content": b"x"})())) == "250 OK"
