"""The three story agents' own batch functions, driven without Kafka: what the story stage costs per article.

Each round hands every agent the messages the others sent it, in batches as a loaded stream would give them (one
``take_events`` batch per agent and round), with the tables as plain dictionaries of JSON bytes, as Faust keeps them.
Everything the agents do is measured (decoding, table reads and writes, deciding, encoding every output); what is left
out is Kafka itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from schemas import EnrichedArticle, Mention, StoryWork, encode
from streams.kafka.partitioning import key_partition

TOPICS = (
    "story_keys_topic",
    "story_work_topic",
    "story_updates_topic",
    "enriched_topic",
    "mentions_topic",
    "stories_topic",
    "alerts_topic",
)


@dataclass
class Message:
    topic: str
    partition: int
    offset: int


@dataclass
class Event:
    """What an agent reads of a Faust event: its value and where its message came from."""

    key: str | None
    value: bytes
    message: Message


class Sink:
    """A topic handle that keeps what is sent (key, value, partition), acknowledged at once."""

    def __init__(self, name: str, partitions: int) -> None:
        self.name, self.partitions = name, partitions
        self.sent: list[Event] = []

    async def send_raw(self, key: str | None, value: bytes, partition: int | None = None) -> asyncio.Future[None]:
        where = partition if partition is not None else key_partition(key or "", self.partitions)
        self.sent.append(Event(key, value, Message(self.name, where, len(self.sent))))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@contextmanager
def wired(partitions: int) -> Iterator[dict[str, Sink]]:
    """agents.story with its topics and tables replaced (restored after)."""
    import agents.story as story

    saved = {name: getattr(story, name) for name in (*TOPICS, "story_article_table", "story_key_table", "story_table")}
    sinks = {name: Sink(name, partitions) for name in TOPICS}
    try:
        for name, sink in sinks.items():
            setattr(story, name, sink)
        for table in ("story_article_table", "story_key_table", "story_table"):
            setattr(story, table, {})
        yield sinks
    finally:
        for name, value in saved.items():
            setattr(story, name, value)


def run(items: list[tuple[EnrichedArticle, list[Mention] | None]], batch: int = 200) -> dict[str, int]:
    """Every item through the three agents' batch functions, ``batch`` articles at a time; the messages each topic got."""
    import agents.story as story
    from agents.common import Outbox, settings

    async def drive() -> dict[str, int]:
        with wired(settings.partitions) as sinks:
            for start in range(0, len(items), batch):
                chunk = items[start : start + batch]
                work = sinks["story_work_topic"]
                for item, mentions in chunk:
                    value = encode(StoryWork(kind="article", article_id=item.article.id, item=item, mentions=mentions or []))
                    await work.send_raw(item.article.id, value)
                while any(sinks[name].sent for name in ("story_work_topic", "story_keys_topic", "story_updates_topic")):
                    for name, step in (("story_work_topic", story.assign_batch), ("story_keys_topic", story.keys_batch),
                                       ("story_updates_topic", story.track_batch)):  # fmt: skip
                        events, sinks[name].sent = sinks[name].sent, []
                        if events:
                            outbox = Outbox()
                            await step(events, outbox)
                            await outbox.flush()
            return {name: len(sink.sent) for name, sink in sinks.items()}

    return asyncio.run(drive())
