"""A feed's polling state, the value of the poller's feed-state table: validators, schedule, errors, recent items."""

from __future__ import annotations

from pydantic import Field

from schemas import FeedSource
from streams.kafka.tablevalue import TableValue


class FeedState(TableValue):
    """A feed and everything its poller remembers between polls (a value of the feed-state table)."""

    source: FeedSource
    partition: int
    etag: str | None = None
    last_modified: str | None = None
    next_check: float = 0.0
    last_poll: float | None = None
    last_status: str = "new"
    last_error: str | None = None
    error_count: int = 0
    items_seen: int = 0
    #: new items whose date was suspect (too old, in the future, missing in a feed dated long ago), clamped
    suspect_dates: int = 0
    #: the interval the feed's own posting frequency suggests (None until it has dated items)
    interval: float | None = None
    #: article id → [content hash, revision] of recently seen items, oldest first
    recent: dict[str, list[str | int]] = Field(default_factory=dict)

    @property
    def broken(self) -> bool:
        return self.last_status == "broken"
