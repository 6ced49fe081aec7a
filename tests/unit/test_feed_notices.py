"""The console's feed lines: one when a feed starts failing, one when it works again, none for the polls between."""

from __future__ import annotations

import orjson

from streams.poll.feedlist import make_source
from streams.poll.notices import FeedNotices
from streams.poll.state import FeedState

SOURCE = make_source("http://valley.example/feed.xml", title="Valley News")


def state(status: str, errors: int = 0, error: str | None = None) -> bytes:
    return FeedState(source=SOURCE, partition=0, last_status=status, error_count=errors, last_error=error, last_poll=1.0).dumps()


def test_a_feed_is_named_once_when_it_fails_and_once_when_it_recovers() -> None:
    notices = FeedNotices()
    key = orjson.dumps(SOURCE.id).decode()  # Faust writes table keys JSON-encoded
    lines = [
        notices.update(key, state("ok")),
        notices.update(key, state("error", 1, "http_status: HTTP 404 Not Found")),
        notices.update(key, state("error", 2, "http_status: HTTP 404 Not Found")),
        notices.update(key, state("broken", 10, "timeout: no complete response within 20 s")),
        notices.update(key, state("ok")),
        notices.update(key, state("not_modified")),
    ]
    assert lines == [
        None,
        'feed "Valley News" (http://valley.example/feed.xml): http_status: HTTP 404 Not Found; see `wirewatch feeds list`',
        None,
        None,
        'feed "Valley News" (http://valley.example/feed.xml) works again (after 10 failed poll(s))',
        None,
    ]
    # removed while failing, then back and failing again: named again
    notices.update(key, state("error", 1, "dns: no such host"))
    assert notices.update(key, None) is None
    again = notices.update(key, state("error", 1, "dns: no such host"))
    assert again is not None and again.endswith("dns: no such host; see `wirewatch feeds list`")


def test_records_it_cannot_read_say_nothing() -> None:
    notices = FeedNotices()
    assert notices.update(None, state("error", 1, "x")) is None
    assert notices.update('"abc"', b"not json") is None
    assert notices.update('"abc"', state("new")) is None
    untitled = make_source("http://plain.example/rss")
    raw = FeedState(source=untitled, partition=0, last_status="error", error_count=1, last_error="dns: no such host").dumps()
    assert notices.update(untitled.id, raw) == "feed http://plain.example/rss: dns: no such host; see `wirewatch feeds list`"
