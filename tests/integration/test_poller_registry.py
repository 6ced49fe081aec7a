"""The feed registry: OPML and YAML import, per-feed options and `feeds list` health on the real broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from click.testing import CliRunner

from streams import ids
from streams.cli.main import main
from streams.config import Settings, get_settings
from streams.errors import RegistryError
from streams.kafka.admin import ensure_topics
from streams.kafka.catalogue import changelog_topic
from streams.kafka.client import compacted_state
from streams.poll.feedlist import make_source, parse_opml, parse_yaml
from streams.poll.health import health_rows
from streams.poll.state import FeedState

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Invented subscriptions</title></head>
  <body>
    <outline text="Regional">
      <outline text="Valley News" type="rss" xmlUrl="http://valley.example/feed.xml" category="/local,politics"/>
      <outline text="Nested">
        <outline title="Harbour Gazette" type="rss" xmlUrl="https://harbour.example/rss"/>
      </outline>
    </outline>
    <outline text="Top level wire" xmlUrl="http://wire.example/atom" language="fr"/>
  </body>
</opml>
"""

YAML = """
feeds:
  - http://plain.example/feed
  - url: https://options.example/rss
    title: Options Daily
    tags: [science]
    language: en
    min_interval: 120
    max_interval: 7200
    fulltext: true
    enabled: false
"""


def test_opml_folders_become_tags() -> None:
    sources = parse_opml(OPML)
    assert [(s.url, s.title, s.tags, s.language) for s in sources] == [
        ("http://valley.example/feed.xml", "Valley News", ["Regional", "local", "politics"], None),
        ("https://harbour.example/rss", "Harbour Gazette", ["Regional", "Nested"], None),
        ("http://wire.example/atom", "Top level wire", [], "fr"),
    ]
    assert sources[0].id == ids.feed_id("http://valley.example/feed.xml")


def test_yaml_options() -> None:
    plain, full = parse_yaml(YAML)
    assert plain.url == "http://plain.example/feed" and plain.enabled and not plain.fulltext
    assert (full.title, full.tags, full.language, full.min_interval_seconds, full.max_interval_seconds) == (
        "Options Daily", ["science"], "en", 120, 7200,
    )  # fmt: skip
    assert full.fulltext and not full.enabled


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("- url: ftp://x.example/feed", "only http"),
        ("- title: no url", "feed 1: needs a 'url'"),
        ("- url: http://x.example/\n  colour: red", "unknown option(s) colour"),
        ("- url: http://x.example/\n  min_interval: 600\n  max_interval: 60", "min interval 600 s is longer"),
        ("just text", "expected a list"),
        ("<!DOCTYPE opml [<!ENTITY x 'y'>]><opml><body/></opml>", "DOCTYPE"),
        ("<opml><body><outline", "not well-formed OPML"),
    ],
)
def test_bad_registry_files_are_refused_by_entry(text: str, error: str) -> None:
    from streams.poll.feedlist import parse_registry_file

    with pytest.raises(RegistryError, match=error.replace("(", r"\(").replace(")", r"\)")):
        parse_registry_file(text)


def test_health_rows_join_registry_and_state() -> None:
    polled = make_source("http://a.example/feed")
    fresh = make_source("http://b.example/feed")
    off = make_source("http://c.example/feed", enabled=False)
    state = FeedState(
        source=polled,
        partition=0,
        last_poll=1000.0,
        next_check=1600.0,
        last_status="error",
        error_count=2,
        last_error="http_status: HTTP 500",
    )
    rows = health_rows({s.id: s for s in (polled, fresh, off)}, {polled.id: state.dumps(), "gone": b"{}"}, now=1100.0)
    assert [(r["url"], r["status"], r["error_count"], r["next_check_in"]) for r in rows] == [
        ("http://a.example/feed", "error", 2, 500.0),
        ("http://b.example/feed", "new", 0, None),
        ("http://c.example/feed", "disabled", 0, None),
    ]
    assert rows[0]["last_error"] == "http_status: HTTP 500"


