"""`feeds add` checks each URL through the poller's guarded client and parser: feeds, web pages, 404s, dead ports."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streams import ids
from streams.cli.stack import free_port
from streams.config import Settings
from streams.kafka.client import compacted_state
from streams.poll.discover import discover_feeds
from tests.e2e.helpers import FeedServer, cli, stack_env

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
JSON_FEED = orjson.dumps(
    {"version": "https://jsonfeed.org/version/1.1", "title": "Harbour Notes", "items": [{"id": "1", "title": "Ferry times change"}]}
)
PAGE = b"""<!DOCTYPE html><html><head><title>Valley News</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="Valley News: all stories" href="valley.xml">
<link rel="alternate" type="application/feed+json" title="Harbour Notes" href="/harbour.json">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
<link rel="alternate" hreflang="de" href="/de/">
</head><body><p>Welcome</p></body></html>"""
BARE_PAGE = b"<!DOCTYPE html><html><head><title>No feeds here</title></head><body></body></html>"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feeds = FeedServer(
        {
            "/valley.xml": (FIXTURES / "valley-news.xml").read_bytes(),
            "/harbour.json": JSON_FEED,
            "/": PAGE,
            "/bare.html": BARE_PAGE,
        }
    )
    yield feeds
    feeds.close()


def registry(settings: Settings) -> dict[str, dict[str, object]]:
    return {key: orjson.loads(value) for key, value in asyncio.run(compacted_state(settings, "feeds")).items()}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = cli(env, "feeds", "add", *args)
    print(f"$ wirewatch feeds add {' '.join(args)}  -> exit {result.returncode}\n{result.stdout}{result.stderr}")
    return result


def test_discovery_resolves_hrefs_and_keeps_only_feed_types() -> None:
    found = discover_feeds(PAGE, "http://news.example/section/")
    assert [(f.url, f.kind, f.title) for f in found] == [
        ("http://news.example/section/valley.xml", "RSS", "Valley News: all stories"),
        ("http://news.example/harbour.json", "JSON Feed", "Harbour Notes"),
    ]
    head = b'<html><head><base href="https://cdn.example/x/"><link rel="Alternate feed" type="application/atom+xml" href="a.atom">'
    based = discover_feeds(head, "http://news.example/")
    assert [(f.url, f.kind) for f in based] == [("https://cdn.example/x/a.atom", "Atom")]
    assert discover_feeds(b"", "http://news.example/") == []


@pytest.mark.kafka
def test_a_feed_is_checked_and_stored_with_its_own_title(kafka_settings: Settings, server: FeedServer) -> None:
    env = stack_env(kafka_settings, {})
    added = run(env, server.url("/valley.xml"))
    assert added.returncode == 0, added.stderr
    assert f'checked {server.url("/valley.xml")}: a feed with 2 item(s), "Valley News (Wirewatch test fixture)"' in added.stdout
    assert f"added feed {ids.feed_id(server.url('/valley.xml'))}" in added.stdout
    stored = registry(kafka_settings)[ids.feed_id(server.url("/valley.xml"))]
    assert stored["title"] == "Valley News (Wirewatch test fixture)"
    # a title given on the command line wins over the feed's own
    assert run(env, server.url("/harbour.json"), "--title", "Harbour").returncode == 0
    assert registry(kafka_settings)[ids.feed_id(server.url("/harbour.json"))]["title"] == "Harbour"


@pytest.mark.kafka
def test_a_404_a_dead_port_and_a_page_without_feeds_are_refused(kafka_settings: Settings, server: FeedServer) -> None:
    env = stack_env(kafka_settings, {})
    missing = run(env, server.url("/missing.xml"))
    assert missing.returncode == 1
    assert f"error: {server.url('/missing.xml')}: HTTP 404 Not Found (http_status); not added" in missing.stderr
    dead = f"http://127.0.0.1:{free_port()}/feed.xml"
    refused = run(env, dead)
    assert refused.returncode == 1 and "cannot connect to 127.0.0.1" in refused.stderr and "not added" in refused.stderr
    bare = run(env, server.url("/bare.html"))
    assert bare.returncode == 1 and "an HTML page (text/html) that names no feed" in bare.stderr
    # one good URL among bad ones is still added; the exit code says something was not
    mixed = run(env, server.url("/missing.xml"), server.url("/valley.xml"))
    assert mixed.returncode == 1 and "added feed" in mixed.stdout
    assert set(registry(kafka_settings)) == {ids.feed_id(server.url("/valley.xml"))}
    # unchecked, the dead URL goes in as before (the poller then reports it)
    assert run(env, dead, "--no-check").returncode == 0
    assert ids.feed_id(dead) in registry(kafka_settings)


@pytest.mark.kafka
def test_a_web_page_lists_its_feeds_and_pick_adds_them(kafka_settings: Settings, server: FeedServer) -> None:
    env = stack_env(kafka_settings, {})
    page = run(env, server.url("/"))
    assert page.returncode == 1
    assert f"{server.url('/')} is a web page, not a feed; it names 2 feed(s):" in page.stdout
    assert f"1. RSS       {server.url('/valley.xml')}  Valley News: all stories" in page.stdout
    assert f"2. JSON Feed {server.url('/harbour.json')}  Harbour Notes" in page.stdout
    assert "nothing added: add them with --pick 1,2 or --pick all" in page.stderr
    assert "added feed" not in page.stdout

    picked = run(env, server.url("/"), "--pick", "2")
    assert picked.returncode == 0, picked.stderr
    assert f'checked {server.url("/harbour.json")}: a feed with 1 item(s), "Harbour Notes"' in picked.stdout
    assert set(registry(kafka_settings)) == {ids.feed_id(server.url("/harbour.json"))}

    every = run(env, server.url("/"), "--pick", "all")
    assert every.returncode == 0 and every.stdout.count("added feed") == 2
    assert registry(kafka_settings)[ids.feed_id(server.url("/valley.xml"))]["title"] == "Valley News (Wirewatch test fixture)"

    beyond = run(env, server.url("/"), "--pick", "3")
    assert beyond.returncode == 1 and "--pick 3: the page names only 2 feed(s)" in beyond.stderr
