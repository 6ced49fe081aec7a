"""Digest mode as pure functions, with explicit times: UTC periods, due and expired digests, redeliveries, late alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from schemas import Alert, DigestItem
from streams.deliver import digests as digest
from streams.deliver.digests import PendingDigest, collect, due_digests, expired_digests, item_for, period_start

T = datetime(2026, 11, 1, 9, 17, 42, tzinfo=UTC)
HOOK = "https://hooks.example.org/desk"


def alert(number: int, detected: datetime = T, **changes: Any) -> Alert:
    return Alert(
        id=f"alert-{number}", rule_id="r1", kind="mention", entity_name="Port of Velmar", entity_id="e1", article_id=f"a{number}",
        title=f"Story {number}", url=f"https://news.example/{number}", feed_id="f", sentence="s", evidence="e", story_id=f"s{number}",
        fetched=detected, detected=detected, latency_seconds=0.1, digest="hourly",
    ).model_copy(update=changes)  # fmt: skip


def test_periods_are_utc_hours_and_days() -> None:
    assert period_start(T, "hourly") == datetime(2026, 11, 1, 9, tzinfo=UTC)
    assert period_start(T, "daily") == datetime(2026, 11, 1, tzinfo=UTC)
    # 00:30 at UTC+2 is 22:30 UTC the day before
    local = datetime(2026, 11, 2, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert period_start(local, "daily") == datetime(2026, 11, 1, tzinfo=UTC)
    assert period_start(local, "hourly") == datetime(2026, 11, 1, 22, tzinfo=UTC)
    assert digest.period_end(datetime(2026, 11, 1, tzinfo=UTC), "daily") == datetime(2026, 11, 2, tzinfo=UTC)


def test_keys_and_ids_are_deterministic_per_destination_and_period() -> None:
    start = period_start(T, "hourly")
    assert digest.digest_id(HOOK, "hourly", start) == digest.digest_id(HOOK, "hourly", start)
    assert digest.digest_id(HOOK, "hourly", start) != digest.digest_id(HOOK, "hourly", start + timedelta(hours=1))
    assert digest.digest_id(HOOK, "hourly", start) != digest.digest_id("mailto:desk@example.org", "hourly", start)
    assert digest.digest_key(HOOK, "hourly", start).endswith(":hourly:2026-11-01T09:00Z")
    assert HOOK not in digest.digest_key(HOOK, "hourly", start)  # specs hold tokens; keys are hashes


def fill(*alerts: Alert, max_alerts: int = 100) -> PendingDigest:
    pending: PendingDigest | None = None
    for item in alerts:
        pending, later = collect(pending, item_for(HOOK, item, "hourly"), max_alerts)
        assert later is None
    assert pending is not None
    return pending


def test_collect_counts_each_alert_once_and_lists_at_most_the_cap() -> None:
    pending = fill(alert(1), alert(2), alert(1), alert(3), max_alerts=2)  # alert-1 again: a redelivery after a restart
    assert pending.count == 3
    assert [a.id for a in pending.alerts] == ["alert-1", "alert-2"]
    summary = digest.build_digest(pending)
    assert summary.count == 3 and len(summary.alerts) == 2
    assert summary.period_start == datetime(2026, 11, 1, 9, tzinfo=UTC) and summary.period_end == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert PendingDigest.loads(pending.dumps()) == pending  # what the table stores


def test_due_only_after_the_period_and_grace_and_never_when_empty_or_sent() -> None:
    nine = fill(alert(1), alert(2))
    ten = fill(alert(3, detected=T + timedelta(hours=1)))
    empty = PendingDigest(destination=HOOK, period="hourly", start=datetime(2026, 11, 1, 8, tzinfo=UTC))
    pending = {"nine": nine, "ten": ten, "empty": empty}
    assert due_digests(datetime(2026, 11, 1, 9, 59, 59, tzinfo=UTC), pending) == []
    assert due_digests(datetime(2026, 11, 1, 10, tzinfo=UTC), pending) == ["nine"]
    assert due_digests(datetime(2026, 11, 1, 10, 0, 30, tzinfo=UTC), pending, grace_seconds=60) == []
    assert due_digests(datetime(2026, 11, 1, 10, 1, tzinfo=UTC), pending, grace_seconds=60) == ["nine"]
    assert due_digests(datetime(2026, 11, 1, 11, 5, tzinfo=UTC), pending) == ["nine", "ten"]
    pending["nine"] = digest.mark_sent(nine)
    assert due_digests(datetime(2026, 11, 1, 11, 5, tzinfo=UTC), pending) == ["ten"]  # sent once
    assert pending["nine"].alerts == [] and pending["nine"].count == 2


def test_a_late_alert_joins_the_next_digest_and_a_redelivered_one_nothing() -> None:
    sent = digest.mark_sent(fill(alert(1)))
    same, later = collect(sent, item_for(HOOK, alert(1), "hourly"), 100)
    assert same == sent and later is None
    same, later = collect(sent, item_for(HOOK, alert(2), "hourly"), 100)
    assert same == sent and isinstance(later, DigestItem)
    assert later.period_start == datetime(2026, 11, 1, 10, tzinfo=UTC) and later.alert is not None and later.alert.id == "alert-2"


def test_sent_markers_expire_after_the_retention() -> None:
    sent = {"nine": digest.mark_sent(fill(alert(1))), "open": fill(alert(2))}
    end = datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert expired_digests(end + digest.SENT_RETENTION - timedelta(seconds=1), sent) == []
    assert expired_digests(end + digest.SENT_RETENTION, sent) == ["nine"]