async def write_changelog(settings: Settings, key: str, value: bytes) -> None:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(changelog_topic(settings, "poller", "feed-state"), key=key.encode(), value=value)
    finally:
        await producer.stop()


@pytest.mark.kafka
def test_cli_add_import_and_list_health(kafka_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIREWATCH_TOPIC_PREFIX", kafka_settings.topic_prefix)
    monkeypatch.setenv("WIREWATCH_APP_PREFIX", kafka_settings.app_prefix)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        added = runner.invoke(
            main,
            [
                "feeds",
                "add",
                "http://one.example/feed",
                "--min-interval",
                "120",
                "--max-interval",
                "600",
                "--fulltext",
                "--disabled",
                "--no-check",
            ],
        )
        assert added.exit_code == 0, added.output
        refused = runner.invoke(main, ["feeds", "add", "file:///etc/passwd"])
        assert refused.exit_code == 2 and "only http(s)" in refused.output
        (tmp_path / "subs.opml").write_text(OPML)
        imported = runner.invoke(main, ["feeds", "import", str(tmp_path / "subs.opml"), "--no-check"])
        assert imported.exit_code == 0 and "imported 3 feed(s)" in imported.output

        registry = asyncio.run(compacted_state(kafka_settings, "feeds"))
        assert len(registry) == 4
        one = orjson.loads(registry[ids.feed_id("http://one.example/feed")])
        assert (one["min_interval_seconds"], one["max_interval_seconds"], one["fulltext"], one["enabled"]) == (120, 600, True, False)

        # the poller's state of one feed, as its table writes it to the changelog
        valley = make_source("http://valley.example/feed.xml")
        state = FeedState(source=valley, partition=0, last_poll=1.0, next_check=2.0, last_status="broken", error_count=12,
                          last_error="timeout: no complete response within 20 s", items_seen=41, suspect_dates=7)  # fmt: skip
        asyncio.run(write_changelog(kafka_settings, valley.id, state.dumps()))

        listed = runner.invoke(main, ["feeds", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        rows = {row["url"]: row for row in orjson.loads(listed.stdout)}
        assert len(rows) == 4
        assert rows["http://valley.example/feed.xml"]["status"] == "broken"
        assert rows["http://valley.example/feed.xml"]["error_count"] == 12 and rows["http://valley.example/feed.xml"]["items_seen"] == 41
        assert rows["http://valley.example/feed.xml"]["suspect_dates"] == 7 and rows["http://one.example/feed"]["suspect_dates"] == 0
        assert rows["http://one.example/feed"]["status"] == "disabled"
        assert rows["https://harbour.example/rss"]["status"] == "new"
        from streams.cli import common as cli

        monkeypatch.setattr(cli.out, "width", 80)
        table = runner.invoke(main, ["feeds", "list"])
        print(table.stdout)
        assert table.exit_code == 0 and "broken" in table.stdout
        assert max(len(line) for line in table.stdout.splitlines()) <= 80  # fits an 80-column terminal
        assert "timeout: no compl…" in table.stdout or "timeout: no" in table.stdout  # the error cut, not folded
        assert "ago" in table.stdout and " s " not in table.stdout  # last poll in words, no raw seconds
        wide = runner.invoke(main, ["feeds", "list", "--wide"])
        print(wide.stdout)
        assert "items seen" in wide.stdout and "timeout: no complete response within 20 s" in wide.stdout
        for shown in (table.stdout, wide.stdout):  # the count of suspect dates is the last column, narrow or wide
            lines = shown.splitlines()
            header = next(line for line in lines if "status" in line)
            valley_line = next(line for line in lines if "http://va" in line)
            assert header.rstrip(" ┃").split()[-1] == "old" and valley_line.rstrip(" │").split()[-1] == "7"
        assert "https://harbour.example/rss" in wide.stdout and "1970-01-01 00:00:01 UTC" in wide.stdout
    finally:
        get_settings.cache_clear()
