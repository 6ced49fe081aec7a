"""SinkBatch: add → flush → write(batch); a flush twice writes once, a refused record is dead-lettered alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import DeadLetter
from streams.errors import SinkUnavailable
from streams.store.base import SinkBatch

T = datetime(2026, 11, 1, tzinfo=UTC)


def record(key: str) -> DeadLetter:
    # any record will do; a DeadLetter is the smallest with an id-like field (its key)
    return DeadLetter(key=key, value_b64="", error="", topic="t", partition=0, offset=0, agent="a", time=T)


async def test_flush_writes_the_batch_once_and_a_second_flush_writes_nothing() -> None:
    written: list[list[str | None]] = []

    async def write(batch: list[DeadLetter]) -> None:
        written.append([r.key for r in batch])

    async def dead(message: object, agent: str, error: str) -> None:
        raise AssertionError("nothing is refused here")

    batch: SinkBatch[DeadLetter] = SinkBatch("store", write, dead)
    batch.add("m1", record("a"))
    batch.add("m2", record("b"))
    assert len(batch) == 2
    assert await batch.flush() == 2
    assert await batch.flush() == 0
    assert written == [["a", "b"]] and len(batch) == 0


async def test_a_record_the_database_refuses_alone_is_dead_lettered_and_the_rest_written() -> None:
    written: list[str | None] = []
    dead_letters: list[tuple[object, str]] = []

    async def write(batch: list[DeadLetter]) -> None:
        if any(r.key == "bad" for r in batch):
            raise ValueError("value too long for type character varying")
        written.extend(r.key for r in batch)

    async def dead(message: object, agent: str, error: str) -> None:
        dead_letters.append((message, error))

    batch: SinkBatch[DeadLetter] = SinkBatch("store", write, dead)
    for key in ("a", "bad", "c"):
        batch.add(f"message-{key}", record(key))
    assert await batch.flush() == 2
    assert written == ["a", "c"]
    assert [m for m, _ in dead_letters] == ["message-bad"] and "refused by the database" in dead_letters[0][1]


async def test_the_batch_is_cleared_even_when_the_write_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    async def write(batch: list[DeadLetter]) -> None:
        raise SinkUnavailable("locked", retry_after=0.0)

    async def dead(message: object, agent: str, error: str) -> None:
        raise RuntimeError("the broker is gone")  # the dead-letter path itself fails

    async def no_retry(write_fn, records, on_retry, cap=30.0):  # type: ignore[no-untyped-def]
        await write_fn(records)

    monkeypatch.setattr("streams.store.base.write_with_retry", no_retry)
    batch: SinkBatch[DeadLetter] = SinkBatch("store", write, dead)
    batch.add("m", record("a"))
    with pytest.raises(RuntimeError):
        await batch.flush()
    assert len(batch) == 0  # cleared in finally: the messages are still in Kafka, uncommitted
