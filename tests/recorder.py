"""A stand-in for a Faust topic handle in functional tests: keeps what an agent sends, acknowledges at once."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson


class Recorder:
    """Records ``(key, decoded value)``; ``send`` returns a resolved future, as Faust's does once Kafka acknowledges."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        #: the partition each send named (None: the key's), in the order of ``sent``
        self.partitions: list[int | None] = []

    async def send(self, key: str, value: bytes, partition: int | None = None) -> asyncio.Future[None]:
        self.sent.append((key, orjson.loads(value)))
        self.partitions.append(partition)
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged

    async def send_raw(self, key: str, value: bytes, partition: int | None = None) -> asyncio.Future[None]:
        """What :meth:`streams.kafka.transport.Topic.send_raw` does: straight to the producer."""
        return await self.send(key, value, partition)
