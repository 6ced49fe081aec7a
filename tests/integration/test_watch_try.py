"""`watch add --try/--backfill` and `watch test`: a rule run over the articles the real sink stored (issue 16, point 2)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import Alert, EnrichedArticle, Story, decode
from streams import ids
from streams.alert.rulefile import make_rule
from streams.config import Settings
from streams.kafka.client import read_topic
from streams.store.base import Sink
from streams.store.postgres import PostgresSink
from streams.store.sqlite import SQLiteSink
from tests import factories
from tests.e2e.helpers import cli, stack_env

NOW = datetime.now(tz=UTC).replace(microsecond=0)

#: (article id, story id, host, hours ago, text): two stories naming the watched name (one closed: its last article is
#: older than the 72 h story window), one naming someone else, two naming nobody
ARTICLES = [
    ("old1", "story-closed", "harbour.example", 120, "Daniel Okafor opened the new ferry terminal in Lindenport on Monday."),
    ("open2", "story-open", "valley.example", 20, "The port authority chair, Daniel Okafor, said the strike would end soon."),
    ("open1", "story-open", "harbour.example", 30, "Dock workers met Daniel Okafor at the harbour gate to talk about wages."),
    ("other", "story-other", "valley.example", 10, "Marta Kowalczyk visited the flood barrier on the east bank."),
    ("quiet1", "story-q1", "coast.example", 5, "Rain is expected across the valley for the rest of the week."),
    ("quiet2", "story-q2", "coast.example", 2, "The museum reopens on Saturday after a long renovation."),
]


def stored() -> tuple[list[EnrichedArticle], list[Story]]:
    items, stories = [], {}
    for article_id, story_id, host, hours, text in ARTICLES:
        when = NOW - timedelta(hours=hours)
        article = factories.article(article_id, text, title=f"Report {article_id}", url=f"https://{host}/{article_id}", published=when,
                                    fetched=when + timedelta(minutes=1))  # fmt: skip
        items.append(factories.enriched(article, story_id=story_id))
        first = min(stories[story_id].first_seen, when) if story_id in stories else when
        last = max(stories[story_id].last_seen, when) if story_id in stories else when
        stories[story_id] = Story(id=story_id, headline=f"Headline of {story_id}", url=article.url, article_id=article_id, first_seen=first,
                                  last_seen=last, article_count=1, source_count=1, lifecycle="new")  # fmt: skip
    return items, list(stories.values())


async def fill(sink: Sink) -> None:
    items, stories = stored()
    await sink.open()
    try:
        await sink.write_enriched(items)
        await sink.write_stories(stories)
    finally:
        await sink.close()


async def check_window(make: Callable[[], Sink]) -> None:
    await fill(make())
    sink = make()
    await sink.open()
    try:
        window = await sink.stored_articles(NOW - timedelta(days=7), NOW + timedelta(minutes=1), ["Daniel Okafor", "Okafor"])
        assert window.total == 6
        # oldest first, each with its story, read back as the articles that were stored
        assert [(a.id, story) for a, story in window.articles] == [
            ("old1", "story-closed"),
            ("open1", "story-open"),
            ("open2", "story-open"),
        ]
        assert window.articles[1][0].published == NOW - timedelta(hours=30) and window.articles[1][0].url == "https://harbour.example/open1"
        assert (await sink.stored_articles(NOW - timedelta(days=7), NOW, ["daniel okafor"])).articles == []  # case-sensitive
        assert (await sink.stored_articles(NOW - timedelta(hours=1), NOW, ["Daniel Okafor"])).total == 0
    finally:
        await sink.close()


async def test_sqlite_window_of_stored_articles(tmp_path: Path) -> None:
    await check_window(lambda: SQLiteSink(tmp_path / "w.db"))


@pytest.mark.postgres
async def test_postgres_window_of_stored_articles(postgres_url: str) -> None:
    import asyncpg

    schema = f"t{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        await check_window(lambda: PostgresSink(f"{postgres_url}?options=-csearch_path%3D{schema}"))
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


def alerts_on_topic(settings: Settings) -> list[Alert]:
    async def read() -> list[Alert]:
        return [decode(Alert, value) async for _, value in read_topic(settings, "alerts") if value is not None]

    return asyncio.run(read())


@pytest.mark.kafka
def test_try_previews_then_backfill_raises_the_open_story_with_the_workers_id(kafka_settings: Settings) -> None:
    asyncio.run(fill(SQLiteSink(kafka_settings.sqlite_path)))
    env = stack_env(kafka_settings, {"COLUMNS": "100"})
    # a look-back of 3 days: the closed story (5 days ago) does not hold back the open one (30 h ago)
    rule_id = make_rule("Daniel Okafor", [], None, lookback_days=3).id

    nobody = cli(env, "watch", "add", "Nobody Anywhere", "--try", "7d", "--dry-run")
    print(nobody.stdout, nobody.stderr)
    assert nobody.returncode == 0, nobody.stderr
    assert "0 alert(s) over 7 d from 6 stored article(s)" in nobody.stdout
    assert "6 stored article(s) in the last 7 d, none naming 'Nobody Anywhere'" in nobody.stdout
    recent = cli(env, "watch", "add", "Daniel Okafor", "--try", "1h", "--dry-run")
    assert recent.returncode == 0 and "no stored article in the last 1 h" in recent.stdout, recent.stderr
    event = cli(env, "watch", "add", "Floods", "--kind", "event", "--try", "7d")
    assert event.returncode == 2 and "a event rule cannot be previewed yet" in event.stderr

    # --try shows the preview, then adds the rule; --backfill raises the alerts of stories still open
    added = cli(env, "watch", "add", "Daniel Okafor", "--lookback-days", "3", "--try", "7d", "--backfill", "7d", timeout=400)
    print(added.stdout, added.stderr)
    assert added.returncode == 0, added.stderr
    lines = added.stdout.splitlines()
    # one row per alert, oldest first: the story's headline (folded at 100 columns), the article, the evidence
    assert (
        added.stdout.index("story-closed") < added.stdout.index("story-open") and "5 d ago" in added.stdout and "30 h " in added.stdout
    )  # "30 h ago", or "30 h 5 min ago" once the clock has moved on
    assert "Dock workers" in added.stdout and "old1" in added.stdout
    assert "2 alert(s) over 7 d from 6 stored article(s), 3 naming 'Daniel Okafor'" in added.stdout
    assert f"watching 'Daniel Okafor' (new_mention) as rule {rule_id}" in added.stdout
    assert "backfill: raised 1 alert(s) of stories still open; 1 of closed stories not raised" in added.stderr
    assert "**" not in added.stdout and max(len(line) for line in lines) <= 100

    raised = alerts_on_topic(kafka_settings)
    assert [(a.id, a.story_id, a.article_id, a.update) for a in raised] == [
        (ids.story_alert_id(rule_id, "story-open"), "story-open", "open1", False)  # the worker's id; the story's earliest article
    ]
    assert raised[0].evidence == "Dock workers met **Daniel Okafor** at the harbour gate to talk about wages."
    assert raised[0].source_count == 2 and raised[0].detected >= NOW

    tested = cli(env, "watch", "test", rule_id[:10], "--since", "7d", "--json", timeout=400)
    assert tested.returncode == 0, tested.stderr
    preview = orjson.loads(tested.stdout)
    assert [(p["alert"]["story_id"], p["open"], p["headline"]) for p in preview["alerts"]] == [
        ("story-closed", False, "Headline of story-closed"), ("story-open", True, "Headline of story-open")]  # fmt: skip
    assert preview["stored"] == 6 and preview["naming"] == 3 and preview["why_empty"] is None
    assert all("destinations" not in p["alert"] for p in preview["alerts"])
    missing = cli(env, "watch", "test", "nosuchrule")
    assert missing.returncode == 2 and "no watch rule 'nosuchrule'" in missing.stderr


async def test_dashboard_preview_page_over_the_stored_articles(tmp_path: Path, nlp: Any) -> None:
    """The dashboard page's steps (agents/dashboard.py: WatchPreviewView) over a real SQLite sink, rendered read-only."""
    from streams.web.preview import Preview, backtest, preview_alerts, read_window, render_preview

    items, stories = stored()
    hostile = items[2].article.model_copy(update={"title": 'Okafor <script>alert("x")</script>'})
    items[2] = items[2].model_copy(update={"article": hostile})
    sink = SQLiteSink(tmp_path / "w.db")
    await sink.open()
    try:
        await sink.write_enriched(items)
        await sink.write_stories(stories)
        rule = make_rule("Daniel Okafor", [], None, kind="mention")
        since = NOW - timedelta(days=7)
        window = await read_window(sink, rule, since, NOW + timedelta(minutes=1), 30)
        alerts = backtest(window.candidates, rule, [rule], nlp, since, 30)
        page = render_preview(Preview(rule, since, NOW, window.stored, window.naming, await preview_alerts(sink, alerts, NOW, 72)))
        nothing = make_rule("Nobody Anywhere", [], None)
        empty_window = await read_window(sink, nothing, since, NOW, 30)
        empty = render_preview(Preview(nothing, since, NOW, empty_window.stored, empty_window.naming, []))
    finally:
        await sink.close()
    print(page)
    assert "2 alert(s) over 7 d from 6 stored article(s), 3 naming &#x27;Daniel Okafor&#x27;" in page
    assert page.count("<tr><td>") == 2 and page.index("Headline of story-closed") < page.index("Headline of story-open")
    assert "<mark>Daniel Okafor</mark> at the harbour gate" in page and '<a href="../../story/story-open">' in page
    assert "<script>" not in page and "&lt;script&gt;" in page  # feed text is escaped
    assert "none naming &#x27;Nobody Anywhere&#x27;" in empty and "no alert" in empty
