"""The dashboard's HTML: escaped feed text, marked evidence, sparklines, per-feed health from the registry and feed-state changelog."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from schemas import Alert, encode
from streams.poll.feedlist import make_source
from streams.poll.health import FeedBoard, table_key
from streams.poll.state import FeedState
from streams.store.queries import EntitySummary, Trend, hour_buckets
from streams.web.dashboard import DashboardData, dashboard_json, evidence_html, render_dashboard, sparkline_bars

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
                         feeds=board().rows(now=1000.0))  # fmt: skip
    page = render_dashboard(data)
    assert "&lt;b&gt;Bridge&lt;/b&gt; vote" in page and "<b>Bridge</b>" not in page
    assert "Ana &lt;Lima&gt;" in page and "<mark>Ana Lima</mark> won" in page
    assert 'href="http://127.0.0.1/x?a=1&amp;b=2"' in page
    assert "Redmoor &amp; Co" in page and "<rect" in page
    assert 'data-lag="w.articles">5</span>' in page and "broken: 1" in page and 'id="dead-letters">2<' in page
    assert "<strong>Valley &lt;News&gt;</strong>" in page and '<span class="status-broken">broken</span>' in page
    assert "1970-01-01 00:15:00" in page and "in 3 min" in page and "<td>due</td>" in page  # last poll (UTC), next checks


def test_empty_page_says_so() -> None:
    page = render_dashboard(DashboardData(now=T, alerts=[], trends=[], counters={}, dead_letters=0, lag={}))
    assert "no alerts yet" in page and "no mentions in the last 24 hours" in page and "no feeds registered" in page


def test_sparkline_bars_share_the_tables_scale() -> None:
    assert sparkline_bars([0, 5, 10], width=90, height=21) == [("0.0", "20.0", "29.0", "1.0"), ("30.0", "11.0", "29.0", "10.0"),
                                                              ("60.0", "1.0", "29.0", "20.0")]  # fmt: skip
    # on a table whose largest hour is 20, the same row fills only half the box: rows compare at a glance
    assert [bar[3] for bar in sparkline_bars([0, 5, 10], top=20, width=90, height=21)] == ["1.0", "5.0", "10.0"]
    assert sparkline_bars([]) == []


def test_hour_buckets_end_with_the_current_hour() -> None:
    assert hour_buckets(T, 3) == ["2026-11-28T07", "2026-11-28T08", "2026-11-28T09"]


VALLEY = make_source("http://valley.example/feed.xml", title="Valley <News>")
DEAD = make_source("http://dead.example/rss")
FRESH = make_source("http://fresh.example/rss")


def board() -> FeedBoard:
    """Three registered feeds: one polled fine, one broken, one not polled yet; states keyed as Faust writes them."""
    b = FeedBoard()
    for source in (VALLEY, DEAD, FRESH):
        b.apply(b.registry, source.id, encode(source))
    ok = FeedState(source=VALLEY, partition=0, last_poll=900.0, next_check=1200.0, last_status="ok", items_seen=41)
    broken = FeedState(source=DEAD, partition=1, last_poll=950.0, next_check=990.0, last_status="broken", error_count=10,
                       last_error="timeout: no complete response within 20 s")  # fmt: skip
    b.apply(b.states, orjson.dumps(VALLEY.id).decode(), ok.dumps())
    b.apply(b.states, orjson.dumps(DEAD.id).decode(), broken.dumps())
    return b


def test_feed_rows_join_registry_and_changelog_with_the_broken_flag() -> None:
    rows = {row["url"]: row for row in board().rows(now=1000.0)}
    assert (rows[VALLEY.url]["status"], rows[VALLEY.url]["items_seen"], rows[VALLEY.url]["next_check_in"]) == ("ok", 41, 200.0)
    assert (rows[DEAD.url]["status"], rows[DEAD.url]["broken"], rows[DEAD.url]["error_count"]) == ("broken", True, 10)
    assert (rows[FRESH.url]["status"], rows[FRESH.url]["broken"], rows[FRESH.url]["last_poll"]) == ("new", False, None)
    assert not rows[VALLEY.url]["broken"]


def test_tombstones_remove_feeds_and_bad_entries_are_named() -> None:
    b = board()
    b.apply(b.registry, DEAD.id, None)  # `wirewatch feeds remove`
    b.apply(b.states, orjson.dumps(VALLEY.id).decode(), None)  # the poller dropped its state
    b.apply(b.registry, "bad1", b"{not json")
    notes: list[str] = []
    rows = {row["url"]: row for row in b.rows(now=1000.0, warn=notes.append)}
    assert set(rows) == {VALLEY.url, FRESH.url} and rows[VALLEY.url]["status"] == "new"
    assert len(notes) == 1 and notes[0].startswith("feed bad1: ")


def test_changelog_keys_are_decoded_to_feed_ids() -> None:
    assert table_key('"abc"') == "abc" and table_key("abc") == "abc" and table_key('"not json') == '"not json'


def test_json_carries_feed_rows_and_notes() -> None:
    data = DashboardData(now=T, alerts=[], trends=[], counters={}, dead_letters=0, lag={}, feeds=board().rows(now=1000.0),
                         feed_notes=["feed health may be stale: cannot read x"])  # fmt: skip
    figures = orjson.loads(orjson.dumps(dashboard_json(data)))
    assert [row["status"] for row in figures["feeds"]] == ["broken", "new", "ok"]  # sorted by URL
    assert figures["feed_notes"] == ["feed health may be stale: cannot read x"]
    assert "feed health may be stale: cannot read x" in render_dashboard(data)


def test_states_are_kept_without_their_recent_item_memory() -> None:
    b = FeedBoard()
    state = FeedState(source=VALLEY, partition=0, last_poll=900.0, items_seen=3, recent={f"a{n}": ["h", 1] for n in range(500)})
    b.apply(b.states, orjson.dumps(VALLEY.id).decode(), state.dumps())
    kept = FeedState.loads(b.states[VALLEY.id])
    assert kept.recent == {} and kept.items_seen == 3 and len(b.states[VALLEY.id]) < len(state.dumps()) / 10
    b.apply(b.states, "broken-bytes", b"\x00not json")  # kept as is: health shows the feed as not polled yet
    assert b.states["broken-bytes"] == b"\x00not json"


def test_top_stories_panel_and_story_page_escape_everything() -> None:
    from datetime import timedelta

    from schemas import Story, StoryEntity
    from streams.store.queries import StoryArticleRow
    from streams.web.dashboard import render_story

    story = Story(id="s<1>", headline="Dam <opens> & floods", url="http://x/1", article_id="a1", first_seen=T,
                  last_seen=T + timedelta(hours=2), article_count=5, source_count=3, lifecycle="growing", velocity=3,
                  top_entities=[StoryEntity(id="e", name="Elkhorn <Dam>", articles=4)], per_hour=[0] * 22 + [2, 3])  # fmt: skip
    page = render_dashboard(DashboardData(now=T, alerts=[], trends=[], counters={}, dead_letters=0.0, lag={}, stories=[story]))
    assert "Top stories (1)" in page and 'href="story/s&lt;1&gt;"' in page and "Dam &lt;opens&gt; &amp; floods" in page
    assert "Elkhorn &lt;Dam&gt;" in page and 'class="lifecycle-growing">growing' in page and "articles per hour" in page
    rows = [StoryArticleRow("a1", "<i>First</i>", "http://one.example/1", "f1", "one.example", "2026-11-28T09:30:00+00:00"),
            StoryArticleRow("a2", "Second", "http://two.example/2", "f2", "two.example", "2026-11-28T10:00:00+00:00"),
            StoryArticleRow("a3", "Third", "http://one.example/3", "f1", "one.example", "2026-11-28T11:00:00+00:00")]  # fmt: skip
    story_page = render_story(story, rows)
    assert "<h3>one.example (2)</h3>" in story_page and "<h3>two.example (1)</h3>" in story_page
    assert "&lt;i&gt;First&lt;/i&gt;" in story_page and "<i>First</i>" not in story_page
    assert "5 articles from 3 sources; growing, 3 in the last hour" in story_page
    assert "The same news" not in story_page  # no linked story, no section
    # a story of the same burst (stored) and one not stored: linked by id, each headline escaped
    split = story.model_copy(update={"id": "s/2", "headline": "Floods <below> the dam", "article_count": 2, "source_count": 2})
    linked_page = render_story(story.model_copy(update={"linked_story_ids": ["s/2", "s9"]}), rows, [split])
    assert '<a href="s%2F2">Floods &lt;below&gt; the dam</a> (2 articles from 2 sources)' in linked_page
    assert "<li>story s9 (not stored)</li>" in linked_page and "rules count them as one" in linked_page
