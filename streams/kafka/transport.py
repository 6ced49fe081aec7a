"""Wirewatch's Kafka transport for Faust: UTF-8 keys, an idempotent producer and a consumer that commits only what was processed."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from weakref import WeakSet

import faust
from faust.serializers import codecs
from faust.transport import drivers
from faust.transport.consumer import CONSUMER_WAIT_EMPTY
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.transport.producer import ProducerBuffer
from faust.types import TP, Message
from mode import Service
from mode.utils.futures import notify
from mode.utils.queues import FlowControlEvent

from streams.config import Settings

log = logging.getLogger(__name__)


class _Utf8(codecs.Codec):
    """Keys are UTF-8 strings on every topic and in every table."""

    def _loads(self, s: bytes) -> Any:
        return s.decode("utf-8", "replace")

    def _dumps(self, s: Any) -> bytes:
        return s if isinstance(s, bytes) else str(s).encode("utf-8")


codecs.register("utf8", _Utf8())


#: how long a shutdown or a rebalance waits for the next in-flight message to be acked before it stops waiting (saying so)
ACK_STALL_SECONDS = 60.0
#: how long a flush waits for the next buffered write to be handed to the Kafka client before it gives up (saying so)
FLUSH_STALL_SECONDS = 120.0


class DrainingBuffer(ProducerBuffer):
    """Faust's buffer of table changelog writes, whose flush returns only once every write was handed to the client.

    Faust flushes the producer before it commits offsets (and when it stops), but its buffer's flush gives up as soon as
    no write is handed over within 0.1 s, and does not count the one being handed over. On a loaded machine that
    committed offsets whose table changes were still in the buffer, and a stop then lost them: a replay on the same
    groups re-read state without them and raised its alerts again. Here a flush waits while writes are still moving
    (the client's own flush, right after, waits for the broker's answers), and gives up only when nothing moved for
    :data:`FLUSH_STALL_SECONDS`, saying how many writes were left.
    """

    handing = 0

    async def _send_pending(self, fut: Any) -> None:
        self.handing += 1
        try:
            await super()._send_pending(fut)
        finally:
            self.handing -= 1

    async def flush(self) -> None:
        while True:
            self.message_sent.clear()  # before looking: a write handed over after the look still wakes the wait
            if not (self.size or self.handing):
                return
            if self.state != "running":  # stopping: the writes are no longer handed over (Faust's own flush raised)
                log.warning("producer: %d table changelog writes left unsent at stop", self.size + self.handing)
                return
            try:
                await asyncio.wait_for(self.message_sent.wait(), timeout=FLUSH_STALL_SECONDS)
            except TimeoutError:
                log.error("producer: %d table changelog writes not handed to Kafka for %.0f s; offsets are committed without them",
                          self.size + self.handing, FLUSH_STALL_SECONDS)  # fmt: skip
                return


class IdempotentProducer(aiokafka_driver.Producer):
    """Faust's producer with ``acks=all`` and idempotence on, so retries never duplicate a message, and a buffer of
    table writes that a flush empties (:class:`DrainingBuffer`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        buffer = DrainingBuffer(loop=self.loop, beacon=self.beacon)
        buffer.app = self.app
        self.buffer = buffer

    def _settings_extra(self) -> dict[str, Any]:
        return {"acks": "all", "enable_idempotence": True}


class HoldingFlowControl(FlowControlEvent):
    """Faust's flow control of the streams' buffers, handing every message it drops to ``hold``
    (:meth:`ReliableConsumer.hold`).

    Faust empties the streams' buffers when partitions are revoked and when the worker stops, then waits for every
    message in flight to be acked. A message two agents read (``mentions`` feeds ``raise_alerts`` and
    ``update_registry``) can be dropped from one agent's buffer after the other agent took it: its last ack never
    comes, and the other agent's stream still references it, so it never leaves Faust's weak set of messages in
    flight. The wait lasted until the worker was killed after a SIGTERM (tests/e2e/test_ops.py) and for an hour
    in a rebalance (tests/chaos/test_rebalances.py). Held, a dropped message no longer counts as in flight, and
    its partition's commit stops before it: it is read again from the committed offset (at least once).
    """

    def __init__(self, hold: Callable[[Message], None], *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(loop=loop)
        self._hold = hold

    def clear(self) -> None:
        for queue in self._queues:
            for event in list(getattr(queue, "_queue", ())):  # asyncio.Queue's own deque: what the clear drops
                message = getattr(event, "message", None)
                if message is not None:
                    self._hold(message)
        super().clear()


class _NoReadOffsets(dict[TP, int | None]):
    """Faust's read offsets, switched off: :class:`ReliableConsumer` decides what is delivered instead.

    Faust's fetch loop stores each delivered offset here and drops any fetched message below it. When a
    rebalance empties the streams' buffers and the partition is seeked back to its committed offset,
    the stored offset can be left ahead of it (the loop writes it after the seek), and every re-fetched
    message below it is dropped as "already read": never processed, and the partition's commit stalls.
    Reads always answer "nothing read yet" and writes are ignored.
    """

    def __getitem__(self, tp: TP) -> None:
        return None

    def __setitem__(self, tp: TP, offset: int | None) -> None:
        pass


class ReliableConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer, with commits that never pass an offset the streams have not acked.

    Stock faust-streaming commits the first run of consecutive acked offsets even when it does not
    start at the committed offset (off by one, and unchecked when nothing was committed), keeps acks
    from before a seek, counts the message after a skipped range as acked, and drops re-fetched
    messages after a rebalance (see :class:`_NoReadOffsets`). After a killed worker's partitions move,
    that could commit a range that was never processed, or strand one. Here:

    - every seek (assignment, recovery) restarts the count at the committed offset, or at the
      partition's first offset when nothing was committed (``auto_offset_reset`` is ``earliest``);
    - a message is handed to the streams once per seek, in offset order, and again after Faust empties the
      streams' buffers (every resume of the flow seeks back to the committed offset);
    - a message fetched before the last rebalance never counts as acked (Faust acks it unprocessed);
    - a commit moves only over a contiguous run of acks that starts at the committed offset; offsets
      missing from a compacted topic count as done, while a jump in any other topic (whose offsets
      are contiguous) means a fetch from before a seek, so the partition is fetched again from the
      first offset not yet delivered.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_offset = _NoReadOffsets()
        # the last offset handed to the streams since the partition's last seek, per partition
        self._delivered: dict[TP, int] = {}
        # messages whose acks must not count (see hold); weak, as Faust's own set of unacked messages
        self._held: WeakSet[Message] = WeakSet()
        deliver = self.callback

        async def callback(message: Message) -> None:
            if await self._in_order(message):
                await deliver(message)

        self.callback = callback

    async def _in_order(self, message: Message) -> bool:
        """Whether ``message`` is the next one to hand to the streams (recording it if so)."""
        tp, offset = message.tp, message.offset
        if not self.app.topics.acks_enabled_for(message.topic):
            return True
        if not self.app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]
            # Faust lets stream partitions flow while the tables recover, then empties the buffers and seeks back
            # (see resume_flow): whatever an agent did with a message before that, it would do again.
            return False
        last = self._delivered.get(tp)
        if last is not None:
            if offset <= last:
                return False  # already handed over since the last seek
            if offset > last + 1 and message.topic not in self._compacted_topics():
                # The offsets of a topic that is not compacted have no holes: either this record comes from a
                # fetch made before a seek, or retention deleted the skipped ones.
                earliest = (await self.earliest_offsets(tp)).get(tp, 0)
                if earliest <= last + 1:
                    log.info("%s: offset %d fetched before a seek follows %d; fetching again from %d", tp, offset, last, last + 1)
                    await self._seek(tp, last + 1)
                    return False
                log.warning("%s: offsets %d to %d are no longer on the broker (retention); skipped", tp, last + 1, offset - 1)
            if offset > last + 1:
                self._gap[tp].addi(last + 1, offset)  # nothing left to process there
        self._delivered[tp] = offset
        return True

    def _compacted_topics(self) -> set[str]:
        return {name for topic in self.app.topics for name in topic.topics if getattr(topic, "compacting", False)}

    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)
        self._restart_count(partition, offset)

    async def _seek(self, partition: TP, offset: int) -> None:
        """Seek on the consumer thread, where aiokafka's consumer and its fetcher run.

        Faust calls the consumer's ``seek`` from the app's thread. aiokafka's seek deletes the partition's fetched
        records while the fetcher, on the consumer thread, may be between reading and deleting the same entry: a
        ``KeyError`` in ``Fetcher.fetched_records`` crashed the fetcher and so the whole worker (exit code 1) in a
        CI run of tests/chaos/test_rebalances.py, where every rebalance seeks each partition (:meth:`resume_flow`).
        Queued to the thread, the seek runs between the fetcher's steps, never inside one.
        """

        async def there() -> None:
            self._thread.seek(partition, offset)

        await self._thread.call_thread(there)

    def _seek_soon(self, partition: TP, offset: int) -> None:
        """:meth:`_seek` from code that cannot wait: run on the consumer thread's loop at its next step. Records fetched
        before it applies are told apart by :meth:`_in_order` (the count restarts now, at ``offset``)."""
        loop = self._thread.thread_loop
        if not loop.is_closed():  # stopping: nothing is fetched any more
            loop.call_soon_threadsafe(self._thread.seek, partition, offset)

    async def perform_seek(self) -> None:
        await super().perform_seek()
        streamed = {tp for tp in self.assignment() if not self._is_changelog_tp(tp)}
        never_committed = [tp for tp in streamed if self._committed_offset.get(tp) is None]
        if never_committed:
            for tp, offset in (await self.earliest_offsets(*never_committed)).items():
                await self._seek(tp, offset)
                self._committed_offset[tp] = offset
        for tp in streamed:
            committed = self._committed_offset.get(tp)
            if committed is not None:
                self._restart_count(tp, committed)

    def hold(self, message: Message) -> None:
        """Never count ``message`` as acked: the commit of its partition stops before it until it is fetched again.

        For a message whose outcome could not be recorded (its dead letter was not written, its agent failed
        mid-batch): Faust acks every message of a batch once the agent moves on, even after an exception. After a
        restart or a rebalance the partition is read again from the committed offset, so the message is processed
        again (at least once); meanwhile the lag check of /health sees the commit stand still. It no longer counts
        as in flight, so a graceful shutdown does not wait for it.
        """
        self._held.add(message)
        self._unacked_messages.discard(message)
        notify(self._waiting_for_ack)  # a shutdown waiting for the streams to empty looks again

    def ack(self, message: Message) -> bool:
        if message in self._held:
            message.acked = True
            self._unacked_messages.discard(message)
            return False
        if message.generation_id is not None and message.generation_id != self.app.consumer_generation_id:
            # Fetched before the last rebalance, after which every partition is fetched again from its committed
            # offset. Faust acks such a message without handing it to an agent (a stale generation is skipped), so
            # its offset says nothing about what was processed and must not move a commit.
            message.acked = True
            self._unacked_messages.discard(message)
            return False
        return bool(super().ack(message))

    @Service.transitions_to(CONSUMER_WAIT_EMPTY)
    async def wait_empty(self) -> None:
        """Faust's wait for every message in flight to be acked, then the last commit, with the wait bounded.

        Faust waits as long as one message stays unacked. In a CI run of tests/chaos/test_rebalances.py a worker
        losing partitions waited an hour for one message no agent held (its copy was dropped with a stream's buffer,
        yet something still referenced it), and the group never finished rebalancing. Here the wait ends once no
        message was acked for :data:`ACK_STALL_SECONDS`, naming the stuck offsets: they are not committed, so
        whoever owns their partitions next reads them again (at least once, nothing lost).
        """
        waiting, since = len(self._unacked_messages), time.monotonic()
        while not self.should_stop and self._unacked_messages:
            gc.collect()  # a message dropped with a stream's buffer leaves the weak set once collected
            await self.commit()
            if not self._unacked_messages:
                break
            await self._wait_for_ack(timeout=1)
            self._clean_unacked_messages()
            if len(self._unacked_messages) != waiting:
                waiting, since = len(self._unacked_messages), time.monotonic()
            elif time.monotonic() - since >= ACK_STALL_SECONDS:
                stuck = sorted((message.tp.topic, message.tp.partition, message.offset) for message in self._unacked_messages)
                log.error("%d messages in flight not acked for %.0f s, first %s; not committed, so they are read again "
                          "after the rebalance or restart", len(stuck), ACK_STALL_SECONDS, stuck[:5])  # fmt: skip
                self._unacked_messages.clear()
                break
        await self.commit_and_end_transactions()

    async def commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """Faust's commit, run to its end even when the task that started it is cancelled.

        A commit first takes the acked offsets out of the count, then flushes the producer and asks the broker.
        Faust's fetch loop commits inline every ``broker_commit_every`` acks, and a stopping worker cancels that
        loop: cancelled between the two steps, the taken acks were neither committed nor counted any more, so the
        last commit stopped below them and a restarted worker processed them again (tests/e2e/test_ops.py caught
        up to 48 articles stored twice after a SIGTERM). Shielded, the commit finishes in its own task; the last
        commit waits for it (:meth:`commit_and_end_transactions`).
        """
        return await asyncio.shield(super().commit(topics, start_new_transaction=start_new_transaction))

    async def commit_and_end_transactions(self) -> None:
        """The last commit before partitions are revoked or the worker stops, covering every ack made so far.

        Faust's ``commit`` returns at once, committing nothing, while another commit is in flight: the periodic
        one, whose offsets were read before the last acks. Those acks then stayed uncommitted and a restarted
        worker processed them again (tests/e2e/test_ops.py caught ten articles stored twice after a SIGTERM).
        """
        while self._commit_fut is not None:
            await self.maybe_wait_for_commit_to_finish()
        await self.commit(start_new_transaction=False)

    def resume_flow(self) -> None:
        super().resume_flow()
        # Faust resumes the flow right after ``app.flow_control.resume()``, which empties every stream's buffer:
        # messages already handed over but not yet taken by an agent are dropped, while the fetch position is
        # past them, and with no newer record to reveal the hole they would wait for the next rebalance
        # (tests/e2e/test_alert_chaos.py caught a restarted worker holding 107 alerts so). Fetch every stream
        # partition again from its committed offset; a message an agent is handling now comes twice (at least once).
        # A message one agent had taken while another's copy was dropped would never be fully acked and would hold
        # up every graceful shutdown (``wait_empty``): forget them all, their offsets are fetched again.
        self._unacked_messages.clear()
        for tp in self.assignment():
            committed = self._committed_offset.get(tp)
            if committed is not None and not self._is_changelog_tp(tp):
                self._seek_soon(tp, committed)
                self._restart_count(tp, committed)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._delivered.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    def _restart_count(self, tp: TP, offset: int) -> None:
        # Acks of messages read before the seek say nothing about the offsets read after it.
        self._acked.pop(tp, None)
        self._acked_index.pop(tp, None)
        self._gap.pop(tp, None)
        self._delivered[tp] = offset - 1

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        if not acked:
            return None
        gap = self._gap[tp]
        if gap:
            top = max(acked) + 1
            for interval in gap.overlap(0, top):
                acked.extend(range(interval.begin, interval.end))
                top = max(top, interval.end)
            gap.chop(0, top)
        ordered = sorted(set(acked))
        committed = self._committed_offset[tp]
        if committed is not None:
            ordered = [offset for offset in ordered if offset >= committed]
            if not ordered or ordered[0] != committed:
                acked[:] = ordered
                self._acked_index[tp] = set(ordered)
                return None
        run = 1
        while run < len(ordered) and ordered[run] == ordered[run - 1] + 1:
            run += 1
        acked[:] = ordered[run:]
        self._acked_index[tp] = set(acked)
        return ordered[run - 1] + 1


