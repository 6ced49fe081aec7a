"""The event-group table's bound (streams/alert/retention.py): 100,000 distinct groups within the budget, expiry by age."""

from __future__ import annotations

import sys
import tracemalloc
from datetime import UTC, datetime, timedelta

from schemas import Event, Magnitude
from streams.alert.events import EventGroup, evaluate_event, group_key
from streams.alert.retention import Retention, footprint, touched_at
from streams.alert.rulefile import make_rule
from streams.kafka.partitioning import key_partition
from tests.figures import record_figure

KEYS = 100_000
PARTITIONS = 8
BUDGET_MB = 8
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RULE = make_rule("Any assault", [], kind="event", event_types=["ASSAULT"])
ROW = "the event-group table stays within its memory budget (100,000 distinct keys)"


def report(i: int) -> Event:
    """Report ``i`` of an attack in a place of its own: a new type, place and day, so a new key, every time."""
    return Event(
        id=f"ev{i}", article_id=f"art{i}", type="ASSAULT", location=f"Town {i}", actors=[f"Militia {i % 97}"],
        magnitudes=[Magnitude(kind="killed", value=i % 40 + 1)], sentence=f"Gunmen from Militia {i % 97} attacked Town {i} at dawn.",
        start=0, end=50, confidence=0.9,
    )  # fmt: skip


def test_100000_distinct_groups_stay_within_the_budget_and_the_newest_are_kept() -> None:
    retention = Retention(BUDGET_MB * 1024 * 1024 // PARTITIONS, 7 * 86_400.0)
    table: dict[str, bytes] = {}  # the table's mapping, as the agent keeps it
    peak_bytes = peak_groups = dropped = 0
    for i in range(KEYS):
        event = report(i)
        key = group_key(event, NOW)
        group, alerts = evaluate_event(None, event, [RULE], NOW + timedelta(seconds=i))
        assert len(alerts) == 1
        value = group.dumps()
        table[key] = value
        for old in retention.touch(key_partition(key, PARTITIONS), key, group.touched, len(value)):
            del table[old]
            dropped += 1
        peak_bytes, peak_groups = max(peak_bytes, retention.bytes), max(peak_groups, len(retention))
    assert len(table) == len(retention) == KEYS - dropped
    assert peak_bytes <= BUDGET_MB * 1024 * 1024
    # the groups kept are the ones reported last: the newest of the 100,000, none from the start
    assert group_key(report(KEYS - 1), NOW) in table and group_key(report(0), NOW) not in table
    # the counted bytes are at least what the entries take in memory: fresh copies of the keys and values, the dict
    # holding them and the index of their partitions and report times
    entries = [(key_partition(key, PARTITIONS), key, touched_at(value, 0.0), len(value)) for key, value in table.items()]
    tracemalloc.start()
    keys = {key: key.encode().decode() for key in table}  # one fresh copy of each key, shared as in the worker
    copy = {keys[key]: bytes(memoryview(value)) for key, value in table.items()}
    index = Retention(retention.budget, retention.max_age)
    index.rebuild((partition, keys[key], when, size) for partition, key, when, size in entries)
    measured = tracemalloc.get_traced_memory()[0] - sys.getsizeof(keys)  # the map of copies is the test's, not the worker's
    tracemalloc.stop()
    assert len(copy) == len(index) == len(table)
    assert measured <= index.bytes, f"{measured} bytes measured, {index.bytes} counted"
    record_figure(ROW, "distinct groups written", KEYS)
    record_figure(ROW, "budget (WIREWATCH_EVENT_GROUPS_MAX_MB)", BUDGET_MB, "MB")
    record_figure(ROW, "groups held at most", peak_groups)
    record_figure(ROW, "counted bytes at most", round(peak_bytes / 1024 / 1024, 2), "MB")
    record_figure(ROW, "what the held entries take in memory (tracemalloc)", round(measured / 1024 / 1024, 2), "MB")
    record_figure(ROW, "groups dropped, oldest first", dropped)


def test_a_group_unreported_for_the_retention_time_expires_and_a_report_renews_it() -> None:
    day = 86_400.0
    retention = Retention(1024 * 1024, 7 * day)
    for n, key in enumerate(("a", "b", "c")):
        assert retention.touch(0, key, n * day, 500) == []
    assert retention.touch(1, "d", 0.0, 500) == []
    assert retention.touch(0, "a", 3 * day, 600) == []  # a new report of "a": kept a week from now
    assert retention.expired(7.5 * day) == [(1, "d")]  # a week and a half a day after its only report
    assert retention.expired(8.5 * day) == [(0, "b")]
    assert retention.expired(9.5 * day) == [(0, "c")]
    assert len(retention) == 1 and retention.bytes == footprint("a", 600)
    assert retention.expired(10.5 * day) == [(0, "a")] and len(retention) == 0


def test_the_budget_drops_the_least_recently_reported_of_its_partition_only() -> None:
    size = 1000
    retention = Retention(3 * footprint("k0", size), 86_400.0)
    assert [retention.touch(0, f"k{n}", float(n), size) for n in range(3)] == [[], [], []]
    assert retention.touch(1, "other", 0.0, size) == []  # another partition has a budget of its own
    assert retention.touch(0, "k0", 3.0, size) == []  # renewed: now the newest
    assert retention.touch(0, "k3", 4.0, size) == ["k1"]
    assert retention.touch(0, "k4", 5.0, 3 * size) == ["k2", "k0", "k3"]  # a big one takes the room of three
    assert len(retention) == 2


def test_rebuild_keeps_the_newest_within_the_budget() -> None:
    size = 1000
    retention = Retention(2 * footprint("x", size), 86_400.0)
    dropped = retention.rebuild([(0, "z", 3.0, size), (0, "x", 1.0, size), (0, "y", 2.0, size), (5, "w", 0.0, size)])
    assert dropped == [(0, "x")] and len(retention) == 3
    assert retention.expired(86_400.0 + 2.5) == [(5, "w"), (0, "y")]


def test_touched_is_read_from_the_stored_value() -> None:
    stored = EventGroup(touched=1234.5).dumps()
    assert touched_at(stored, 9.0) == 1234.5
    assert touched_at(EventGroup().dumps(), 9.0) == 9.0  # written before groups carried it: counted from now
    assert touched_at(b"not json", 9.0) == touched_at(b"[1]", 9.0) == touched_at(b'{"touched": true}', 9.0) == 9.0
