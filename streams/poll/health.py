"""Feed health read from Kafka on any host: the registry (``wirewatch.feeds``) joined with the poller's feed-state changelog."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import ValidationError

from schemas import FeedSource, decode
from streams.config import Settings
from streams.errors import DecodeError
from streams.kafka.catalogue import TABLES, changelog_topic
from streams.kafka.client import compacted_state, read_topic
from streams.poll.state import FeedState
from streams.poll.steps import MAX_SUSPECT_COUNT

log = logging.getLogger(__name__)


def feed_state_topic(settings: Settings) -> tuple[Settings, str]:
    """Settings to read the poller's feed-state changelog with, and its name (Faust names it without the topic prefix)."""
    return settings.model_copy(update={"topic_prefix": ""}), changelog_topic(settings, "poller", TABLES["poller"][0])


def table_key(key: str) -> str:
    """A feed id as the registry spells it, from a changelog key: Faust writes table keys JSON-encoded (``"id"``)."""
    if len(key) >= 2 and key[0] == key[-1] == '"':
        try:
            decoded = orjson.loads(key)
        except orjson.JSONDecodeError:
            return key
        return decoded if isinstance(decoded, str) else key
    return key


def slim_state(value: bytes) -> bytes:
    """A feed state without its recent-item memory (up to 500 ids a feed), which health never shows."""
    try:
        return FeedState.loads(value).model_copy(update={"recent": {}}).dumps()
    except (ValueError, ValidationError):
        return value  # shown as not polled yet by health_rows, as the CLI always did


def health_rows(sources: dict[str, FeedSource], states: dict[str, bytes], now: float | None = None) -> list[dict[str, Any]]:
    """One row per registered feed: its registry entry joined with the poller's latest state (if polled yet)."""
    now = time.time() if now is None else now
    rows = []
    for key, source in sorted(sources.items(), key=lambda item: item[1].url):
        state = _state(states.get(key))
        rows.append(
            {
                "id": key,
                "url": source.url,
                "title": source.title,
                "enabled": source.enabled,
                "status": "disabled" if not source.enabled else (state.last_status if state else "new"),
                "last_poll": state.last_poll if state else None,
                "error_count": state.error_count if state else 0,
                "last_error": state.last_error if state else None,
                "next_check": state.next_check if state and state.last_poll is not None else None,
                "next_check_in": round(state.next_check - now, 1) if state and state.last_poll is not None else None,
                "items_seen": state.items_seen if state else 0,
                # a number read back from a topic anyone with access can write: clamped as the poller clamps it
                "suspect_dates": min(max(state.suspect_dates, 0), MAX_SUSPECT_COUNT) if state else 0,
            }
        )
    return rows


def _state(raw: bytes | None) -> FeedState | None:
    if raw is None:
        return None
    try:
        return FeedState.loads(raw)
    except (ValueError, ValidationError):
        return None  # a state written by an incompatible version: shown as not polled yet


class FeedBoard:
    """The latest registry entry and poller state of every feed, as read from Kafka (tombstones applied)."""

    def __init__(self, registry: dict[str, bytes] | None = None, states: dict[str, bytes] | None = None) -> None:
        self.registry: dict[str, bytes] = registry or {}
        self.states: dict[str, bytes] = states or {}
        #: why the last read from Kafka failed, None while reading works
        self.error: str | None = None

    def apply(self, table: dict[str, bytes], key: str | None, value: bytes | None) -> None:
        if key is None:
            return
        key = table_key(key)
        if value is None:
            table.pop(key, None)
        else:
            table[key] = slim_state(value) if table is self.states else value

    def sources(self, warn: Callable[[str], None] | None = None) -> dict[str, FeedSource]:
        """Registry entries that decode; ``warn`` hears about each one that does not, by feed id."""
        sources = {}
        for key, value in self.registry.items():
            try:
                sources[key] = decode(FeedSource, value)
            except DecodeError as exc:
                if warn is not None:
                    warn(f"feed {key}: {exc}")
        return sources

    def rows(self, now: float | None = None, warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
        """One row per registered feed (see :func:`health_rows`) plus its ``broken`` flag."""
        return [{**row, "broken": row["status"] == "broken"} for row in health_rows(self.sources(warn), self.states, now)]


async def load_feed_board(settings: Settings) -> FeedBoard:
    """Both topics read once to their current end (``wirewatch feeds list``)."""
    raw, topic = feed_state_topic(settings)
    registry, states = await asyncio.gather(compacted_state(settings, "feeds"), compacted_state(raw, topic))
    board = FeedBoard(registry)
    for key, value in states.items():
        board.apply(board.states, key, value)
    return board


async def follow_feed_board(settings: Settings, board: FeedBoard, retry_seconds: float = 5.0) -> None:
    """Keep ``board`` current by following both topics for ever; after a broker error, read again from the start."""
    raw, topic = feed_state_topic(settings)

    async def follow(source: Settings, suffix: str, table: dict[str, bytes]) -> None:
        name = source.topic(suffix)
        while True:
            table.clear()  # a re-read from the start must not keep feeds removed in between
            try:
                async for key, value in read_topic(source, suffix, follow=True):
                    board.apply(table, key, value)
                    board.error = None
                board.error = f"topic {name} does not exist yet"  # read_topic returns at once on a topic without partitions
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the dashboard says why its view is stale and tries again
                board.error = f"cannot read {name}: {type(exc).__name__}: {exc}"
                log.warning("feed health: %s; retrying in %.0f s", board.error, retry_seconds)
            await asyncio.sleep(retry_seconds)

    await asyncio.gather(follow(settings, "feeds", board.registry), follow(raw, topic, board.states))
