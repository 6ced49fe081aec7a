"""Highlighting: a query alert marks every matched term, and each destination shows the marks its own way."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas import Alert, Digest, MentionSpan, encode
from streams.cli.common import marked
from streams.deliver.email import email_digest, email_message
from streams.deliver.local import console_line
from streams.deliver.slack import slack_digest_text, slack_text
from streams.text import evidence_parts
from streams.web.dashboard import evidence_html

T = datetime(2024, 5, 1, tzinfo=UTC)
SENTENCE = "Carl Icahn said eBay should separate PayPal <now>."


def query_alert() -> Alert:
    spans = [(0, 10), (16, 20), (37, 43)]
    return Alert(
        id="a1", rule_id="r1", kind="query", entity_id="", entity_name='"Carl Icahn" AND (eBay OR PayPal)', article_id="x",
        title="Icahn & eBay", url="https://news.example/1", feed_id="f", sentence=SENTENCE,
        evidence="**Carl Icahn** said **eBay** should separate **PayPal** <now>.", story_id="s", fetched=T, detected=T,
        latency_seconds=0.0, highlights=[MentionSpan(start=a, end=b, text=SENTENCE[a:b]) for a, b in spans],
    )  # fmt: skip


def test_each_destination_shows_the_highlights_its_own_way() -> None:
    alert = query_alert()
    assert [text for text, on in evidence_parts(alert.evidence) if on] == ["Carl Icahn", "eBay", "PayPal"]
    # console (a log line): no bold, and no raw marks either
    assert "Carl Icahn said eBay should separate PayPal" in console_line(alert) and "**" not in console_line(alert)
    # CLI table (rich): bold
    assert marked(alert.evidence).startswith("[bold]Carl Icahn[/] said [bold]eBay[/]")
    # Slack: its own bold, feed text escaped
    slack = slack_text(alert)
    assert "*Carl Icahn* said *eBay* should separate *PayPal* &lt;now&gt;." in slack and "**" not in slack
    # e-mail: plain text without marks, HTML in bold
    mail = email_message(alert, "ww@example.org", ["desk@example.org"])
    plain = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Carl Icahn said eBay should separate PayPal <now>." in plain and "**" not in plain
    assert "<b>Carl Icahn</b> said <b>eBay</b> should separate <b>PayPal</b> &lt;now&gt;." in mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    # dashboard: <mark>
    assert evidence_html(alert.evidence).startswith("<mark>Carl Icahn</mark> said <mark>eBay</mark>")
    # webhook body: the spans as data, offsets into the sentence
    body = encode(alert).decode()
    assert '"highlights":[{"schema_version":1,"start":0,"end":10,"text":"Carl Icahn"}' in body


def test_digests_carry_the_highlights() -> None:
    digest = Digest(id="d1", period="daily", period_start=T, period_end=T, count=1, alerts=[query_alert()])
    slack = slack_digest_text(digest)
    assert "*Carl Icahn* said *eBay*" in slack and "**" not in slack
    mail = email_digest(digest, "ww@example.org", ["desk@example.org"])
    assert "**" not in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert '<a href="https://news.example/1">Icahn &amp; eBay</a>' in html and "<b>PayPal</b>" in html


def test_unbalanced_marks_never_show() -> None:
    assert evidence_parts("a ** b") == [("a  b", False)]
