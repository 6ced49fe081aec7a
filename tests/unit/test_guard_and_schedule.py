"""The address guard, HTTP caching headers and the poll schedule, as tables."""

import ipaddress

import pytest

from schemas import FeedSource
from streams.config import Settings
from streams.errors import BlockedAddress
from streams.http.guard import AddressGuard
from streams.http.headers import max_age_seconds, retry_after_seconds
from streams.poll.schedule import next_interval, retry_interval


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "169.254.169.254",
        "100.64.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "64:ff9b::a9fe:a9fe",
        "fc00::1",
        "fe80::1",
        "2002:7f00:1::",
        "::",
    ],
)
def test_guard_refuses_internal_addresses(address: str) -> None:
    guard = AddressGuard([])
    assert not guard.is_allowed(ipaddress.ip_address(address))
    with pytest.raises(BlockedAddress, match="non-public address"):
        guard.check(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "64:ff9b::808:808"])
def test_guard_allows_public_addresses(address: str) -> None:
    AddressGuard([]).check(address)


def test_allowlist_opts_in() -> None:
    guard = AddressGuard(["127.0.0.1/32", "::1"])
    guard.check("127.0.0.1")
    guard.check("::1")
    with pytest.raises(BlockedAddress):
        guard.check("127.0.0.2")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), (" 120 ", 120.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, now=1_800_000_000, maximum=3600) == expected


def test_retry_after_http_date_in_future() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0, maximum=3600) == pytest.approx(30.0)


HOSTILE = [
    ("9" * 400, 3600.0),  # float() of it is inf; stored as null it stopped a restarted poller
    ("0" * 390 + "7", 7.0),  # many digits, a small number
    ("Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),  # 7,970 years away
    ("Tue, 31 Dec 2999 23:59:59 +0000", 3600.0),
    ("-5", None),
    ("-0", None),
    ("1e9", None),
    ("nan", None),
    ("NaN", None),
    ("inf", None),
    ("Infinity", None),
    ("7.5", None),
    ("\u00b2", None),  # a Unicode digit: str.isdigit() says yes, float() refuses
    ("Mon, 99 Foo 2015 99:99:99 GMT", None),
    ("", None),
    (" ", None),
]


@pytest.mark.parametrize(("value", "expected"), HOSTILE, ids=[f"retry-after-{i}" for i in range(len(HOSTILE))])
def test_hostile_retry_after_is_clamped_or_ignored(value: str, expected: float | None) -> None:
    assert retry_after_seconds(value.encode().decode("unicode_escape"), now=1_800_000_000, maximum=3600) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Cache-Control": "max-age=" + "9" * 400}, 86400.0),
        ({"Cache-Control": 'max-age="600"'}, 600.0),
        ({"Cache-Control": "max-age=-1"}, None),
        ({"Cache-Control": "max-age=nan"}, None),
        ({"Cache-Control": "max-age=inf"}, None),
        ({"Expires": "Fri, 31 Dec 9999 23:59:59 GMT"}, 86400.0),
        ({"Expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, 0.0),
        ({"Expires": "0"}, None),
        ({"Expires": "-1"}, None),
    ],
    ids=["huge-max-age", "quoted", "negative", "nan", "inf", "year-9999", "past", "zero", "minus-one"],
)
def test_hostile_cache_headers_are_clamped_or_ignored(headers: dict[str, str], expected: float | None) -> None:
    assert max_age_seconds(headers, now=1_800_000_000, maximum=86400) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Cache-Control": "public, max-age=600"}, 600.0),
        ({"Cache-Control": "no-cache"}, None),
        ({}, None),
        ({"Expires": "Wed, 21 Oct 2015 07:38:00 GMT"}, 600.0),
    ],
)
def test_max_age(headers: dict[str, str], expected: float | None) -> None:
    assert max_age_seconds(headers, now=1445412480.0, maximum=86400) == expected


SETTINGS = Settings(poll_interval_seconds=300, poll_min_interval_seconds=60, poll_max_interval_seconds=3600)
FEED = FeedSource(id="f", url="http://x/")


@pytest.mark.parametrize(
    ("errors", "hint", "expected"),
    [(0, None, 300), (0, 5, 300), (0, 100000, 3600), (0, 900, 900), (1, None, 600), (3, None, 2400), (20, None, 3600)],
    ids=["default", "hint-never-shortens", "hint-above-max", "hint", "one-error", "three-errors", "capped"],
)
def test_next_interval(errors: int, hint: float | None, expected: float) -> None:
    assert next_interval(SETTINGS, FEED, errors, hint) == expected


def test_per_feed_limits_win() -> None:
    feed = FeedSource(id="f", url="http://x/", min_interval_seconds=10, max_interval_seconds=20)
    assert next_interval(SETTINGS, feed, 0, None) == 20
    assert next_interval(SETTINGS, feed, 0, 1, base=1) == 10


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(None, 600), (7, 600), (2000, 2000), (10**9, 3600), (float("inf"), 3600), (float("nan"), 600)],
    ids=["none", "below-backoff", "above-backoff", "years", "inf", "nan"],
)
def test_retry_interval_is_clamped_to_the_feed_bounds(retry_after: float | None, expected: float) -> None:
    assert retry_interval(SETTINGS, FEED, 1, retry_after) == expected


def test_non_finite_hints_never_reach_the_schedule() -> None:
    assert next_interval(SETTINGS, FEED, 0, float("nan")) == 300
    assert next_interval(SETTINGS, FEED, 0, float("inf")) == 3600
    assert next_interval(SETTINGS, FEED, 0, None, base=float("nan")) == 300


def test_a_service_entry_allows_one_port_of_one_address() -> None:
    guard = AddressGuard(["127.0.0.1:8765", "[::1]:8765"])
    guard.check("127.0.0.1", 8765)
    guard.check("::1", 8765)
    for host, port in [("127.0.0.1", 8766), ("127.0.0.1", 9092), ("127.0.0.1", None), ("127.0.0.2", 8765), ("::1", 80)]:
        with pytest.raises(BlockedAddress, match="non-public address"):
            guard.check(host, port)
    # a network entry still allows every port of its addresses
    AddressGuard(["127.0.0.0/8"]).check("127.0.0.9", 1)


@pytest.mark.parametrize("entry", ["127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:http", "10.0.0.0/8:80", "[::1]8765", "example.org:80"])
def test_bad_allowlist_entries_are_named(entry: str) -> None:
    with pytest.raises(ValueError, match="allowlist entry"):
        AddressGuard([entry])
