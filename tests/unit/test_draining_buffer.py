"""The producer's buffer of table changelog writes is empty when a flush returns (before Faust commits offsets)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.producer import ProducerBuffer

from streams.kafka import transport
from streams.kafka.transport import DrainingBuffer

#: what handing one write to the Kafka client takes here: a client waiting for a slow broker's metadata or batch space
HAND_OVER_SECONDS = 0.25
WRITES = 6


class SlowChannel:
    """Where the buffer hands its writes: the Kafka client, standing in for a broker that answers slowly (or never)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.published = seconds, 0

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await asyncio.sleep(self.seconds)
        self.published += 1


def writes(channel: SlowChannel, n: int) -> list[Any]:
    return [SimpleNamespace(message=SimpleNamespace(channel=channel)) for _ in range(n)]


async def flushed(buffer_class: type[ProducerBuffer], channel: SlowChannel) -> int:
    """Writes handed over when ``flush`` returned, with WRITES put in the buffer just before."""
    buffer = buffer_class()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    await buffer.start()
    try:
        for fut in writes(channel, WRITES):
            buffer.put(fut)
        await buffer.flush()
        return channel.published
    finally:
        with contextlib.suppress(RuntimeError):  # Faust's own buffer refuses to stop with writes left
            await buffer.stop()


def test_a_flush_waits_for_every_write_handed_to_a_slow_client() -> None:
    assert asyncio.run(flushed(DrainingBuffer, SlowChannel(HAND_OVER_SECONDS))) == WRITES


def test_faust_own_buffer_returns_with_writes_left_so_the_draining_one_is_needed() -> None:
    # the reason for DrainingBuffer: if this starts failing, Faust mended its flush and DrainingBuffer can go
    assert asyncio.run(flushed(ProducerBuffer, SlowChannel(HAND_OVER_SECONDS))) < WRITES


def test_a_client_that_never_takes_the_writes_ends_the_flush_with_an_error(monkeypatch: pytest.MonkeyPatch,
                                                                              caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    monkeypatch.setattr(transport, "FLUSH_STALL_SECONDS", 0.5)
    with caplog.at_level(logging.ERROR, logger="streams.kafka.transport"):
        assert asyncio.run(flushed(DrainingBuffer, SlowChannel(3600))) == 0
    assert f"{WRITES} table changelog writes not handed to Kafka" in caplog.text
