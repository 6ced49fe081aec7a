"""The address guard, HTTP caching headers and the poll schedule, as tables."""

import ipaddress

import pytest

from schemas import FeedSource
from streams.config import Settings
from streams.errors import BlockedAddress
from streams.http.guard import AddressGuard
from streams.http.headers import max_age_seconds, retry_after_seconds
from streams.poll.schedule import next_interval


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
    assert retry_after_seconds(value, now=1_800_000_000) == expected


def test_retry_after_http_date_in_future() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == pytest.approx(30.0)


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
    assert max_age_seconds(headers, now=1445412480.0) == expected


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
