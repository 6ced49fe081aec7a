"""The partition Kafka's default partitioner gives a key (murmur2, as aiokafka and the Java client compute it)."""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Iterator
from typing import Any

import faust.streams
from aiokafka.partitioner import murmur2


@functools.lru_cache(maxsize=65_536)  # the story stage places each candidate key several times per article
def key_partition(key: str, partitions: int) -> int:
    """The partition of ``key`` among ``partitions``: where a keyed send without a partition lands, and so the changelog
    partition of a table co-partitioned with that topic (Faust writes a table change to its input's partition)."""
    return int(murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions


@contextlib.contextmanager
def writing_for(event: Any) -> Iterator[None]:
    """Table writes inside go to ``event``'s changelog partition.

    Faust writes a table change to the partition of the event being processed, and inside a ``take_events`` batch that
    is whichever event came last, maybe of another partition. An agent that batches names the event a write belongs
    to (one of the partition its keys belong to), so a restart restores the key where its next message arrives.
    """
    # faust.streams.current_event() reads this variable; it has no public setter
    token = faust.streams._current_event.set(weakref.ref(event))  # noqa: SLF001
    try:
        yield
    finally:
        faust.streams._current_event.reset(token)  # noqa: SLF001
