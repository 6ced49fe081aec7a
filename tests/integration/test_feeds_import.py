"""`feeds import` checks every feed of an OPML list as `feeds add` does, a few at a time, and sums it up in a table."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams import ids
from streams.cli.stack import free_port
from streams.config import Settings
from streams.kafka.client import compacted_state
from tests.e2e.helpers import FeedServer, cli, stack_env
from tests.integration.test_feeds_add_check import BARE_PAGE, FIXTURES, JSON_FEED, PAGE

VALLEY = (FIXTURES / "valley-news.xml").read_bytes()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feeds = FeedServer({"/valley.xml": VALLEY, "/harbour.json": JSON_FEED, "/": PAGE, "/bare.html": BARE_PAGE})
    yield feeds
    feeds.close()


def opml(*outlines: str) -> str:
    return f'<?xml version="1.0"?><opml version="2.0"><head><title>subs</title></head><body>{"".join(outlines)}</body></opml>'


def outline(url: str, title: str = "") -> str:
    return f'<outline type="rss" text="{title}" xmlUrl="{url}"/>'


def registry(settings: Settings) -> dict[str, dict[str, Any]]:
    return {key: orjson.loads(value) for key, value in asyncio.run(compacted_state(settings, "feeds")).items()}


def run(env: dict[str, str], path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = cli(env, "feeds", "import", str(path), *args)
    print(f"$ wirewatch feeds import {path.name} {' '.join(args)}  -> exit {result.returncode}\n{result.stdout}{result.stderr}")
    return result


@pytest.mark.kafka
def test_an_opml_list_is_checked_and_summed_up(kafka_settings: Settings, server: FeedServer, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/feed.xml"
    subs = tmp_path / "subs.opml"
    subs.write_text(
        opml(
            outline(server.url("/valley.xml")),
            f'<outline text="Harbour folder">{outline(server.url("/harbour.json"), "Harbour (my name)")}</outline>',
            outline(server.url("/missing.xml"), "Gone"),
            outline(dead, "Dead"),
            outline(server.url("/"), "A site, not its feed"),
            outline(server.url("/valley.xml"), "Valley again"),
        )
    )
    env = stack_env(kafka_settings, {"COLUMNS": "80"})
    done = run(env, subs)
    assert done.returncode == 1, done.stderr  # some feeds were not added
    table_lines = done.stdout.splitlines()[:-1]  # the last line is the totals, with the file's path as typed
    assert max(len(line) for line in table_lines) <= 80, "the summary fits 80 columns"
    table = done.stdout
    assert "2 item(s)" in table and "1 item(s)" in table
    assert "HTTP 404 Not Found (http_status)" in table
    assert "cannot connect to 127.0.0.1" in table
    assert "a web page naming 2 feed(s)" in table
    assert "the same feed as row 1; skipped" in table
    assert f"imported 2 feed(s) from {subs}; 3 not added; 1 duplicate(s) skipped" in done.stdout.replace("\n", " ")

    stored = registry(kafka_settings)
    assert set(stored) == {ids.feed_id(server.url("/valley.xml")), ids.feed_id(server.url("/harbour.json"))}
    # the feed's own title when the list gives none, the list's title when it does; folders become tags
    assert stored[ids.feed_id(server.url("/valley.xml"))]["title"] == "Valley News (Wirewatch test fixture)"
    harbour = stored[ids.feed_id(server.url("/harbour.json"))]
    assert harbour["title"] == "Harbour (my name)" and harbour["tags"] == ["Harbour folder"]

    machine = run(env, subs, "--json")
    assert machine.returncode == 1
    rows = orjson.loads(machine.stdout)
    assert [(row["number"], row["outcome"], row["added"]) for row in rows] == [
        (1, "feed", True),
        (2, "feed", True),
        (3, "error", False),
        (4, "error", False),
        (5, "page", False),
        (6, "duplicate", False),
    ]
    assert rows[0]["items"] == 2 and rows[4]["found"] == [server.url("/valley.xml"), server.url("/harbour.json")]

    wide = run(env, subs, "--wide")
    assert "Harbour (my name)" in wide.stdout and server.url("/missing.xml") in wide.stdout

    unchecked = run(env, subs, "--no-check")
    assert unchecked.returncode == 0 and "not checked" in unchecked.stdout
    assert len(registry(kafka_settings)) == 5  # every distinct URL, the dead ones too: the poller reports them


@pytest.mark.kafka
def test_a_progress_bar_on_a_terminal(kafka_settings: Settings, server: FeedServer, tmp_path: Path) -> None:
    subs = tmp_path / "subs.opml"
    subs.write_text(opml(outline(server.url("/valley.xml")), outline(server.url("/harbour.json"))))
    # FORCE_COLOR makes rich treat the pipe as a terminal, as it would draw on one
    done = run(stack_env(kafka_settings, {"FORCE_COLOR": "1", "COLUMNS": "80"}), subs)
    assert done.returncode == 0
    assert "checking feeds" in done.stderr and "2/2" in done.stderr
    plain = run(stack_env(kafka_settings, {}), subs)
    assert "checking feeds" not in plain.stderr, "no bar drawn into a pipe or a log"


class SlowFeeds:
    """A feed server that holds each answer a moment and records the most requests it held at once."""

    def __init__(self) -> None:
        self.open = 0
        self.most = 0
        self.served = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                with lock:
                    server.open += 1
                    server.most = max(server.most, server.open)
                time.sleep(0.2)  # long enough for the next requests to arrive while this one is open
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(VALLEY)))
                self.end_headers()
                self.wfile.write(VALLEY)
                with lock:
                    server.open -= 1
                    server.served += 1

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.mark.kafka
@pytest.mark.parametrize(("settings", "bound"), [({}, 2), ({"WIREWATCH_IMPORT_CONCURRENCY": "1"}, 1)])
def test_checks_are_bounded_per_host_and_in_all(kafka_settings: Settings, tmp_path: Path, settings: dict[str, str], bound: int) -> None:
    slow = SlowFeeds()
    try:
        subs = tmp_path / "subs.opml"
        subs.write_text(opml(*(outline(slow.url(f"/feed{n}.xml")) for n in range(12))))
        done = run(stack_env(kafka_settings, settings), subs)
        assert done.returncode == 0 and slow.served == 12
        print(f"at most {slow.most} request(s) open at once (bound {bound})")
        # fetch_per_host (2) bounds one host whatever import_concurrency (8) allows; import_concurrency bounds all
        assert 1 <= slow.most <= bound
    finally:
        slow.httpd.shutdown()


@pytest.mark.kafka
def test_bad_lists_get_a_clear_error(kafka_settings: Settings, tmp_path: Path) -> None:
    env = stack_env(kafka_settings, {})
    laughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    cases = {
        "not-xml.opml": ("<opml><body><outline", "not well-formed OPML"),
        "laughs.opml": (laughs + "<opml><body><outline xmlUrl='http://a.example/&lol2;'/></body></opml>", "DOCTYPE or ENTITY (refused)"),
        "empty.opml": (opml(), "no feeds in it"),
        "folders.opml": (opml('<outline text="News"/>' * 3), "no feeds in it"),
        "huge.opml": (opml(*(outline(f"http://f{n}.example/rss") for n in range(10_000))), "10,000 feeds; an import takes at most 2,000"),
        "html.opml": ("<!DOCTYPE html><html><body>hi</body></html>", "an HTML page, not an OPML or YAML feed list"),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text)
        refused = run(env, tmp_path / name)
        assert refused.returncode == 2, name
        assert expected in refused.stderr and refused.stderr.startswith("error: "), (name, refused.stderr)
        assert "Traceback" not in refused.stderr
    (tmp_path / "latin1.opml").write_bytes(b"<opml><body><outline xmlUrl='http://example.org/\xe9'/></body></opml>")
    assert "not UTF-8 text" in run(env, tmp_path / "latin1.opml").stderr
    assert registry(kafka_settings) == {}, "a refused file adds nothing"
