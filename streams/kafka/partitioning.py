"""The partition Kafka's default partitioner gives a key (murmur2, as aiokafka and the Java client compute it)."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def key_partition(key: str, partitions: int) -> int:
    """The partition of ``key`` among ``partitions``: where a keyed send without a partition lands, and so the changelog
    partition of a table co-partitioned with that topic (Faust writes a table change to its input's partition)."""
    return int(murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions
