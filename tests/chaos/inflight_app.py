"""A test-only Faust app on Wirewatch's app factory and transport: an agent with concurrency 4, one message slow on purpose.

tests/chaos/test_inflight_commits.py runs it as a real process (``python -m tests.chaos.inflight_app``): the message
whose value says ``"slow"`` sleeps INFLIGHT_SLOW_SECONDS inside the agent while the other actors handle the messages
after it, so the consumer sees acks beyond an offset that is still in flight. Each handled message is reported on
the ``inflight-done`` topic with the run (INFLIGHT_RUN) that handled it. Nothing here is part of Wirewatch.
"""

from __future__ import annotations

import asyncio
import os

import orjson
from faust import Worker

from streams.config import get_settings
from streams.kafka.apps import create_app
from streams.logs import setup_logging

settings = get_settings()
SLOW_SECONDS = float(os.environ.get("INFLIGHT_SLOW_SECONDS", "0"))
RUN = int(os.environ.get("INFLIGHT_RUN", "1"))

app = create_app("inflight", settings)
source = app.topic(settings.topic("inflight"), partitions=2, key_serializer="utf8", value_serializer="raw")
done = app.topic(settings.topic("inflight-done"), partitions=1, key_serializer="utf8", value_serializer="raw")


@app.agent(source, concurrency=4)
async def handle(stream):  # type: ignore[no-untyped-def]
    """Sleep on the slow message, pass every other one straight on; report each with its partition, offset and run."""
    async for event in stream.events():
        item = orjson.loads(event.value)
        if item.get("slow"):
            await asyncio.sleep(SLOW_SECONDS)
        report = {"n": item["n"], "partition": event.message.partition, "offset": event.message.offset, "run": RUN}
        await (await done.send(key=event.key, value=orjson.dumps(report)))


if __name__ == "__main__":
    setup_logging(settings)
    worker = Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False, override_logging=False)
    worker.spinner = None
    worker.execute_from_commandline()
