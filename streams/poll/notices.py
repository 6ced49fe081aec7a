"""Feed problems for a console: one line when a feed starts failing and one when it works again, never one per poll."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from streams.poll.health import table_key
from streams.poll.state import FeedState

_FAILING = frozenset({"error", "broken"})


@dataclass
class FeedNotices:
    """What the console last said about each feed, from the poller's feed-state changelog.

    Every poll writes a new state, so the changelog carries a record per poll; a line comes only when a feed goes from
    working (or unknown) to failing, or back. A missed record is healed by the next poll's.
    """

    #: feed id → failed polls in a row when the console said it was failing
    failing: dict[str, int] = field(default_factory=dict)

    def update(self, key: str | None, value: bytes | None) -> str | None:
        """The line to print for this changelog record (plain text, no markup), or None."""
        if key is None:
            return None
        feed = table_key(key)
        if value is None:  # the feed was removed: nothing more to say about it
            self.failing.pop(feed, None)
            return None
        try:
            state = FeedState.loads(value)
        except (ValueError, ValidationError):
            return None  # a state of another version: `feeds list` shows it as not polled yet
        name = f'feed "{state.source.title}" ({state.source.url})' if state.source.title else f"feed {state.source.url}"
        if state.last_status in _FAILING and state.last_error:
            known = feed in self.failing
            self.failing[feed] = state.error_count
            if known:
                return None
            return f"{name}: {state.last_error}; see `wirewatch feeds list`"
        if state.last_status in ("ok", "not_modified") and feed in self.failing:
            errors = self.failing.pop(feed)
            return f"{name} works again (after {errors} failed poll(s))"
        return None
