"""The dashboard's HTML: escaped feed text, marked evidence, sparklines, feed health parsed from a poller's metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas import Alert
from streams.dashboard import DashboardData, evidence_html, feed_health, render_dashboard
from streams.search import EntitySummary, Trend, hour_buckets, sparkline_points

T = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def alert(title: str, evidence: str) -> Alert:
    return Alert(id="a1", rule_id="r", kind="new_mention", entity_id="e", entity_name="Ana <Lima>", article_id="x", title=title,
                 url="http://127.0.0.1/x?a=1&b=2", feed_id="f", sentence="s", evidence=evidence, story_id="s",
                 fetched=T, detected=T, latency_seconds=0.4)  # fmt: skip


def test_evidence_marks_the_name_and_escapes_markup() -> None:
    assert evidence_html("Mayor **Ana Lima** said <script>x</script>") == "Mayor <mark>Ana Lima</mark> said &lt;script&gt;x&lt;/script&gt;"


def test_page_escapes_feed_text_and_shows_everything() -> None:
    trend = Trend(EntitySummary("e", "Redmoor & Co", "ORG", 3), [0, 1, 2])
    data = DashboardData(now=T, alerts=[alert("<b>Bridge</b> vote", "**Ana Lima** won")], trends=[trend],
                         counters={"articles enriched": 12.0}, dead_letters=2.0, lag={"w.articles": 5.0},
                         feeds={"ok": 3.0, "broken": 1.0}, polls={"ok": 9.0})  # fmt: skip
    page = render_dashboard(data)
    assert "&lt;b&gt;Bridge&lt;/b&gt; vote" in page and "<b>Bridge</b>" not in page
    assert "Ana &lt;Lima&gt;" in page and "<mark>Ana Lima</mark> won" in page
    assert 'href="http://127.0.0.1/x?a=1&amp;b=2"' in page
    assert "Redmoor &amp; Co" in page and "<polyline" in page
    assert 'data-lag="w.articles">5</span>' in page and "broken: 1" in page and 'id="dead-letters">2<' in page


def test_empty_page_says_so() -> None:
    page = render_dashboard(DashboardData(now=T, alerts=[], trends=[], counters={}, dead_letters=0, lag={}))
    assert "no alerts yet" in page and "no mentions in the last 24 hours" in page and "not reachable" in page


def test_sparkline_scales_to_the_box() -> None:
    assert sparkline_points([0, 5, 10], width=100, height=20) == "0.0,19.0 50.0,10.0 100.0,1.0"
    assert sparkline_points([0, 0]) == "0.0,23.0 120.0,23.0"
    assert sparkline_points([]) == ""


def test_hour_buckets_end_with_the_current_hour() -> None:
    assert hour_buckets(T, 3) == ["2026-11-28T07", "2026-11-28T08", "2026-11-28T09"]


def test_feed_health_from_poller_metrics() -> None:
    text = 'wirewatch_feeds{status="ok"} 4.0\nwirewatch_feeds{status="broken"} 1.0\nwirewatch_polls_total{status="not_modified"} 7.0\n'
    assert feed_health(text) == ({"ok": 4.0, "broken": 1.0}, {"not_modified": 7.0})