class Topic(faust.Topic):
    """Faust's topic, with :meth:`send_raw` for agents that send many messages per input."""

    async def send_raw(self, key: str | None, value: bytes, partition: int | None = None) -> Awaitable[Any]:
        """Hand ``value`` to the app's producer; the result resolves once Kafka has acknowledged it.

        Faust's ``send`` wraps each message in a future message with callbacks and sensors; the enrich agent
        sends some twenty per article, and that path cost more event-loop time than encoding them. The topic
        exists already (``ensure_topics`` runs before the worker starts), and the key and value are bytes.
        """
        encoded = key.encode() if key is not None else None
        return await self.app.producer.send(self.get_topic_name(), encoded, value, partition, None, None)


class IdempotentTransport(aiokafka_driver.Transport):
    """The aiokafka transport using :class:`IdempotentProducer` and :class:`ReliableConsumer`."""

    Producer = IdempotentProducer
    Consumer = ReliableConsumer


drivers.TRANSPORTS.aliases["wirewatch"] = "streams.kafka.transport:IdempotentTransport"


def broker_url(settings: Settings) -> str:
    """Faust's broker URL for the comma-separated bootstrap list."""
    hosts = ";".join(host.strip() for host in settings.kafka_bootstrap.split(",") if host.strip())
    return f"wirewatch://{hosts}"
