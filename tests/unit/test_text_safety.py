"""Text safe to print: control characters escaped in plain-text logs and the console alert line, secrets in URLs masked."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime

import pytest

from schemas import Alert
from streams.deliver.local import ConsoleDestination, console_line
from streams.logs import CONTINUATION, PlainFormatter
from streams.text import escape_controls, mask_destination, mask_url, mask_urls_in

T = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
FORGED = "Mayor resigns\n2026-11-28 09:30:00,000 ERROR streams.kafka.admin: broker lost\r\x1b[31mRED\x1b[0m\u2028\u202eevil"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("line one\nline two", "line one\\nline two"),
        ("carriage\rreturn\ttab", "carriage\\rreturn\\ttab"),
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
        ("nul\x00bell\x07del\x7f", "nul\\x00bell\\x07del\\x7f"),
        ("next line\x85csi\x9b", "next line\\x85csi\\x9b"),
        ("sep\u2028para\u2029", "sep\\u2028para\\u2029"),
        ("bidi\u202eright\u2066iso\u2069", "bidi\\u202eright\\u2066iso\\u2069"),
        ("lone\ud800surrogate", "lone\\ud800surrogate"),
        ("Zoë & Ça va? C:\\path ✓", "Zoë & Ça va? C:\\path ✓"),
    ],
    ids=["newline", "cr-tab", "ansi", "c0-del", "c1", "line-separators", "bidi", "surrogate", "ordinary-text-kept"],
)
def test_escape_controls(text: str, expected: str) -> None:
    assert escape_controls(text) == expected


def plain_log(*args: object, exc: BaseException | None = None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PlainFormatter())
    logger = logging.getLogger("tests.forged")
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        if exc is not None:
            try:
                raise exc
            except type(exc):
                logger.exception(*args)  # type: ignore[arg-type]
        else:
            logger.warning(*args)  # type: ignore[arg-type]
    finally:
        logger.handlers.clear()
    return stream.getvalue()


def test_plain_log_lines_cannot_be_forged() -> None:
    output = plain_log("feed %s: %d new: %s", "http://x/\nfake", 3, FORGED)
    assert output.count("\n") == 1 and output.endswith("\n"), output
    assert "\x1b" not in output and "\r" not in output and "\u2028" not in output and "\u202e" not in output
    assert "Mayor resigns\\n2026-11-28 09:30:00,000 ERROR" in output and "http://x/\\nfake" in output


def test_a_traceback_keeps_its_lines_but_none_passes_for_a_record() -> None:
    output = plain_log("poll failed", exc=ValueError(FORGED))
    first, *rest = output.rstrip("\n").split("\n")
    assert "poll failed" in first and rest, output
    assert all(line.startswith(CONTINUATION) for line in rest), output
    # the exception's message is feed text: its own newline ends up inside the traceback, behind the prefix
    assert f"{CONTINUATION}ValueError: Mayor resigns" in rest
    assert f"{CONTINUATION}2026-11-28 09:30:00,000 ERROR streams.kafka.admin: broker lost\\r\\x1b[31mRED" in rest[-1]
    assert "\x1b" not in output


def alert(**changes: object) -> Alert:
    fields: dict[str, object] = {
        "id": "a1", "rule_id": "r", "kind": "new_mention", "entity_id": "e", "entity_name": "Ana Lima", "article_id": "x",
        "title": "Bridge vote", "url": "https://news.example/a", "feed_id": "f", "sentence": "s", "evidence": "**Ana Lima** won",
        "story_id": "s", "fetched": T, "detected": T, "latency_seconds": 0.4,
    }  # fmt: skip
    fields.update(changes)
    return Alert.model_validate(fields)


def test_the_console_alert_line_shows_no_evidence_marks() -> None:
    assert console_line(alert()) == "ALERT [new_mention] Ana Lima: Ana Lima won (Bridge vote <https://news.example/a>)"


def test_tables_show_the_watched_name_bold_and_feed_markup_as_typed() -> None:
    from streams.cli.common import marked

    assert marked("**Ana Lima** won [red]x[/]") == "[bold]Ana Lima[/] won \\[red]x\\[/]"
    assert marked("a ** b") == "a  b"  # an unbalanced mark is dropped, never printed


async def test_the_console_alert_line_stays_one_line() -> None:
    forged = alert(title=FORGED, evidence="won\r\nALERT [new_mention] Fake: forged", entity_name="Ana\x1b[8m")
    line = console_line(forged)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "won\\r\\nALERT [new_mention] Fake: forged" in line and "Ana\\x1b[8m" in line
    # through the real destination and the plain formatter: one line on the alerts logger
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PlainFormatter())
    alerts_logger = logging.getLogger("wirewatch.alerts")
    alerts_logger.addHandler(handler)
    try:
        await ConsoleDestination().send(forged)
    finally:
        alerts_logger.removeHandler(handler)
    assert stream.getvalue().count("\n") == 1 and "ALERT [new_mention] Ana\\x1b[8m" in stream.getvalue()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.slack.com/services/T0/B0/XXXXSECRET", "https://hooks.slack.com/***"),
        ("https://example.org/hook?token=abc", "https://example.org/***"),
        ("https://example.org", "https://example.org"),
        ("https://example.org/", "https://example.org/"),
        ("http://user:pw@example.org:8080/x", "http://user:***@example.org:8080/***"),
        ("postgresql://wirewatch:s3cret@db:5432/wirewatch", "postgresql://wirewatch:***@db:5432/wirewatch"),
        ("postgresql://db/wirewatch?sslmode=require&password=s3cret", "postgresql://db/wirewatch?sslmode=require&password=***"),
        ("postgresql://wirewatch@db/wirewatch", "postgresql://wirewatch@db/wirewatch"),
        ("postgresql:///wirewatch?host=/run/pg&password=s3cret", "postgresql:///wirewatch?host=/run/pg&password=***"),
        ("http://[::1/x", "http:***"),
        ("not a url", "not a url"),
    ],
    ids=[
        "slack",
        "query",
        "bare-host",
        "root",
        "userinfo",
        "database",
        "database-query",
        "user-only",
        "socket-query",
        "malformed",
        "plain-text",
    ],  # fmt: skip
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def test_mask_destination_and_free_text() -> None:
    assert mask_destination("slack:https://hooks.slack.com/services/T/B/X") == "slack:https://hooks.slack.com/***"
    assert mask_destination("digest:daily:https://example.org/h/tok") == "digest:daily:https://example.org/***"
    assert mask_destination("mailto:a@example.org,b@example.org") == "mailto:a@example.org,b@example.org"
    assert mask_destination("file:alerts.jsonl") == "file:alerts.jsonl" and mask_destination("console") == "console"
    error = "ClientResponseError: 400, message='Bad', url='https://example.org/hook/T0K3N?sig=1'"
    assert mask_urls_in(error) == "ClientResponseError: 400, message='Bad', url='https://example.org/***'"
