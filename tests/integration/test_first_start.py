"""A first start: new topics get leaders before anything uses them, the banner says where to look, the sample page answers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
import pytest

from streams.cli import sampleserver
from streams.cli.stack import banner, free_port
from streams.config import Settings
from streams.kafka.admin import admin_client, ensure_topics
from streams.poll.discover import discover_feeds


@pytest.mark.kafka
def test_new_topics_have_leaders_when_ensure_topics_returns(kafka_settings: Settings) -> None:
    async def go() -> tuple[list[str], list[dict[str, object]], list[str]]:
        created = await ensure_topics(kafka_settings)
        async with admin_client(kafka_settings) as admin:
            described = await admin.describe_topics(created)
        return created, described, await ensure_topics(kafka_settings)

    created, described, again = asyncio.run(go())
    assert kafka_settings.topic("articles") in created and kafka_settings.topic("alerts") in created
    leaderless = [(t["topic"], p["partition"]) for t in described for p in t["partitions"] if p["leader"] < 0]  # type: ignore[attr-defined]
    assert len(described) == len(created) and leaderless == []
    assert again == []  # a second start creates nothing and waits for nothing


def test_the_sample_feeds_page_answers_and_names_every_feed() -> None:
    port = free_port()

    async def go() -> tuple[int, str, bytes]:
        runner = await sampleserver.start(port)
        try:
            async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/feeds/") as response:
                return response.status, response.content_type, await response.read()
        finally:
            await runner.cleanup()

    status, content_type, body = asyncio.run(go())
    assert (status, content_type) == (200, "text/html")
    found = discover_feeds(body, f"http://127.0.0.1:{port}/feeds/")
    assert sorted(f.url for f in found) == sorted(sampleserver.sample_feed_urls(port))
    assert all(f.title and f.title != Path(f.url).name for f in found)  # each by its own title
    # `make run` registers them under the same titles, so the dashboard never names a sample feed by its hex id
    assert sorted((f.url, f.title) for f in found) == sorted(sampleserver.sample_feeds(port))


def test_the_run_banner_says_where_to_look_and_how_to_stop(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, sqlite_path=tmp_path / "wirewatch.db", web_host="0.0.0.0", web_token="x" * 40)
    lines = banner(settings, {"WIREWATCH_ALERTS_FILE": str(tmp_path / "alerts.jsonl")}, 2, 8765, created=40)
    text = "\n".join(lines)
    print(text)
    assert "dashboard    : http://127.0.0.1:6066/dashboard  (?token=WIREWATCH_WEB_TOKEN once)" in text  # not 0.0.0.0
    assert f"alerts file  : {tmp_path / 'alerts.jsonl'}" in text
    assert f"database     : {tmp_path / 'wirewatch.db'}" in text
    assert "add a feed   : .venv/bin/wirewatch feeds add " in text and "add a watch  : .venv/bin/wirewatch watch add " in text
    assert "the Kafka broker keeps running until `make stop`" in text
    assert "created 40 topics" in text and "x" * 40 not in text


def test_the_sample_feeds_are_served_as_recent_news_in_their_own_order() -> None:
    # the files carry fixed dates: served as written, they would age past the rules' look-back and the tour would go quiet
    later = datetime(2027, 6, 1, 12, 0, 30, tzinfo=UTC)
    app = sampleserver.make_app(now=later)
    served = {
        path.name: sampleserver.shifted(path.read_text("utf-8"), app[sampleserver.SHIFT]) for path in sampleserver.SAMPLES.glob("*.xml")
    }
    dates = {name: [parsed(m[1], m[2]) for m in sampleserver.DATES.finditer(text)] for name, text in served.items()}
    written = {path.name: [parsed(m[1], m[2]) for m in sampleserver.DATES.finditer(path.read_text("utf-8"))]
               for path in sampleserver.SAMPLES.glob("*.xml")}  # fmt: skip
    newest = max(date for values in dates.values() for date in values)
    assert newest == datetime(2027, 6, 1, 11, 0, tzinfo=UTC)  # an hour before the start, to the minute
    shift = newest - max(date for values in written.values() for date in values)
    assert all([d + shift for d in written[name]] == dates[name] for name in written)  # every date moved alike
    assert all("<item>" in text or "<entry>" in text for text in served.values())


def parsed(element: str, text: str) -> datetime:
    return parsedate_to_datetime(text) if element in ("pubDate", "lastBuildDate") else datetime.fromisoformat(text)
