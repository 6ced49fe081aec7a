"""Table values that remember stories (a name's, a query rule's), bounded in bytes so one always fits a message."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

import orjson
from pydantic import Field

from streams.kafka.tablevalue import TableValue

#: a value over its budget is cut to this share of it, so the next few stories do not cut it again at once
TRIM_TO = 0.75


def memory_budget(message_bytes: int, key: str) -> int:
    """The JSON bytes a story memory stored under ``key`` may take: half a message, so its changelog write fits one with
    room to grow (the workers' table writes and ``simulate`` cut it alike)."""
    return message_bytes // 2 - len(key.encode())


class StoryMemory(TableValue):
    """A table value with ``stories`` (story id → a mark with its ``last`` time) and ``links`` between them.

    Its stories are bounded by time (kept 7 days after their last article), which bounds a name's memory only as well
    as the stream's rate does: a name in a thousand stories a week (or a feed inventing them) would outgrow a Kafka
    message, and its changelog write would fail. :meth:`within` drops the least recently active stories first.
    A story dropped that gets another article alerts again under the same id, which the delivery stage, remembering
    deliveries for 7 days by id (streams/deliver/memory.py), does not push twice.
    """

    stories: dict[str, Any] = Field(default_factory=dict)
    links: dict[str, str] = Field(default_factory=dict)

    def counted_as(self, story_id: str, linked: Iterable[str]) -> str:
        """The story an article of ``story_id`` counts in: its own, unless that one is linked (now, by ``linked``, the
        stories of its burst it would have joined too; or before, in ``links``) to a story remembered here."""
        story_id = self.links.get(story_id, story_id)
        if story_id in self.stories:
            return story_id
        for other in linked:
            target = self.links.get(other, other)
            if target in self.stories:
                return target
        return story_id

    def within(self, max_bytes: int) -> tuple[Self, int, bytes]:
        """The value cut to fit ``max_bytes`` of JSON (to TRIM_TO of it when over), how many stories were dropped, and
        the JSON of what is kept (what a table write needs: the value is dumped once when nothing is dropped)."""
        data = self.dumps()
        if len(data) <= max_bytes:
            return self, 0, data
        excess = len(data) - int(max_bytes * TRIM_TO)
        dropped: set[str] = set()
        for story_id in sorted(self.stories, key=lambda sid: (self.stories[sid].last, sid)):
            if excess <= 0:
                break
            excess -= len(orjson.dumps({story_id: self.stories[story_id].model_dump(mode="json", exclude_defaults=True)}))
            dropped.add(story_id)
        stories = {sid: mark for sid, mark in self.stories.items() if sid not in dropped}
        links = {sid: target for sid, target in self.links.items() if target in stories and sid not in dropped}
        kept = self.model_copy(update={"stories": stories, "links": links})
        return kept, len(dropped), kept.dumps()
