"""Sends made while handling a message or a batch, awaited together, each failure attributed to the input it came from."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError


class Outbox:
    """Sends made while handling a message or a batch, delivered before the agent takes the next one.

    A send only queues a message, and Faust commits an input's offset once the agent moves past it;
    without this, a SIGKILL between the commit and the delivery loses the outputs of inputs already
    committed (tests/chaos/test_worker_kills.py measured 432 of 2,000). Each send names the input it is
    an output of, so a send that fails (a message the broker refuses) is the failure of that input alone.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []

    async def send(self, topic: Any, key: str | None, value: bytes, owner: Any = None, partition: int | None = None) -> None:
        """Queue ``value`` (to ``partition``, else to the key's); its result is awaited by :meth:`flush`."""
        try:
            future = await (topic.send_raw(key, value) if partition is None else topic.send_raw(key, value, partition))
        except Exception as exc:  # noqa: BLE001 - refused before it was queued (aiokafka: MessageSizeTooLargeError)
            future = asyncio.get_running_loop().create_future()
            future.set_exception(exc)
        self._pending.append((owner, future))

    async def flush(self) -> dict[Any, BaseException]:
        """Wait until Kafka has answered every send made since the last flush; the first failure of each owner."""
        pending, self._pending = self._pending, []
        if not pending:
            return {}
        results = await asyncio.gather(*(future for _, future in pending), return_exceptions=True)
        failures: dict[Any, BaseException] = {}
        for (owner, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                failures.setdefault(owner, result)
        return failures


def too_large(exc: BaseException) -> bool:
    """Whether a send failed because the message is over a size limit (the producer's or the broker's), which no
    retry can cure; Faust wraps the producer's own refusal in ``ProducerSendError``."""
    return any(isinstance(error, (MessageSizeTooLargeError, RecordListTooLargeError)) for error in (exc, exc.__cause__))
