"""The worker's consumer commits only over offsets its streams acked, and hands each message over once per seek."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from faust.types import TP, Message

from streams.kafka import transport
from streams.kafka.apps import worker_app
from streams.kafka.topology import articles_topic, destinations_topic
from streams.kafka.transport import ReliableConsumer


@pytest.fixture
def consumer() -> Iterator[ReliableConsumer]:
    consumer = worker_app.consumer
    assert isinstance(consumer, ReliableConsumer)
    worker_app.topics.add(articles_topic)
    worker_app.topics.add(destinations_topic)
    # what subscribing does when the agents start (Conductor._update_indices, which would also declare topics)
    worker_app.topics.acking_topics.update([*articles_topic.topics, *destinations_topic.topics])
    worker_app.tables.recovery.completed.set()  # type: ignore[attr-defined]  # what a started worker reaches first
    yield consumer
    worker_app.tables.recovery.completed.clear()  # type: ignore[attr-defined]
    for state in (consumer._acked, consumer._acked_index, consumer._gap, consumer._committed_offset):
        state.clear()
    consumer._delivered.clear()


def articles(partition: int = 0) -> TP:
    return TP(articles_topic.get_topic_name(), partition)


def message(tp: TP, offset: int) -> Message:
    return Message(tp.topic, tp.partition, offset, 0.0, 0, [], b"k", b"{}", None)


def test_a_commit_never_passes_the_committed_offset_while_it_is_unacked(consumer: ReliableConsumer) -> None:
    tp = articles()
    consumer._committed_offset[tp] = 31
    consumer._acked[tp].extend([32, 33, 34])
    # stock Faust commits 35 here: offset 31 is one below the first ack, which its check lets through
    assert consumer._new_offset(tp) is None
    consumer._acked[tp].append(31)
    assert consumer._new_offset(tp) == 35
    assert consumer._acked[tp] == []


def test_a_partition_never_committed_counts_from_its_first_offset(consumer: ReliableConsumer) -> None:
    tp = articles(1)
    consumer._committed_offset[tp] = 0  # perform_seek sets the first offset when the group has no commit
    consumer._acked[tp].extend([5, 6, 7])
    assert consumer._new_offset(tp) is None  # stock Faust skips its check when the committed offset is 0
    consumer._acked[tp].extend([0, 1, 2, 3, 4, 9])
    assert consumer._new_offset(tp) == 8
    assert consumer._acked[tp] == [9]  # waits for 8


def test_acks_below_the_committed_offset_are_dropped(consumer: ReliableConsumer) -> None:
    tp = articles(2)
    consumer._committed_offset[tp] = 10
    consumer._acked[tp].extend([7, 8, 10, 11])
    assert consumer._new_offset(tp) == 12


def test_each_message_is_handed_over_once_per_seek(consumer: ReliableConsumer) -> None:
    tp = articles(3)
    consumer._restart_count(tp, 40)  # what a seek to the committed offset 40 does
    delivered = [offset for offset in (40, 41, 41, 40, 42) if asyncio.run(consumer._in_order(message(tp, offset)))]
    assert delivered == [40, 41, 42]
    consumer._acked[tp].extend([50])  # an ack left from before the seek
    consumer._restart_count(tp, 41)
    assert consumer._acked[tp] == []
    assert asyncio.run(consumer._in_order(message(tp, 41)))  # re-fetched after the seek: handed over again


def test_offsets_removed_by_compaction_count_as_done(consumer: ReliableConsumer) -> None:
    tp = TP(destinations_topic.get_topic_name(), 0)
    consumer._committed_offset[tp] = 3
    consumer._restart_count(tp, 3)
    for offset in (3, 7):  # 4 to 6 were compacted away
        assert asyncio.run(consumer._in_order(message(tp, offset)))
    consumer._acked[tp].append(3)
    assert consumer._new_offset(tp) == 4  # 7 is not acked yet, so the gap cannot be passed
    consumer._committed_offset[tp] = 4  # what the commit records
    consumer._acked[tp].append(7)
    assert consumer._new_offset(tp) == 8


def test_a_message_from_before_the_last_rebalance_never_moves_a_commit(consumer: ReliableConsumer) -> None:
    tp = articles(4)
    consumer._committed_offset[tp] = 20
    stale = message(tp, 20)
    stale.generation_id = worker_app.consumer_generation_id - 1  # Faust skips it unprocessed, and acks it
    assert consumer.ack(stale) is False and stale.acked
    assert consumer._new_offset(tp) is None
    fresh = message(tp, 20)
    fresh.generation_id = worker_app.consumer_generation_id
    assert consumer.ack(fresh) is True
    assert consumer._new_offset(tp) == 21


def test_nothing_is_handed_over_before_the_tables_are_recovered(consumer: ReliableConsumer) -> None:
    tp = articles(5)
    consumer._restart_count(tp, 0)
    worker_app.tables.recovery.completed.clear()  # type: ignore[attr-defined]
    # Faust empties the buffers and seeks back once recovery completes: handing this over now would process it twice
    assert not asyncio.run(consumer._in_order(message(tp, 0)))
    worker_app.tables.recovery.completed.set()  # type: ignore[attr-defined]
    assert asyncio.run(consumer._in_order(message(tp, 0)))


def test_a_held_message_never_moves_a_commit_until_it_is_fetched_again(consumer: ReliableConsumer) -> None:
    tp = articles(6)
    consumer._committed_offset[tp] = 30
    held = message(tp, 30)
    held.generation_id = worker_app.consumer_generation_id
    consumer._unacked_messages.add(held)
    consumer.hold(held)  # its dead letter was not written: Faust will still ack it when the batch ends
    assert held not in consumer._unacked_messages  # a graceful shutdown does not wait for it
    assert consumer.ack(held) is False and held.acked
    later = message(tp, 31)
    later.generation_id = worker_app.consumer_generation_id
    assert consumer.ack(later) is True
    assert consumer._new_offset(tp) is None  # 31 is done, but the commit stays at 30
    again = message(tp, 30)  # fetched again after a restart or rebalance: a new message object, not held
    again.generation_id = worker_app.consumer_generation_id
    assert consumer.ack(again) is True
    assert consumer._new_offset(tp) == 32


def test_a_message_dropped_from_one_agents_buffer_is_held_not_waited_for(consumer: ReliableConsumer) -> None:
    tp = articles(7)
    consumer._committed_offset[tp] = 12

    async def scenario() -> None:
        # two agents read the topic: one took the message, the other's copy still waits in its buffer
        buffered = worker_app.FlowControlQueue(maxsize=4, clear_on_resume=True)  # as a channel makes its buffer
        dropped = message(tp, 12)
        dropped.generation_id = worker_app.consumer_generation_id
        dropped.incref(2)
        consumer._unacked_messages.add(dropped)
        buffered.put_nowait(SimpleNamespace(message=dropped))
        worker_app.flow_control.clear()  # what a revocation or a stop does
        assert buffered.empty()
        assert dropped not in consumer._unacked_messages  # the wait for the streams no longer waits for it
        dropped.ack(consumer)  # the agent that took it finishes
        assert consumer._new_offset(tp) is None  # yet its offset is not committed: the other agent never saw it

    asyncio.run(scenario())


def test_the_last_commit_waits_for_a_commit_in_flight(consumer: ReliableConsumer, monkeypatch: pytest.MonkeyPatch) -> None:
    commits: list[str] = []

    async def force_commit(*args: object, **kwargs: object) -> bool:
        commits.append("committed")
        return True

    monkeypatch.setattr(consumer, "force_commit", force_commit)

    async def scenario() -> None:
        in_flight = asyncio.get_running_loop().create_future()
        consumer._commit_fut = in_flight  # the periodic commit, its offsets read before the last acks
        stock = asyncio.ensure_future(consumer.commit())
        await asyncio.sleep(0.05)
        consumer._commit_fut = None
        in_flight.set_result(None)
        assert await stock is False and commits == []  # Faust's commit waited for that one, then committed nothing
        consumer._commit_fut = in_flight = asyncio.get_running_loop().create_future()
        last = asyncio.ensure_future(consumer.commit_and_end_transactions())
        await asyncio.sleep(0.05)
        assert not last.done()
        consumer._commit_fut = None
        in_flight.set_result(None)
        await last
        assert commits == ["committed"]  # then commits what is acked now

    asyncio.run(scenario())


def test_a_commit_cancelled_midway_still_commits_the_acks_it_took(consumer: ReliableConsumer, monkeypatch: pytest.MonkeyPatch) -> None:
    tp = articles(2)
    consumer._committed_offset[tp] = 0
    consumer._acked[tp].extend(range(10))
    asked: list[dict[TP, int]] = []

    async def nothing() -> None:
        return None

    async def broker_commit(offsets: dict[TP, int]) -> bool:  # the broker's answer takes a while
        asked.append(dict(offsets))
        await asyncio.sleep(0.1)
        return True

    monkeypatch.setattr(consumer, "_commit", broker_commit)
    monkeypatch.setattr(consumer, "assignment", lambda: {tp})
    monkeypatch.setattr(worker_app.producer, "flush", nothing)

    async def scenario() -> None:
        # Faust's fetch loop commits inline every broker_commit_every acks; a stopping worker cancels that loop
        inline = asyncio.ensure_future(consumer.commit())
        await asyncio.sleep(0.02)
        assert asked == [{tp: 10}]  # the acks were taken out of the count and the broker asked
        inline.cancel()
        with pytest.raises(asyncio.CancelledError):
            await inline
        await consumer.commit_and_end_transactions()  # the last commit, after the streams are drained
        assert consumer._committed_offset[tp] == 10  # stock Faust left it at 0, with the acks 0-9 gone

    # Faust's commit makes its future on the consumer's own loop: a fresh one, as earlier tests may have closed it
    loop = asyncio.new_event_loop()
    monkeypatch.setattr(consumer, "_loop", loop)
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_the_wait_for_the_streams_ends_when_no_ack_comes(
    consumer: ReliableConsumer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(transport, "ACK_STALL_SECONDS", 0.2)
    commits: list[str] = []

    async def commit(*args: object, **kwargs: object) -> bool:
        commits.append("commit")
        return False

    async def no_ack_comes(timeout: float) -> None:
        await asyncio.sleep(0.05)

    monkeypatch.setattr(consumer, "commit", commit)
    monkeypatch.setattr(consumer, "_wait_for_ack", no_ack_comes)
    stuck = message(articles(0), 5)  # referenced, never acked: nothing will ever ack it
    consumer._unacked_messages.add(stuck)
    asyncio.run(consumer.wait_empty())
    assert not consumer._unacked_messages
    assert commits and "not acked" in caplog.text and "5)" in caplog.text
