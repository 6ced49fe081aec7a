"""Three outlets on loopback publish one story in their own words at different times, through the real poller and
worker: one alert per watching rule at the webhook, then updates with 2 and 3 sources, one story on the topic and in
the database."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.config import Settings
from tests.conftest import free_port
from tests.e2e.helpers import FeedServer, WebhookReceiver, cli, stack_env, start, stop, wait_for
from tests.e2e.test_pipeline import sqlite_rows, topic_values

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

#: (outlet host, title, description, published): one invented story, each outlet in its own words, an hour apart
OUTLETS = (
    ("saltmere-courier.example", "Harbour master Teodor Brankovic closes Saltmere docks as storm nears",
     "Harbour master Teodor Brankovic closed the Saltmere docks on Friday as the storm approached the coast. "
     "Fishing boats were moved to the inner basin.", "Fri, 27 Nov 2026 07:30:00 GMT"),
    ("coastal-wire.example", "Saltmere docks shut by Brankovic ahead of the storm",
     "The Saltmere docks were shut on Friday by harbour master Teodor Brankovic, who said the storm would reach the coast "
     "by night. Boats moved to the inner basin.", "Fri, 27 Nov 2026 08:30:00 GMT"),
    ("port-elvan-post.example", "Storm: Brankovic orders the Saltmere docks closed",
     "Teodor Brankovic, the Saltmere harbour master, ordered the docks closed before the storm reached the coast on Friday; "
     "fishing boats went to the inner basin.", "Fri, 27 Nov 2026 09:30:00 GMT"),
)  # fmt: skip


def feed(number: int) -> bytes:
    host, title, text, published = OUTLETS[number]
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{host} (Wirewatch story fixture)</title><link>http://{host}/</link>
<description>Invented articles for the stories test.</description>
<item><title>{title}</title><link>http://{host}/2026/11/27/saltmere-docks</link><guid isPermaLink="false">{host}-1</guid>
<pubDate>{published}</pubDate><description>{text}</description></item>
</channel></rss>""".encode()


def alerts_on_topic(settings: Settings) -> list[dict]:
    return [orjson.loads(value) for _, value in topic_values(settings, "alerts") if value]


def updates(settings: Settings, sources: int) -> int:
    return sum(1 for a in alerts_on_topic(settings) if a["update"] and a["source_count"] == sources)


@pytest.mark.timeout(900)  # waits of up to 240 + 4 x 120 s, two processes stopped
def test_one_story_across_three_outlets_alerts_once_then_updates(kafka_settings: Settings, tmp_path: Path) -> None:
    feeds = FeedServer({f"/outlet{n}.xml": feed(n) for n in range(3)})
    hook = WebhookReceiver()
    env = stack_env(kafka_settings, {
        "WIREWATCH_POLL_TICK_SECONDS": "0.5", "WIREWATCH_POLL_MIN_INTERVAL_SECONDS": "1", "WIREWATCH_POLL_INTERVAL_SECONDS": "2",
        "WIREWATCH_POLL_MAX_INTERVAL_SECONDS": "3", "WIREWATCH_WEB_PORT": str(free_port()), "WIREWATCH_POLLER_WEB_PORT": str(free_port()),
        "WIREWATCH_WEBHOOK_URL": hook.url,
    })  # fmt: skip
    for kind in ("mention", "new_mention"):
        added = cli(env, "watch", "add", "Teodor Brankovic", "--alias", "Brankovic", "--type", "PERSON", "--kind", kind)
        assert added.returncode == 0, added.stderr
    assert cli(env, "feeds", "add", feeds.url("/outlet0.xml")).returncode == 0
    poller = start("poller", env, tmp_path / "poller.log")
    worker = start("worker", env, tmp_path / "worker.log")
    processes = [poller, worker]
    db = kafka_settings.sqlite_path
    try:
        wait_for("one alert per rule at the webhook", lambda: len(hook.received) >= 2, 240, processes=processes)
        for outlet, sources in ((1, 2), (2, 3)):  # the next outlet carries the story an hour later, in its own words
            assert cli(env, "feeds", "add", feeds.url(f"/outlet{outlet}.xml")).returncode == 0
            wait_for(f"updates with {sources} sources", lambda n=sources: updates(kafka_settings, n) >= 2, 120, processes=processes)
        story_row = "SELECT article_count, source_count FROM stories"
        wait_for("the story in SQLite with 3 articles", lambda: sqlite_rows(db, story_row) == [(3, 3)], 120, processes=processes)
        wait_for("the alerts stored with 3 sources", lambda: sorted(r[0] for r in sqlite_rows(
            db, "SELECT json_extract(body, '$.source_count') FROM alerts")) == [3, 3], 60, processes=processes)  # fmt: skip
    finally:
        codes = [stop(process) for process in processes]
        feeds.close()
        hook.close()
    assert codes == [0, 0], f"exit codes {codes}; logs in {tmp_path}"
    alerts = alerts_on_topic(kafka_settings)
    fresh = [a for a in alerts if not a["update"]]
    # exactly one alert per watching rule, both on the one story, and only those two pushed to the webhook
    assert sorted(a["kind"] for a in fresh) == ["mention", "new_mention"] and len({a["story_id"] for a in alerts}) == 1
    assert sorted(orjson.loads(body)["id"] for _, body in hook.received) == sorted(a["id"] for a in fresh)
    assert sorted((a["kind"], a["source_count"]) for a in alerts if a["update"]) == [
        ("mention", 2), ("mention", 3), ("new_mention", 2), ("new_mention", 3)]  # fmt: skip
    stories = [(key, orjson.loads(value)) for key, value in topic_values(kafka_settings, "stories") if value]
    assert {key for key, _ in stories} == {fresh[0]["story_id"]}  # one story on the topic (a record per article)
    assert stories[-1][1]["article_count"] == 3 and stories[-1][1]["sources"] == [o[0] for o in OUTLETS]
    enriched = [orjson.loads(value) for _, value in topic_values(kafka_settings, "enriched") if value]
    assert len(enriched) == 3 and {item["story_id"] for item in enriched} == {fresh[0]["story_id"]}
    assert sqlite_rows(db, "SELECT count(*) FROM story_articles") == [(3,)]
