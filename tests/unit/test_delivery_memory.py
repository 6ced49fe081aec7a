"""The delivery memory: which alert (id and source count) was delivered, kept for the retention of the alerts topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import Alert
from streams.deliver.memory import DELIVERY_MEMORY, DeliveredMark, already_delivered, expired, record

T = datetime(2026, 12, 1, tzinfo=UTC)


def alert(source_count: int = 1, update: bool | None = None) -> Alert:
    """The alert of story s1 with ``source_count`` sources; an update from the second source on, unless told."""
    return Alert(
        id="a1", rule_id="r1", kind="mention", entity_id="e1", entity_name="X", article_id="art", title="t", url="u", feed_id="f",
        sentence="s", evidence="s", story_id="s1", source_count=source_count, fetched=T, detected=T, latency_seconds=0.0,
        update=update if update is not None else source_count > 1,
    )  # fmt: skip


def test_a_source_count_delivered_before_is_a_replay_and_a_new_one_is_not() -> None:
    assert not already_delivered(None, alert(1))
    mark = record(record(None, 1, T), 3, T + timedelta(minutes=5))
    assert already_delivered(mark, alert(1)) and already_delivered(mark, alert(3))
    assert not already_delivered(mark, alert(2)) and not already_delivered(mark, alert(4))
    assert mark.at == T + timedelta(minutes=5)


def test_marks_finish_in_any_order_and_survive_the_changelog() -> None:
    late = record(record(None, 3, T + timedelta(minutes=5)), 1, T)  # an update's lane finished before the first alert's
    assert late.counts == [1, 3] and late.at == T + timedelta(minutes=5)
    assert DeliveredMark.loads(late.dumps()) == late


def test_a_mark_expires_after_the_memory() -> None:
    mark = record(None, 1, T)
    assert not expired(mark, T + DELIVERY_MEMORY)
    assert expired(mark, T + DELIVERY_MEMORY + timedelta(seconds=1))


def test_a_story_alerted_by_a_backfill_is_not_alerted_again_by_the_worker() -> None:
    backfilled = record(None, 2, T)  # `watch add --backfill` raised the story's alert with 2 sources
    # the worker meets the story's next article: for it a first alert (its history never saw the story), 1 source
    assert already_delivered(backfilled, alert(1, update=False))
    assert already_delivered(backfilled, alert(2, update=False))
    assert already_delivered(backfilled, alert(2, update=True))  # the worker's update reaching the backfill's count
    assert not already_delivered(backfilled, alert(3, update=True))  # a third source is news
    assert not already_delivered(backfilled, alert(3, update=False))
